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
	}
	if n != 16 {
		t.Errorf("%d answer flows, want 16 (TCP SYN-ACK and RST x2, 6 ICMP, 4 ICMPv6, ARP reply, NA)", n)
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
