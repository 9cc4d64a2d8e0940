package policy

import (
	"reflect"
	"strings"
	"testing"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

func TestBudgetFlows(t *testing.T) {
	cfg := DefaultBudgetConfig()
	if cfg.Rate[BudgetUDP] != 0 {
		t.Errorf("UDP budget on by default (rate %d): docs/pipeline.md says why it is off", cfg.Rate[BudgetUDP])
	}
	cfg.Rate[BudgetUDP] = 100
	msgs := BudgetFlows(7, cfg)
	wire(t, msgs)
	meters := map[uint32]ofp.MeterBand{}
	for _, m := range msgs {
		if mm, ok := m.(*ofp.MeterMod); ok && mm.Command == ofp.MeterAdd {
			meters[mm.MeterID] = mm.Bands[0]
		}
	}
	for c := range numBudgetClasses {
		b, ok := meters[BudgetMeter(7, c)]
		if !ok || b.Type != ofp.MeterBandDrop || b.Rate != cfg.Rate[c] || b.BurstSize != cfg.Burst[c] {
			t.Errorf("%v meter %#x: %+v %v", c, BudgetMeter(7, c), b, ok)
		}
	}
	perClass := map[BudgetClass]int{}
	for _, fm := range flowMods(t, msgs) {
		if fm.TableID != forward.TableWatch || fm.Cookie != FirstContactCookie(7) {
			t.Errorf("flow in table %d cookie %#x", fm.TableID, fm.Cookie)
		}
		if !hasField(fm.Match, ofp.OXMInPort, []byte{0, 0, 0, 7}) {
			t.Errorf("budget flow without in_port: %+v", fm.Match)
		}
		if fm.Priority <= forward.PriorityWatchLow || fm.Priority >= PriorityFirstContact {
			t.Errorf("priority %d outside the watch band", fm.Priority)
		}
		// Meter first (it drops the probe), then the copy, then on to learning.
		if len(fm.Instructions) != 3 {
			t.Fatalf("instructions %+v", fm.Instructions)
		}
		m, ok := fm.Instructions[0].(*ofp.InstrMeter)
		if !ok {
			t.Fatalf("first instruction %+v, want the budget meter", fm.Instructions[0])
		}
		c := BudgetClass((m.MeterID >> 16) & 0xf)
		if m.MeterID != BudgetMeter(7, c) {
			t.Errorf("meter %#x", m.MeterID)
		}
		perClass[c]++
		// Refusals are answers: copied through the port's answer meter (replies.go), like the rows below.
		if want := forward.Apply(ControllerMetered(DefaultWatchMaxLen, ReplyMeter(7))); (c == BudgetRefusal || c == BudgetReset) &&
			(fm.Priority <= forward.PriorityReplyICMP || !reflect.DeepEqual(fm.Instructions[1], want)) {
			t.Errorf("refusal budget flow: priority %d, copy %+v", fm.Priority, fm.Instructions[1])
		}
		if g, ok := fm.Instructions[2].(*ofp.InstrGotoTable); !ok || g.TableID != forward.TableLearn {
			t.Errorf("budget flow continues with %+v", fm.Instructions[2])
		}
	}
	// FIN-ACK, URG-ACK, ACK; UDP; other: IPv4 and IPv6 each. ICMP: 4 request types and ICMPv6 echo.
	// Refusals: ICMP protocol and port unreachable, ICMPv6 port unreachable and unrecognized next header.
	for c, n := range map[BudgetClass]int{BudgetStray: 6, BudgetUDP: 2, BudgetICMP: 5, BudgetOther: 2, BudgetRefusal: 4, BudgetReset: 2} {
		if perClass[c] != n {
			t.Errorf("%v: %d flows, want %d", c, perClass[c], n)
		}
	}

	cfg.Rate[BudgetUDP] = 0
	for _, fm := range flowMods(t, BudgetFlows(7, cfg)) {
		if fm.Instructions[0].(*ofp.InstrMeter).MeterID == BudgetMeter(7, BudgetUDP) {
			t.Error("UDP budget off, but a flow uses its meter")
		}
	}
	if BudgetFlows(0, cfg) != nil || BudgetFlows(MaxFirstContactPort+1, cfg) != nil {
		t.Error("reserved or too high port got budget flows")
	}
	// The per-port delete takes the budgets along: same cookie, and every budget meter.
	del := FirstContactDelete(7)
	deleted := map[uint32]bool{}
	for _, m := range del {
		if mm, ok := m.(*ofp.MeterMod); ok && mm.Command == ofp.MeterDelete {
			deleted[mm.MeterID] = true
		}
	}
	for c := range numBudgetClasses {
		if !deleted[BudgetMeter(7, c)] {
			t.Errorf("FirstContactDelete keeps the %v meter", c)
		}
	}
}

// Budget flows must sit above the watch rule of their class and below any rule that would take
// their packets first (emulates the priority order for one IPv4 packet of each kind).
func TestBudgetBelowGroupRules(t *testing.T) {
	if !(priorityGroupUDP > priorityServiceAnswer && priorityServiceAnswer > priorityBudgetUDP && priorityBudgetUDP > 1500) {
		t.Error("UDP: group rule, budget, watch rule out of order")
	}
	if !(priorityGroupOther > priorityBudgetOther && priorityBudgetOther > 1100 && priorityGroupOther < 1200) {
		t.Error("other: the catch-all budget must stay below the TCP pass rule (1200) and above 1100")
	}
	if !(priorityBudgetAck > 1840 && priorityBudgetFinAck > 1860 && priorityBudgetUrgAck > 1850 && priorityBudgetFinAck < 1870) {
		t.Error("stray budgets out of order")
	}
}

// TestOVSAcceptsBudgetsAndEvasionRules sends the watch table and one port's budgets to a real Open
// vSwitch and reads them back as ovs-ofctl shows them.
func TestOVSAcceptsBudgetsAndEvasionRules(t *testing.T) {
	b := startOVS(t)
	sw := forward.NewSwitch(forward.Config{IdleTimeout: 120, ControllerMeterRate: 100})
	b.apply("forward setup", sw.Setup())
	b.apply("watch flows", WatchFlows(WatchConfig{}))
	b.apply("first-contact meter", FirstContactFlows(7, FirstContactConfig{}))
	cfg := DefaultBudgetConfig()
	cfg.Rate[BudgetUDP] = 100
	b.apply("budgets", BudgetFlows(7, cfg))
	dump := b.ofctl("dump-flows", "table=1")
	for _, want := range []string{
		"priority=3200,ip,nw_frag=later actions=controller(max_len=192,meter_id=8),goto_table:2",
		"priority=3200,ipv6,nw_frag=later actions=controller(max_len=192,meter_id=8),goto_table:2",
		"priority=3100,tcp,tcp_flags=+fin+syn actions=controller(max_len=192,meter_id=1)\n",
		"priority=3100,tcp,tcp_flags=+syn+rst actions=controller(max_len=192,meter_id=1)\n",
		"priority=3100,tcp6,tcp_flags=-syn-rst-ack actions=controller(max_len=192,meter_id=1)\n",
		"priority=1560,udp,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=controller(max_len=192,meter_id=3),goto_table:2",
		"priority=1160,ip,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=controller(max_len=192,meter_id=7),goto_table:2",
		"priority=1555,udp6,tp_src=0x0/0xfc00,tp_dst=0x8000/0x8000 actions=controller(max_len=192,meter_id=3),goto_table:2",
		"priority=1845,tcp,in_port=7,tcp_flags=-fin-syn-rst-psh+ack-urg-ece-cwr-ns actions=meter:1048583,controller(max_len=192,meter_id=6),goto_table:2",
		"priority=1865,tcp6,in_port=7,tcp_flags=+fin-syn-rst+ack actions=meter:1048583,controller(max_len=192,meter_id=2),goto_table:2",
		"priority=1550,udp,in_port=7 actions=meter:1114119,controller(max_len=192,meter_id=3),goto_table:2",
		"priority=1450,icmp,in_port=7,icmp_type=8 actions=meter:1179655,controller(max_len=192,meter_id=4),goto_table:2",
		"priority=1450,icmp6,in_port=7,icmp_type=128 actions=meter:1179655,controller(max_len=192,meter_id=4),goto_table:2",
		"priority=1150,ipv6,in_port=7 actions=meter:1245191,controller(max_len=192,meter_id=7),goto_table:2",
		"priority=1882,tcp,in_port=7,tcp_flags=+rst actions=meter:1376263,controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1402,icmp,in_port=7,icmp_type=3,icmp_code=3 actions=meter:1310727,controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1402,icmp,in_port=7,icmp_type=3,icmp_code=2 actions=meter:1310727,controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1402,icmp6,in_port=7,icmp_type=1,icmp_code=4 actions=meter:1310727,controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1402,icmp6,in_port=7,icmp_type=4,icmp_code=1 actions=meter:1310727,controller(max_len=192,meter_id=131079),goto_table:2",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump-flows lacks %q:\n%s", want, dump)
		}
	}
	if strings.Contains(dump, "priority=1870") {
		t.Error("the old copy-and-forward rule for FIN/NULL/Xmas is still there")
	}
	meters := b.ofctl("dump-meters")
	for _, want := range []string{
		"meter=8 pktps burst stats bands=\ntype=drop rate=100 burst_size=50",
		"meter=1114119 pktps burst stats bands=\ntype=drop rate=100 burst_size=16",
	} {
		if !strings.Contains(meters, want) {
			t.Errorf("dump-meters lacks %q:\n%s", want, meters)
		}
	}
	b.apply("port gone", FirstContactDelete(7))
	if dump := b.ofctl("dump-flows", "table=1"); strings.Contains(dump, "in_port=7") {
		t.Errorf("flows of port 7 left after FirstContactDelete:\n%s", dump)
	}
	if meters := b.ofctl("dump-meters"); strings.Contains(meters, "meter=1114119") || strings.Contains(meters, "meter=65543") {
		t.Errorf("meters of port 7 left after FirstContactDelete:\n%s", meters)
	}
}
