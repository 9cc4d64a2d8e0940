package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the state file inside the state directory.
const FileName = "portcullis.db"

// LockTimeout is how long Open waits for another process to release the
// state file before it gives up with ErrLocked.
const LockTimeout = time.Second

// Bolt is a Store in a bbolt file. Safe for concurrent use; every Put and
// Delete is one fsync'ed transaction.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// Open opens (or creates) the state file FileName in dir, creating dir with
// mode 0700 if needed. It fails with an error wrapping ErrLocked when another
// process holds the file for longer than LockTimeout, and with one wrapping
// ErrCorrupt, naming the file, when the file is not a valid database; in that
// case the file is left exactly as it was.
func Open(dir string) (*Bolt, error) {
	if dir == "" {
		return nil, errors.New("store: empty state dir")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create state dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if err := checkSize(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fmt.Errorf("%w: %s: %v (the file was left untouched; move it away to start with empty state)",
				ErrCorrupt, path, err)
		default:
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
	}
	return &Bolt{db: db, path: path}, nil
}

// checkSize refuses a state file shorter than its own meta pages say it is
// (cut short by a crash or a full disk). bbolt maps the file and would fault
// (SIGBUS) on the missing pages instead of returning an error.
func checkSize(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil // bbolt initialises an empty file
	}
	// Page header (16 bytes), then the meta: magic, version, page size,
	// flags, root bucket (16), freelist pgid (8), high-water pgid (8).
	const (
		metaMagic   = 0xED0CDAED
		offMagic    = 16
		offPgSize   = 24
		offHighPgid = 56
	)
	var need int64
	var hdr [64]byte
	for _, at := range []int64{0, -1} {
		if at < 0 {
			if need == 0 {
				break
			}
			at = need // the second meta page sits one page in
		}
		if _, err := f.ReadAt(hdr[:], at); err != nil {
			return fmt.Errorf("%w: %s: %d bytes, too short for a state file (the file was left untouched; move it away to start with empty state)", ErrCorrupt, path, size)
		}
		if binary.LittleEndian.Uint32(hdr[offMagic:]) != metaMagic {
			continue
		}
		pg := int64(binary.LittleEndian.Uint32(hdr[offPgSize:]))
		if pg < 512 || pg > 1<<20 {
			continue
		}
		if need == 0 {
			need = pg
		}
		if hw := int64(binary.LittleEndian.Uint64(hdr[offHighPgid:])); hw > 0 && hw < 1<<40 && hw*pg > size {
			return fmt.Errorf("%w: %s: %d bytes, but its meta page says %d (cut short: the file was left untouched; move it away to start with empty state)",
				ErrCorrupt, path, size, hw*pg)
		}
	}
	return nil
}

// Path returns the state file's path.
func (s *Bolt) Path() string { return s.path }

func (s *Bolt) wrap(op, bucket, key string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return fmt.Errorf("store: %s %s/%s in %s: %w", op, bucket, key, s.path, err)
}

// Put stores value under bucket/key, creating the bucket if needed.
func (s *Bolt) Put(bucket, key string, value []byte) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		if value == nil {
			value = []byte{}
		}
		return b.Put([]byte(key), value)
	})
	if err != nil {
		return s.wrap("put", bucket, key, err)
	}
	return nil
}

// Delete removes bucket/key; deleting a missing key is not an error.
func (s *Bolt) Delete(bucket, key string) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return s.wrap("delete", bucket, key, err)
	}
	return nil
}

// Get returns a copy of the value under bucket/key.
func (s *Bolt) Get(bucket, key string) ([]byte, bool, error) {
	if err := checkNames(bucket, key); err != nil {
		return nil, false, err
	}
	var out []byte
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out, ok = append([]byte{}, v...), true
		}
		return nil
	})
	if err != nil {
		return nil, false, s.wrap("get", bucket, key, err)
	}
	return out, ok, nil
}

// List returns copies of every pair in bucket, in ascending key order.
func (s *Bolt) List(bucket string) ([]KV, error) {
	if bucket == "" {
		return nil, ErrEmptyName
	}
	var out []KV
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil { // a nested bucket; we never create those
				return nil
			}
			out = append(out, KV{Key: string(k), Value: append([]byte{}, v...)})
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap("list", bucket, "", err)
	}
	if out == nil {
		out = []KV{}
	}
	return out, nil
}

// Close releases the file and its lock. Closing twice is not an error.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}
