package detect

import (
	"net/netip"
	"testing"
	"time"
)

// TestSuspicionHoldsBeforeTheVerdict walks a client through the fan-out
// rule: one service of a host is nothing, the second holds, the sixth
// decides; a SYN without options holds at once; another host, or the same
// host after the window, starts again.
func TestSuspicionHoldsBeforeTheVerdict(t *testing.T) {
	d := New(DefaultConfig())
	src := Source{DPID: 1, Port: 1, MAC: [6]byte{2, 0, 0, 0, 0, 1}}
	ip, vic, other := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	eq(t, "unknown source", d.Suspicion(t0, src, ip), SuspicionNone)
	want := []Suspicion{SuspicionNone, SuspicionHold, SuspicionHold, SuspicionHold, SuspicionHold, SuspicionDecided}
	for i, w := range want {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		_, decided := d.Observe(now, src, syn(ip, vic, 40000+uint16(i), 20+uint16(i)))
		eq(t, "decided", decided, w == SuspicionDecided)
		eq(t, "suspicion after port "+string(rune('1'+i)), d.Suspicion(now, src, ip), w)
	}

	// A retry of a port already tried is no first contact; another host
	// is counted apart; the window ends the count.
	d = New(DefaultConfig())
	d.Observe(t0, src, syn(ip, vic, 40000, 80))
	d.Observe(t0, src, syn(ip, vic, 40000, 80))
	d.Observe(t0, src, syn(ip, other, 40000, 443))
	eq(t, "a retry and another host", d.Suspicion(t0, src, ip), SuspicionNone)
	d.Observe(t0, src, syn(ip, vic, 40000, 443))
	eq(t, "second port", d.Suspicion(t0, src, ip), SuspicionHold)
	eq(t, "after the window", d.Suspicion(t0.Add(fanoutWindow+time.Second), src, ip), SuspicionNone)

	// A refused port: the fan-out rule decides at 4, so 1 holds.
	d = New(DefaultConfig())
	d.Observe(t0, src, syn(ip, vic, 40000, 81))
	eq(t, "one port", d.Suspicion(t0, src, ip), SuspicionNone)
	d.Observe(t0, Source{DPID: 1, Port: 2, MAC: [6]byte{2, 0, 0, 0, 0, 2}}, rst(vic, ip, 81, 40000))
	eq(t, "one port, refused", d.Suspicion(t0, src, ip), SuspicionHold)

	// One SYN without TCP options (hping3, masscan) holds.
	d = New(DefaultConfig())
	p := syn(ip, vic, 40000, 1)
	p.TCPOptions = nil
	d.Observe(t0, src, p)
	eq(t, "bare SYN", d.Suspicion(t0, src, ip), SuspicionHold)
	eq(t, "another source", d.Suspicion(t0, Source{DPID: 1, Port: 2}, ip), SuspicionNone)
}
