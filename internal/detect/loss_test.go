package detect

import (
	"net/netip"
	"testing"
	"time"
)

// The loss table is bounded (STYLE habit 7): a flood of losses on ever new
// ports costs at most lossMax entries, and past the bound a loss covers
// every attempt (unknown rather than failure, never the reverse).
func TestLossTableBounded(t *testing.T) {
	d := New(DefaultConfig())
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for i := range 3 * lossMax {
		d.ReplyLoss(Loss{DPID: 1, Port: uint32(i + 1), From: t0, To: t0.Add(time.Second)})
	}
	if n := len(d.losses.spans); n > lossMax {
		t.Fatalf("%d loss entries, cap %d", n, lossMax)
	}
	pe := pending{deadline: t0.Add(2 * time.Second), cls: clsTCP, host: netip.MustParseAddr("10.9.9.9")}
	if !d.answerLost(pe, t0.Add(2*time.Second)) {
		t.Error("past the bound, a loss in the window must cover the attempt")
	}
	// A loss long before an attempt's wait covers nothing.
	d2 := New(DefaultConfig())
	d2.ReplyLoss(Loss{DPID: 1, Port: 3, From: t0, To: t0.Add(time.Second)})
	late := pending{deadline: t0.Add(time.Minute), cls: clsTCP, host: netip.MustParseAddr("10.9.9.9")}
	if d2.answerLost(late, late.deadline) {
		t.Error("an old loss covered a later attempt")
	}
}
