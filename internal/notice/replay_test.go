package notice

import (
	"errors"
	"testing"
	"time"
)

// sealAt seals a notice with the given nonce byte and timestamp.
func sealAt(id int, at time.Time) []byte {
	n := sample()
	n.Nonce = [NonceSize]byte{byte(id), byte(id >> 8), byte(id >> 16), 0xee}
	n.Time = at
	return Seal(testKey, n)
}

func TestReplayCacheOverflowNeverReadmits(t *testing.T) {
	v := NewVerifier(testKey, time.Hour, 2)
	a, b, c := sealAt(1, t0), sealAt(2, t0.Add(time.Second)), sealAt(3, t0.Add(2*time.Second))
	now := t0.Add(3 * time.Second)
	for i, x := range [][]byte{a, b, c} {
		if _, err := v.Open(x, now); err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}
	}
	if got := v.ReplayEvictions(); got != 1 {
		t.Errorf("evictions = %d, want 1 (cap 2, three notices)", got)
	}
	// a was evicted; replaying it must still fail.
	if _, err := v.Open(a, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of evicted nonce: %v, want %v", err, ErrReplay)
	}
	// A fresh notice older than what the cache forgot cannot be checked: refused.
	if _, err := v.Open(sealAt(4, t0.Add(-time.Second)), now); !errors.Is(err, ErrReplay) {
		t.Fatalf("notice older than the evicted one: %v, want %v", err, ErrReplay)
	}
	// b and c are still remembered.
	for _, x := range [][]byte{b, c} {
		if _, err := v.Open(x, now); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of remembered nonce: %v, want %v", err, ErrReplay)
		}
	}
	// A newer one is fine.
	if _, err := v.Open(sealAt(5, t0.Add(3*time.Second)), now); err != nil {
		t.Fatalf("newer notice: %v", err)
	}
}

func TestReplayCacheBoundedAndExpiring(t *testing.T) {
	const capacity = 64
	v := NewVerifier(testKey, time.Minute, capacity)
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Second)
		if _, err := v.Open(sealAt(i, now), now); err != nil {
			t.Fatalf("notice %d: %v", i, err)
		}
		if n := len(v.replay.seen); n > capacity || n != v.replay.byTime.Len() {
			t.Fatalf("after %d notices: map %d, heap %d entries, cap %d", i+1, n, v.replay.byTime.Len(), capacity)
		}
	}
	// One per second with a one-minute skew: only the last ~61 are kept, so
	// expiry, not eviction, keeps the cache small.
	if got := v.ReplayEvictions(); got != 0 {
		t.Errorf("evictions = %d, want 0: expired nonces should have been dropped first", got)
	}
	if n := len(v.replay.seen); n > 61 {
		t.Errorf("%d nonces remembered, want at most 61 (the skew window)", n)
	}
}

// TestReplayCacheClockStepsBack: nonces dropped because they expired must
// stay refused if the host clock is later stepped back into their window.
func TestReplayCacheClockStepsBack(t *testing.T) {
	v := NewVerifier(testKey, time.Minute, 2)
	a, b, c := sealAt(1, t0), sealAt(2, t0.Add(time.Second)), sealAt(3, t0.Add(2*time.Second))
	for _, x := range [][]byte{a, b, c} {
		if _, err := v.Open(x, t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Later, b and c expire (a was evicted), leaving room in the cache.
	if _, err := v.Open(sealAt(4, t0.Add(62*time.Second)), t0.Add(62500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// The clock steps back 30 s: a and b are inside the skew window again.
	back := t0.Add(30 * time.Second)
	for name, x := range map[string][]byte{"evicted a": a, "expired b": b} {
		if _, err := v.Open(x, back); !errors.Is(err, ErrReplay) {
			t.Errorf("replay of %s after the clock stepped back: %v, want %v", name, err, ErrReplay)
		}
	}
}
