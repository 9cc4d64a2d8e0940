package policy

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// TestOVSHoldFlows installs a hold on a real Open vSwitch netdev bridge and
// traces a suspect's SYN through the pipeline: it goes to the controller
// whole and nowhere else, while its other packets, another station's SYNs
// on the same port and a conversation with a bypass flow are forwarded as
// before.
func TestOVSHoldFlows(t *testing.T) {
	b := startOVS(t)
	for i, name := range []string{"p1", "p2"} {
		b.run("ovs-vsctl", "--db=unix:"+b.dir+"/db.sock", "--timeout=10", "add-port", b.name, b.name+name, "--",
			"set", "interface", b.name+name, "type=internal", "ofport_request="+string(rune('1'+i)))
	}
	sw := forward.NewSwitch(forward.Config{IdleTimeout: 120, ControllerMeterRate: 100})
	b.apply("forward setup", sw.Setup())
	b.apply("watch flows", WatchFlows(WatchConfig{}))
	b.apply("first-contact meter", FirstContactFlows(1, FirstContactConfig{}))
	mac := [6]byte{2, 0, 0, 0, 0, 0xa}
	b.apply("hold meter", HoldMeter(1, FirstContactConfig{}))
	b.apply("hold", HoldFlows(1, mac, HoldConfig{Meter: HoldMeterBase + 1}))
	b.apply("squeeze", []ofp.Message{FirstContactSqueeze(1)})
	if m := b.ofctl("dump-meters"); !strings.Contains(m, "meter=65537 pktps burst stats bands=\ntype=drop rate=1 burst_size=1") ||
		!strings.Contains(m, "meter=327681 pktps burst stats bands=\ntype=drop rate=500 burst_size=4") {
		t.Errorf("squeezed first-contact meter, or hold meter, missing:\n%s", m)
	}
	b.apply("restore", []ofp.Message{FirstContactRestore(1, FirstContactConfig{})})
	if m := b.ofctl("dump-meters"); !strings.Contains(m, "meter=65537 pktps burst stats bands=\ntype=drop rate=500 burst_size=4") {
		t.Errorf("first-contact meter not restored:\n%s", m)
	}
	bp, err := BypassFlow(Pair{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.MustParseAddr("10.9.0.2"), Proto: 6, DstPort: 22,
		InPort: 1, DstInPort: 2}, 30)
	if err != nil {
		t.Fatal(err)
	}
	b.apply("bypass", []ofp.Message{bp})

	dump := b.ofctl("dump-flows")
	for _, want := range []string{
		"cookie=0x5043030008000001, table=1, idle_timeout=10, hard_timeout=60, priority=2500,tcp,in_port=1,dl_src=02:00:00:00:00:0a,tcp_flags=+syn-ack actions=meter:327681,controller(meter_id=1)\n",
		"cookie=0x5043030008000001, table=1, idle_timeout=10, hard_timeout=60, priority=2500,tcp6,in_port=1,dl_src=02:00:00:00:00:0a,tcp_flags=+syn-ack actions=meter:327681,controller(meter_id=1)\n",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump-flows lacks %q:\n%s", want, dump)
		}
	}
	trace := func(flow string) string {
		return b.run("ovs-appctl", "-t", filepath.Join(b.dir, "ovs-vswitchd.ctl"), "ofproto/trace", b.name, flow)
	}
	const dst = ",dl_dst=02:00:00:00:00:0b,nw_src=10.9.0.1,nw_dst=10.9.0.2,tp_src=40000"
	for _, c := range []struct{ name, flow, want string }{
		{"held SYN", "in_port=1,dl_src=02:00:00:00:00:0a,tcp,tcp_flags=syn,tp_dst=80" + dst, "rule_cookie=0x5043030008000001,controller_id=0,max_len=65535))))"},
		{"held SYN, IPv6", "in_port=1,dl_src=02:00:00:00:00:0a,dl_dst=02:00:00:00:00:0b,tcp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tcp_flags=syn,tp_dst=80", "rule_cookie=0x5043030008000001,controller_id=0,max_len=65535))))"},
		{"its ACK", "in_port=1,dl_src=02:00:00:00:00:0a,tcp,tcp_flags=ack,tp_dst=80" + dst, "FLOOD"},
		{"another station", "in_port=1,dl_src=02:00:00:00:00:0c,tcp,tcp_flags=syn,tp_dst=80" + dst, "FLOOD"},
		{"a service it reached", "in_port=1,dl_src=02:00:00:00:00:0a,tcp,tcp_flags=syn,tp_dst=22" + dst, "FLOOD"},
	} {
		out := trace(c.flow)
		held := strings.HasPrefix(c.name, "held")
		if !strings.Contains(out, c.want) || held && strings.Contains(out, "FLOOD") || !held && strings.Contains(out, "priority 2500") {
			t.Errorf("%s: want %q, held %v:\n%s", c.name, c.want, held, out)
		}
	}
	if !IsHoldCookie(HoldCookie(1)) || IsHoldCookie(FirstContactCookie(1)) || IsHoldCookie(forward.Cookie(forward.KindWatch, uint64(ClassTCPProbe))) {
		t.Error("IsHoldCookie does not tell hold flows from the other watch flows")
	}
	var n int
	for _, m := range HoldFlows(1, mac, HoldConfig{}) {
		if m.Len() != len(ofp.Marshal(1, m)) {
			t.Errorf("Len %d != marshalled %d", m.Len(), len(ofp.Marshal(1, m)))
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d hold flows, want 2 (IPv4, IPv6)", n)
	}
}

// TestHoldPortFlows: a port hold matches every station of the port (no
// eth_src) and lives HoldPortTimeout.
func TestHoldPortFlows(t *testing.T) {
	msgs := HoldPortFlows(3, HoldConfig{Meter: HoldMeterBase + 3})
	if len(msgs) != 2 {
		t.Fatalf("%d flows, want 2 (IPv4, IPv6)", len(msgs))
	}
	for _, m := range msgs {
		fm := m.(*ofp.FlowMod)
		if fm.IdleTimeout != HoldPortTimeout || fm.HardTimeout != HoldPortTimeout || fm.Priority != PriorityHold || fm.Cookie != HoldCookie(3) {
			t.Errorf("flow %+v: want timeouts %d, priority %d, cookie %#x", fm, HoldPortTimeout, PriorityHold, HoldCookie(3))
		}
		for _, f := range fm.Match.Fields {
			if f.Field == ofp.MatchEthSrc(nil).Field {
				t.Errorf("a port hold matches a MAC: %+v", fm.Match)
			}
		}
	}
}
