package detect

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkSuspects is the suspects list over a full actor table
// (MaxActors sources, each with a failed first contact): the controller
// builds it under the lock that watch copies take (issue 9, item 4).
func BenchmarkSuspects(b *testing.B) {
	cfg := DefaultConfig()
	d := New(cfg)
	now := t0
	for i := range cfg.MaxActors {
		ip := netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})
		src := Source{DPID: 1, Port: uint32(i%48 + 1), MAC: [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}}
		dst := netip.AddrFrom4([4]byte{10, 4, byte(i >> 8), byte(i)})
		d.Observe(now, src, syn(ip, dst, 40000, 22))
	}
	now = now.Add(30 * time.Second)
	d.Tick(now)
	if n := len(d.Suspects(now)); n != cfg.MaxSuspects {
		b.Fatalf("%d suspects, want %d", n, cfg.MaxSuspects)
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Suspects(now)
	}
}
