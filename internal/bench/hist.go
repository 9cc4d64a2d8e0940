package bench

import (
	"math/bits"
	"time"
)

// histSub is the number of buckets per power of two: values are kept
// within 1/32 (about 3%) of their size.
const histSub = 32

// histLen covers round trips up to 2^36 ns (about 68 s); longer ones
// count in the last bucket.
const histLen = (36-5)*histSub + 2*histSub

// hist is a log-linear histogram of durations in nanoseconds. The zero
// value is empty; it is not safe for concurrent use.
type hist struct {
	n [histLen]uint64
}

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 6 // v>>e is in [32, 64)
	return min(e*histSub+int(v>>e), histLen-1)
}

func histValue(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i/histSub - 1
	return uint64(i%histSub+histSub) << e
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.n[histIndex(uint64(d))]++
}

func (h *hist) merge(o *hist) {
	for i, v := range o.n {
		h.n[i] += v
	}
}

func (h *hist) count() uint64 {
	var t uint64
	for _, v := range h.n {
		t += v
	}
	return t
}

// quantile returns the q-quantile (0 < q <= 1), or 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	total := h.count()
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total) + 0.5)
	want = max(want, 1)
	var seen uint64
	for i, v := range h.n {
		if seen += v; seen >= want {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(histLen - 1))
}
