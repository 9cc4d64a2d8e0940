package notice

import (
	"container/heap"
	"fmt"
	"time"
)

// replayCache remembers the nonces of accepted notices while their
// timestamps are still inside the skew window, up to cap entries.
//
// Soundness: a nonce leaves the cache only by expiring (its notice is then
// stale anyway) or by eviction when full; either way floor is raised to its
// timestamp, and every notice not newer than floor is refused. So a replay is
// always refused, even if the host clock is later stepped back, at the price
// of refusing a genuine but older notice after an overflow. Only MAC-verified notices get here, so only the key holder can
// fill the cache. Not safe for concurrent use: the owner holds a mutex.
type replayCache struct {
	cap       int
	seen      map[[NonceSize]byte]struct{}
	byTime    nonceHeap
	floor     int64 // refuse timestamps <= floor (Unix ns); 0 = none yet
	evictions uint64
}

func newReplayCache(cap int) replayCache {
	return replayCache{cap: cap, seen: make(map[[NonceSize]byte]struct{})}
}

// check records nonce if it is new and returns an error wrapping ErrReplay
// if it was seen, or cannot be ruled out, before.
func (c *replayCache) check(nonce [NonceSize]byte, sealed, now time.Time, maxSkew time.Duration) error {
	ts := sealed.UnixNano()
	horizon := now.Add(-maxSkew).UnixNano()
	for len(c.byTime) > 0 && c.byTime[0].ts < horizon {
		c.drop()
	}
	if _, ok := c.seen[nonce]; ok {
		return fmt.Errorf("%w: %x", ErrReplay, nonce)
	}
	if ts <= c.floor {
		return fmt.Errorf("%w: %x is older than the replay cache remembers", ErrReplay, nonce)
	}
	if len(c.byTime) >= c.cap {
		if ts <= c.byTime[0].ts {
			return fmt.Errorf("%w: %x is older than the replay cache remembers", ErrReplay, nonce)
		}
		c.drop()
		c.evictions++
	}
	c.seen[nonce] = struct{}{}
	heap.Push(&c.byTime, entry{ts: ts, nonce: nonce})
	return nil
}

// drop removes the oldest entry and raises floor to its timestamp.
func (c *replayCache) drop() {
	e := heap.Pop(&c.byTime).(entry)
	delete(c.seen, e.nonce)
	c.floor = max(c.floor, e.ts)
}

type entry struct {
	ts    int64
	nonce [NonceSize]byte
}

// nonceHeap is a min-heap of entries by timestamp (container/heap).
type nonceHeap []entry

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].ts < h[j].ts }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *nonceHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
