package store

import (
	"slices"
	"strings"
	"sync"
)

// Memory is an in-memory Store for tests. The zero value is not usable; call
// NewMemory. Safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte // nil after Close
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{buckets: make(map[string]map[string][]byte)}
}

// Put stores a copy of value under bucket/key.
func (m *Memory) Put(bucket, key string, value []byte) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		return ErrClosed
	}
	b := m.buckets[bucket]
	if b == nil {
		b = make(map[string][]byte)
		m.buckets[bucket] = b
	}
	b[key] = append([]byte{}, value...)
	return nil
}

// Delete removes bucket/key; deleting a missing key is not an error.
func (m *Memory) Delete(bucket, key string) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		return ErrClosed
	}
	delete(m.buckets[bucket], key)
	return nil
}

// Get returns a copy of the value under bucket/key.
func (m *Memory) Get(bucket, key string) ([]byte, bool, error) {
	if err := checkNames(bucket, key); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		return nil, false, ErrClosed
	}
	v, ok := m.buckets[bucket][key]
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), v...), true, nil
}

// List returns copies of every pair in bucket, in ascending key order.
func (m *Memory) List(bucket string) ([]KV, error) {
	if bucket == "" {
		return nil, ErrEmptyName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buckets == nil {
		return nil, ErrClosed
	}
	b := m.buckets[bucket]
	out := make([]KV, 0, len(b))
	for k, v := range b {
		out = append(out, KV{Key: k, Value: append([]byte(nil), v...)})
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Close discards the contents; later calls of other methods return
// ErrClosed. Closing twice is not an error.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buckets = nil
	return nil
}
