package controller

import "testing"

// The maximum follows the readings: a higher one takes it, the holder's
// lower reading or its switch's departure hands it to the next highest.
func TestSynMax(t *testing.T) {
	m := newSynMax()
	steps := []struct {
		dpid   uint64
		rate   float64
		forget bool
		want   float64
	}{
		{1, 10, false, 10},
		{2, 50, false, 50},
		{3, 20, false, 50},
		{2, 5, false, 20}, // the holder drops: 3 has the highest now
		{3, 0, true, 10},  // 3 leaves
		{1, 0, false, 5},
		{2, 0, true, 0},
	}
	for i, s := range steps {
		var got float64
		if s.forget {
			m.forget(s.dpid)
			got = m.max
		} else {
			got = m.set(s.dpid, s.rate)
		}
		if got != s.want {
			t.Fatalf("step %d: max %v, want %v", i, got, s.want)
		}
	}
}

func TestBandGrowth(t *testing.T) {
	for _, c := range []struct {
		prev  uint64
		seen  bool
		total uint64
		want  uint64
	}{
		{0, false, 100, 100}, // first reading on this session: the whole total
		{100, true, 150, 50},
		{150, true, 150, 0},
		{150, true, 20, 20}, // the meter was replaced: its new total
	} {
		if got := bandGrowth(c.prev, c.seen, c.total); got != c.want {
			t.Errorf("bandGrowth(%d, %v, %d) = %d, want %d", c.prev, c.seen, c.total, got, c.want)
		}
	}
}
