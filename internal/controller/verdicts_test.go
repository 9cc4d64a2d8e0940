package controller

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/store"
)

// verdictOf is a verdict of source n, each behind a port of its own (several
// MACs judged at one port would make its block port-wide: MAC rotation).
func verdictOf(n int, ip string) detect.Verdict {
	src := detect.Source{DPID: 1, Port: 3 + uint32(n), MAC: [6]byte{0x02, 0x10, byte(n >> 16), byte(n >> 8), byte(n), 0}}
	v := detect.Verdict{Source: src, Kind: detect.KindPortScan, Reason: "test", Probes: 4, Score: 1}
	if ip != "" {
		v.IPs = []netip.Addr{netip.MustParseAddr(ip)}
	}
	return v
}

// A second verdict for a source that still waits is folded into the first:
// one entry per source, with every address it used.
func TestVerdictQueueFolds(t *testing.T) {
	q := newVerdictQueue(8)
	a1, a2, b := verdictOf(1, "10.0.0.1"), verdictOf(1, "10.0.0.7"), verdictOf(2, "")
	shared := a1.IPs
	for _, v := range []detect.Verdict{a1, b, a2, a1} {
		if !q.push(v) {
			t.Fatalf("push refused with room left")
		}
	}
	got := q.drain(nil)
	if len(got) != 2 || got[0].Source != a1.Source || got[1].Source != b.Source {
		t.Fatalf("drained %+v, want a then b", got)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.7")}; len(got[0].IPs) != 2 ||
		got[0].IPs[0] != want[0] || got[0].IPs[1] != want[1] {
		t.Errorf("folded IPs %v, want %v", got[0].IPs, want)
	}
	if got[0].Probes != 12 {
		t.Errorf("folded probes %d, want 12", got[0].Probes)
	}
	if len(shared) != 1 {
		t.Errorf("folding wrote into the first verdict's slice: %v", shared)
	}
	if q.len() != 0 || len(q.drain(nil)) != 0 {
		t.Error("queue not empty after drain")
	}
}

// A full table refuses new sources, never a source that already waits.
func TestVerdictQueueFull(t *testing.T) {
	q := newVerdictQueue(2)
	q.push(verdictOf(1, ""))
	q.push(verdictOf(2, ""))
	if q.push(verdictOf(3, "")) {
		t.Error("third source accepted past the bound")
	}
	if !q.push(verdictOf(1, "10.0.0.1")) {
		t.Error("a waiting source's verdict refused")
	}
}

// A flood of verdicts from more sources than the old queue held (1024),
// arriving while the blocker is busy, ends with every source blocked.
func TestVerdictFloodEveryScannerBlocked(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	h.connect(0x1, 4)
	const n = 3000
	busy := make(chan struct{})
	h.c.post(func(time.Time) { <-busy }) // the blocker is busy
	for i := range n {
		h.c.queueVerdict(verdictOf(i, ""))
	}
	close(busy)
	eventually(t, "a block for every source", func() bool {
		return len(h.blocks()) == n
	})
	seen := map[[6]byte]bool{}
	for _, b := range h.blocks() {
		seen[[6]byte(mustMAC(t, b.MAC))] = true
	}
	for i := range n {
		if mac := verdictOf(i, "").Source.MAC; !seen[mac] {
			t.Fatalf("source %s not blocked", macString(mac))
		}
	}
}

func mustMAC(t testing.TB, s string) []byte {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		t.Fatalf("bad MAC %q: %v", s, err)
	}
	return hw
}
