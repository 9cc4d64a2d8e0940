package policy

import (
	"testing"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Issue 8, item 4: the answers entering at a port are copied through that port's own meter.
func TestReplyFlows(t *testing.T) {
	msgs := ReplyFlows(7, ReplyConfig{})
	wire(t, msgs)
	mm, ok := msgs[1].(*ofp.MeterMod)
	if !ok || mm.Command != ofp.MeterAdd || mm.MeterID != ReplyMeter(7) || mm.Bands[0].Rate != DefaultReplyRate {
		t.Fatalf("meter %+v", msgs[1])
	}
	n := 0
	for _, m := range msgs[2:] {
		fm := m.(*ofp.FlowMod)
		n++
		if in, ok := fm.Match.InPort(); !ok || in != 7 || fm.TableID != forward.TableWatch || fm.Cookie != ReplyCookie(7) {
			t.Errorf("answer flow %+v", fm)
		}
		if fm.Priority <= forward.PriorityWatchLow || fm.Priority >= forward.PriorityWatchHigh {
			t.Errorf("priority %d outside the watch band", fm.Priority)
		}
		// The blocks' datapath guards rely on no flow looking at the ARP opcode (guard.go).
		if _, ok := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMARPOp); ok {
			t.Errorf("an answer flow matches the ARP opcode: %+v", fm.Match)
		}
	}
	if n != 16 {
		t.Errorf("%d answer flows, want 16 (TCP SYN-ACK and RST x2, 6 ICMP, 4 ICMPv6, ARP, NA)", n)
	}
	if p, ok := ReplyPort(ReplyMeter(7)); !ok || p != 7 {
		t.Errorf("ReplyPort = %d %v", p, ok)
	}
	for _, id := range []uint32{forward.MeterWatchUDP, FirstContactMeterBase + 7, ofp.MeterController} {
		if _, ok := ReplyPort(id); ok {
			t.Errorf("meter %#x taken for an answer meter", id)
		}
	}
	if ReplyFlows(0, ReplyConfig{}) != nil || ReplyFlows(ofp.PortController, ReplyConfig{}) != nil || ReplyDelete(ofp.PortLocal) != nil {
		t.Error("answer flows for a reserved port")
	}
	if del := ReplyDelete(7); len(del) != 2 {
		t.Errorf("delete %+v", del)
	}
}

// Issue 8, item 3: a block of a spoofer stays where the probes entered: never on other switches
// (the MAC it used may be another station's there), and a port-wide block is the port alone.
func TestBlockFlowsSpoofer(t *testing.T) {
	b := block(ScopeNetwork, "10.0.0.9")
	b.Spoofed = true
	if fms := flowMods(t, BlockFlows(b, 7, t0)); len(fms) != 2 {
		t.Errorf("ingress: %d flows, want MAC + IP", len(fms))
	}
	if msgs := BlockFlows(b, 8, t0); len(msgs) != 0 {
		t.Errorf("a spoofer's block on another switch: %+v", msgs)
	}
	b.PortWide = true
	fms := flowMods(t, BlockFlows(b, 7, t0))
	wire(t, BlockFlows(b, 7, t0))
	if len(fms) != 1 || len(fms[0].Match.Fields) != 1 {
		t.Fatalf("port-wide: %+v, want one in_port flow", fms)
	}
	if in, ok := fms[0].Match.InPort(); !ok || in != 3 || fms[0].Priority != forward.PriorityBlock || len(fms[0].Instructions) != 0 {
		t.Errorf("port-wide flow %+v", fms[0])
	}
	if msgs := BlockFlows(b, 8, t0); len(msgs) != 0 {
		t.Errorf("a port-wide block on another switch: %+v", msgs)
	}
}
