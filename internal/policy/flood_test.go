package policy

import (
	"testing"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// The flow-stats request selects exactly the SYN counter flows, by cookie
// and mask, as a switch applies them; SYNCounts sums a port's IPv4 and IPv6
// flows and ignores any other flow.
func TestSYNCountersRequestSelectsCountersOnly(t *testing.T) {
	req := SYNCountersRequest().Body.(*ofp.FlowStatsRequest)
	if req.TableID != forward.TableAdmission {
		t.Errorf("table %d", req.TableID)
	}
	matches := func(c uint64) bool { return c&req.CookieMask == req.Cookie&req.CookieMask }
	for _, port := range []uint32{1, 2, 0xfffe} {
		if !matches(SYNCountCookie(port)) {
			t.Errorf("counter of port %d (%#x) not selected by %#x/%#x", port, SYNCountCookie(port), req.Cookie, req.CookieMask)
		}
		if p, ok := SYNCountPort(SYNCountCookie(port)); !ok || p != port {
			t.Errorf("SYNCountPort(%#x) = %d, %v", SYNCountCookie(port), p, ok)
		}
	}
	others := []uint64{FirstContactCookie(1), forward.Cookie(forward.KindBlock, 0x200<<16|1),
		forward.Cookie(forward.KindWatch, 0x200<<16|1), forward.Cookie(forward.KindCount, 0x300<<16|1),
		forward.Cookie(forward.KindBase, 0), 0x200<<16 | 1, 0}
	for _, c := range others {
		if matches(c) {
			t.Errorf("cookie %#x selected by the counter request", c)
		}
		if _, ok := SYNCountPort(c); ok {
			t.Errorf("SYNCountPort(%#x) ok", c)
		}
	}
	if SYNCountFlows(0) != nil || SYNCountFlows(MaxFirstContactPort+1) != nil {
		t.Error("counter flows for a reserved port")
	}
	counts := map[uint32]uint64{}
	SYNCounts([]ofp.FlowStats{
		{Cookie: SYNCountCookie(3), PacketCount: 10},
		{Cookie: SYNCountCookie(3), PacketCount: 5},
		{Cookie: SYNCountCookie(4), PacketCount: 1},
		{Cookie: FirstContactCookie(3), PacketCount: 1000},
	}, counts)
	if len(counts) != 2 || counts[3] != 15 || counts[4] != 1 {
		t.Errorf("counts %v", counts)
	}
}
