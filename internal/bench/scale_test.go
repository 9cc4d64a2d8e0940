package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

var heapProfile = flag.String("bench.heap", "", "BenchmarkIdleSwitches: write a heap profile here while the switches are connected")

// BenchmarkIdleSwitches connects N emulated switches to an in-process
// controller and reports the Go heap in use per switch (this process holds
// both sides; the switches' share is small). Run with -memprofile to see
// what the controller keeps per switch.
func BenchmarkIdleSwitches(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			addr := startControllerB(b)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before, stackBefore := ms.HeapInuse, ms.StackInuse
			for b.Loop() {
				cfg := Config{Addr: addr, Switches: n, Mode: Idle, Miss: MissPortcullis, Settle: 100 * time.Millisecond}
				cfg.idleHook = func() {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					b.ReportMetric(float64(ms.HeapInuse-before)/float64(n), "heap-B/switch")
					b.ReportMetric(float64(ms.StackInuse-stackBefore)/float64(n), "stack-B/switch")
					if *heapProfile != "" {
						f, err := os.Create(*heapProfile)
						if err != nil {
							b.Fatal(err)
						}
						pprof.WriteHeapProfile(f)
						f.Close()
						if g, err := os.Create(*heapProfile + ".goroutines"); err == nil {
							pprof.Lookup("goroutine").WriteTo(g, 1)
							g.Close()
						}
					}
				}
				rep, err := Run(b.Context(), cfg)
				if err != nil || rep.Connected != n {
					b.Fatalf("connected %d of %d: %v", rep.Connected, n, err)
				}
			}
		})
	}
}

// BenchmarkThroughput loads an in-process controller with N switches, 4 in
// flight each, and reports answered packet-ins per second (both sides in
// this process: compare ratios, not absolute figures). Run with
// -cpuprofile to see where the controller spends the time.
func BenchmarkThroughput(b *testing.B) {
	for _, n := range []int{16, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			addr := startControllerB(b)
			for b.Loop() {
				cfg := Config{Addr: addr, Switches: n, Mode: Throughput, InFlight: 4, Miss: MissPortcullis,
					Rounds: 3, Round: time.Second, Warmup: 500 * time.Millisecond}
				rep, err := Run(b.Context(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rep.Median, "responses/s")
			}
		})
	}
}

// BenchmarkLatency: 16 switches, one packet-in in flight each, against an
// in-process controller; reports answered packet-ins per second and the
// median round trip.
func BenchmarkLatency(b *testing.B) {
	addr := startControllerB(b)
	for b.Loop() {
		cfg := Config{Addr: addr, Switches: 16, Mode: Latency, Miss: MissPortcullis,
			Rounds: 3, Round: time.Second, Warmup: 500 * time.Millisecond}
		rep, err := Run(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.Median, "responses/s")
		b.ReportMetric(float64(rep.P50.Microseconds()), "p50-µs")
	}
}
