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
	for _, id := range []uint32{0, 7, 0xffffffff} {
		c := SYNCountStationCookie(id)
		if !matches(c) {
			t.Errorf("station counter %d (%#x) not selected", id, c)
		}
		if got, ok := SYNCountStation(c); !ok || got != id {
			t.Errorf("SYNCountStation(%#x) = %d, %v", c, got, ok)
		}
		if _, ok := SYNCountPort(c); ok {
			t.Errorf("station counter %#x read as a port counter", c)
		}
		if _, ok := SYNCountStation(SYNCountCookie(uint32(id) & 0xffff)); ok {
			t.Errorf("port counter read as a station counter")
		}
	}
	others := []uint64{FirstContactCookie(1), forward.Cookie(forward.KindBlock, 0x200<<16|1),
		forward.Cookie(forward.KindWatch, 0x200<<16|1), forward.Cookie(forward.KindWatch, 1<<39|1),
		forward.Cookie(forward.KindBase, 0), 0x200<<16 | 1, 0}
	for _, c := range others {
		if matches(c) {
			t.Errorf("cookie %#x selected by the counter request", c)
		}
		if _, ok := SYNCountPort(c); ok {
			t.Errorf("SYNCountPort(%#x) ok", c)
		}
		if _, ok := SYNCountStation(c); ok {
			t.Errorf("SYNCountStation(%#x) ok", c)
		}
	}
	if _, ok := SYNCountPort(forward.Cookie(forward.KindCount, 0x300<<16|1)); ok {
		t.Error("a count cookie with another marker read as a port counter")
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
