package policy

import (
	"testing"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// The lookup budgets (issue 8): two meters per port (ARP, ND); every flow
// bound to the port, in the watch table above the generic watch rules and
// the probe budgets and below bypasses, with the port's cookie; the lookup
// flows start with the meter of their family and continue to the learning
// table; the group echo flows are dropped (no goto).
func TestLookupFlows(t *testing.T) {
	msgs := LookupFlows(3, LookupConfig{Rate: 5, Burst: 7})
	meters := map[uint32]ofp.MeterBand{}
	var flows []*ofp.FlowMod
	for _, m := range msgs {
		switch m := m.(type) {
		case *ofp.MeterMod:
			if m.Command == ofp.MeterAdd && len(m.Bands) == 1 && m.Bands[0].Type == ofp.MeterBandDrop {
				meters[m.MeterID] = m.Bands[0]
			}
		case *ofp.FlowMod:
			flows = append(flows, m)
		}
	}
	want := map[uint32][2]uint32{LookupMeterBase + 3: {5, 7}, NDMeterBase + 3: {5, 7}}
	for id, rb := range want {
		if b, ok := meters[id]; !ok || b.Rate != rb[0] || b.BurstSize != rb[1] {
			t.Errorf("meter %#x: %+v, want rate %d burst %d", id, b, rb[0], rb[1])
		}
	}
	if len(meters) != len(want) {
		t.Errorf("meters %v", meters)
	}
	if len(flows) != 4 { // ARP, NS, 2 group echoes
		t.Fatalf("%d flows, want 4", len(flows))
	}
	drops := 0
	for _, fm := range flows {
		if in, ok := fm.Match.InPort(); !ok || in != 3 {
			t.Errorf("flow not bound to port 3: %+v", fm.Match)
		}
		if fm.Priority < PriorityFirstContact || fm.Priority >= forward.PriorityBypass || fm.TableID != forward.TableWatch {
			t.Errorf("priority %d table %d", fm.Priority, fm.TableID)
		}
		if fm.Cookie != LookupCookie(3) {
			t.Errorf("cookie %#x", fm.Cookie)
		}
		if _, goes := fm.Instructions[len(fm.Instructions)-1].(*ofp.InstrGotoTable); !goes {
			drops++
			continue
		}
		if mi, ok := fm.Instructions[0].(*ofp.InstrMeter); !ok || want[mi.MeterID] == [2]uint32{} {
			t.Errorf("first instruction %+v, want one of the port's meters", fm.Instructions[0])
		}
	}
	if drops != 2 {
		t.Errorf("%d flows drop, want the 2 group echo flows", drops)
	}
	if LookupFlows(ofp.PortLocal, LookupConfig{}) != nil || LookupFlows(0, LookupConfig{}) != nil {
		t.Error("a reserved port got a budget")
	}
	if LookupCookie(3) == FirstContactCookie(3) || LookupCookie(3) == SYNCountCookie(3) || LookupCookie(3) == ReplyCookie(3) {
		t.Error("the lookup cookie collides with another per-port cookie")
	}
	// Deleting a meter deletes the flows that use it: no other per-port
	// meter may share an id with these.
	for _, port := range []uint32{1, 3, MaxFirstContactPort} {
		others := []uint32{FirstContactMeterBase + port, ReplyMeter(port)}
		for c := BudgetStray; c < numBudgetClasses; c++ {
			others = append(others, BudgetMeter(port, c))
		}
		for _, id := range []uint32{LookupMeterBase + port, NDMeterBase + port} {
			for _, o := range others {
				if id == o {
					t.Errorf("port %d: lookup meter %#x is another per-port meter too", port, id)
				}
			}
		}
	}
	del := LookupDelete(3)
	if fm, ok := del[0].(*ofp.FlowMod); !ok || fm.Command != ofp.FlowDelete || fm.Cookie != LookupCookie(3) ||
		fm.CookieMask != forward.CookieExactMask {
		t.Errorf("delete %+v", del[0])
	}
	if len(del) != 3 {
		t.Errorf("delete: %d messages, want the flows and 2 meters", len(del))
	}
}
