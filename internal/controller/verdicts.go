package controller

import (
	"net/netip"
	"slices"
	"sync"

	"portcullis/internal/detect"
)

// verdictQueue hands decided verdicts from the packet-in path to the blocker
// goroutine without dropping one and without blocking the sender: verdicts
// wait in a table by source, and a second verdict for a source still
// waiting is folded into the first (its addresses, targets, evidence and
// probes), so a source costs one entry however many verdicts it draws. The
// table is bounded by distinct sources (maxPendingVerdicts); a source that
// finds it full is told so (push returns false) and the caller makes the
// detector forget it, so its next probes decide it again: nothing stays
// decided without a block. Safe for concurrent use; the blocker is the only
// reader.
type verdictQueue struct {
	mu      sync.Mutex // guards pending and queue
	pending map[detect.Source]int
	queue   []detect.Verdict
	max     int

	ready chan struct{} // capacity 1: set when the queue went from empty to not
}

// maxPendingVerdicts bounds the sources waiting for the blocker. The old
// channel held 1024 verdicts and dropped the rest.
const maxPendingVerdicts = 16384

// Bounds of a folded verdict, as the detector bounds one verdict.
const (
	foldedIPs      = 32
	foldedTargets  = 32
	foldedEvidence = 16
)

func newVerdictQueue(max int) *verdictQueue {
	return &verdictQueue{pending: map[detect.Source]int{}, max: max, ready: make(chan struct{}, 1)}
}

// push queues v (or folds it into the waiting verdict of its source). It
// reports false, queueing nothing, only when v's source is new and the table
// is full.
func (q *verdictQueue) push(v detect.Verdict) bool {
	q.mu.Lock()
	if i, ok := q.pending[v.Source]; ok {
		foldVerdict(&q.queue[i], v)
	} else if len(q.queue) >= q.max {
		q.mu.Unlock()
		return false
	} else {
		q.pending[v.Source] = len(q.queue)
		q.queue = append(q.queue, v)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// drain appends every waiting verdict to into, oldest source first, and
// empties the queue.
func (q *verdictQueue) drain(into []detect.Verdict) []detect.Verdict {
	q.mu.Lock()
	into = append(into, q.queue...)
	clear(q.queue)
	q.queue = q.queue[:0]
	clear(q.pending)
	q.mu.Unlock()
	return into
}

// len is how many sources wait.
func (q *verdictQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// foldVerdict merges a later verdict of the same source into dst. Slices are
// clipped before appending so dst never writes into another verdict's array.
func foldVerdict(dst *detect.Verdict, v detect.Verdict) {
	dst.IPs = unionAddrs(dst.IPs, v.IPs, foldedIPs)
	dst.Targets = unionAddrs(dst.Targets, v.Targets, foldedTargets)
	for _, e := range v.Evidence {
		if len(dst.Evidence) >= foldedEvidence {
			break
		}
		if !slices.Contains(dst.Evidence, e) {
			dst.Evidence = append(slices.Clip(dst.Evidence), e)
		}
	}
	dst.Probes += v.Probes
	if v.At.After(dst.At) {
		dst.At = v.At
	}
	dst.Score = max(dst.Score, v.Score)
}

func unionAddrs(dst, add []netip.Addr, limit int) []netip.Addr {
	for _, a := range add {
		if len(dst) >= limit {
			break
		}
		if !slices.Contains(dst, a) {
			dst = append(slices.Clip(dst), a)
		}
	}
	return dst
}

// queueVerdict hands a verdict of the packet-in path to the blocker. It never
// waits on the blocker (which writes the store and waits for barriers). If
// the queue has no room for another source, the detector forgets this one:
// it is decided again by what it sends next, never left decided and
// unblocked.
func (c *Controller) queueVerdict(v detect.Verdict) {
	if c.vq.push(v) {
		return
	}
	c.m.Errors.WithLabelValues("verdict_queue_full").Inc()
	c.det.Forget(v.Source)
}
