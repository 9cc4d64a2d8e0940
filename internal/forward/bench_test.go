package forward

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU, called before b.Loop, returns the function to call after it:
// it reports the process's CPU time per operation (cpu-ns/op), which on a
// machine shared with other work moves far less than the wall time does
// (ns/op counts the time others held the CPU too). The benchmark's own
// goroutine is all the process runs but for the collector, whose work is
// the operation's too.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkHosts lists a full table (4,096 stations with an address each),
// as the API and the controller's periodic walks do under the switch's lock.
func BenchmarkHosts(b *testing.B) {
	s := NewSwitch(Config{MaxHosts: 4096})
	step, _ := newStations(s)
	for range 4096 {
		step()
		s.Recycle()
	}
	b.ReportAllocs()
	done := reportCPU(b)
	for b.Loop() {
		if len(s.Hosts()) != 4096 {
			b.Fatal("not full")
		}
	}
	done()
}
