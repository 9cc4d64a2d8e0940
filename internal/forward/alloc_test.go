package forward

import (
	"runtime"
	"testing"
)

// A switch's tables start empty and grow with its hosts, not at their caps
// (4,096 stations, 16,384 addresses: about 1.5 MB a switch when they were
// sized up front; issue 9: 1,000 idle switches took 4.9 GB).
func TestNewSwitchHoldsLittle(t *testing.T) {
	const n = 100
	keep := make([]*Switch, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		s := NewSwitch(Config{})
		s.Setup()
		keep = append(keep, s)
	}
	runtime.ReadMemStats(&after)
	perSwitch := (after.TotalAlloc - before.TotalAlloc) / n
	if perSwitch > 16<<10 {
		t.Errorf("a new switch and its Setup allocate %d bytes, want under 16 KiB", perSwitch)
	}
	runtime.KeepAlive(keep)
}
