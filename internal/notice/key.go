package notice

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// LoadKey reads a per-deployment key from path. The file holds either the
// key in hex (surrounding whitespace ignored) or the raw key bytes. It is an
// error if the file is readable or writable by others (mode & 0o006) or if
// the key is shorter than MinKeySize bytes. A file that is all hex digits is
// taken as hex, so a raw key must not look like hex.
//
// To make one: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > key; chmod 600 key
func LoadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("notice: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("notice: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("notice: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o006 != 0 {
		return nil, fmt.Errorf("notice: key file %s is accessible by others (mode %04o); chmod 600 it", path, perm)
	}
	const limit = 64 << 10
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("notice: key file: %w", err)
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("notice: key file %s is larger than %d bytes", path, limit)
	}
	key := raw
	if t := bytes.TrimSpace(raw); len(t) > 0 && isHex(t) {
		if len(t)%2 != 0 {
			return nil, fmt.Errorf("notice: key file %s: odd number of hex digits", path)
		}
		key = make([]byte, len(t)/2)
		hex.Decode(key, t) // isHex checked every digit
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("notice: key file %s: key is %d bytes, need at least %d", path, len(key), MinKeySize)
	}
	return key, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
