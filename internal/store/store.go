// Package store keeps Portcullis's durable state (blocks, escalation history,
// allowlist) in buckets of key/value pairs behind the small Store interface.
//
// Two implementations ship: Bolt, a bbolt file under the state directory
// (one process at a time: a second controller on the same directory gets
// ErrLocked), and Memory, for tests. Both are safe for concurrent use. Values
// are opaque bytes; PutJSON, GetJSON and ListJSON store Go values as JSON.
//
// Opening never modifies an unreadable or corrupt state file: Open fails with
// an error naming the file and wrapping ErrCorrupt, and the operator decides
// what to do with it.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Bucket names the controller uses. A bucket is created on first Put.
const (
	BucketBlocks  = "blocks"  // active blocks by block ID
	BucketHistory = "history" // escalation history by source
	BucketAllow   = "allow"   // allowlist entries added at run time, by ID
	BucketMeta    = "meta"    // schema version and the like
)

// KV is one key/value pair of a bucket.
type KV struct {
	Key   string
	Value []byte
}

// Store is durable key/value state grouped in buckets.
//
// Get of a missing key returns (nil, false, nil); Get, List and Delete on a
// bucket that does not exist yet behave as on an empty bucket. List returns
// pairs in ascending key order. Returned values are the caller's to keep.
// Implementations are safe for concurrent use.
type Store interface {
	Put(bucket, key string, value []byte) error
	Delete(bucket, key string) error
	Get(bucket, key string) ([]byte, bool, error)
	List(bucket string) ([]KV, error)
	Close() error
}

// Errors returned by this package; test with errors.Is.
var (
	// ErrLocked means another process holds the state directory.
	ErrLocked = errors.New("store: state dir locked by another process")
	// ErrCorrupt means the state file exists but is not a readable database.
	ErrCorrupt = errors.New("store: state file is corrupt or unreadable")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrEmptyName is returned for an empty bucket or key.
	ErrEmptyName = errors.New("store: empty bucket or key name")
)

func checkNames(bucket, key string) error {
	if bucket == "" || key == "" {
		return ErrEmptyName
	}
	return nil
}

// PutJSON stores v as JSON under bucket/key.
func PutJSON[T any](s Store, bucket, key string, v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s/%s: %w", bucket, key, err)
	}
	return s.Put(bucket, key, b)
}

// GetJSON loads the JSON value under bucket/key into a T. ok is false when
// the key does not exist.
func GetJSON[T any](s Store, bucket, key string) (v T, ok bool, err error) {
	b, ok, err := s.Get(bucket, key)
	if err != nil || !ok {
		return v, ok, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, false, fmt.Errorf("store: decode %s/%s: %w", bucket, key, err)
	}
	return v, true, nil
}

// Item is one decoded entry returned by ListJSON.
type Item[T any] struct {
	Key   string
	Value T
}

// ListJSON decodes every value of bucket into a T, in key order. A value
// that does not decode stops the listing with an error naming its key.
func ListJSON[T any](s Store, bucket string) ([]Item[T], error) {
	kvs, err := s.List(bucket)
	if err != nil {
		return nil, err
	}
	out := make([]Item[T], 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("store: decode %s/%s: %w", bucket, kv.Key, err)
		}
		out = append(out, Item[T]{Key: kv.Key, Value: v})
	}
	return out, nil
}
