package policy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"portcullis/internal/allow/allowtest"
	"portcullis/internal/forward"
	"portcullis/ofp"
)

var (
	t0   = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	macS = [6]byte{0x02, 0, 0, 0, 0, 0x5c}
)

func flowMods(t *testing.T, msgs []ofp.Message) []*ofp.FlowMod {
	t.Helper()
	var fms []*ofp.FlowMod
	for _, m := range msgs {
		if fm, ok := m.(*ofp.FlowMod); ok {
			fms = append(fms, fm)
		}
	}
	return fms
}

func hasField(m ofp.Match, field uint8, value []byte) bool {
	o, ok := m.Get(ofp.OXMClassOpenflowBasic, field)
	return ok && bytes.Equal(o.Value, value) && o.Mask == nil
}

// wire checks that every message encodes and decodes back to the same bytes.
func wire(t *testing.T, msgs []ofp.Message) {
	t.Helper()
	for _, m := range msgs {
		b := ofp.Marshal(1, m)
		_, back, err := ofp.Unmarshal(b)
		if err != nil {
			t.Fatalf("%v does not decode: %v", m.Type(), err)
		}
		if !bytes.Equal(b, ofp.Marshal(1, back)) {
			t.Fatalf("%v: round trip differs", m.Type())
		}
	}
}

// The controller action with a meter, as ovs-ofctl 3.1 encodes
// "controller(max_len=128,meter_id=1)" (captured from its FLOW_MOD on the wire).
func TestControllerMeteredMatchesOVS(t *testing.T) {
	want, _ := hex.DecodeString("ffff0020000023200025000000000000000000080080000000050008000000010001000802000000")
	fm := &ofp.FlowMod{Instructions: []ofp.Instruction{forward.Apply(ControllerMetered(128, 1)), forward.Goto(2)}}
	b := ofp.Marshal(0, fm)
	// The instructions are the tail of the flow-mod: apply-actions header (8 bytes), the action,
	// then goto-table.
	tail := b[len(b)-len(want):]
	if !bytes.Equal(tail, want) {
		t.Errorf("encoded\n%x\nwant\n%x", tail, want)
	}
}

func TestWatchFlows(t *testing.T) {
	msgs := WatchFlows(WatchConfig{UDPRate: 50, UDPBurst: 5})
	wire(t, msgs)
	del, ok := msgs[0].(*ofp.FlowMod)
	if !ok || del.Command != ofp.FlowDelete || del.Cookie != forward.Cookie(forward.KindWatch, 0) || del.CookieMask != forward.CookieKindMask {
		t.Fatalf("first message %+v, want delete of our watch flows", msgs[0])
	}
	meters := map[uint32]ofp.MeterBand{}
	for _, m := range msgs {
		if mm, ok := m.(*ofp.MeterMod); ok && mm.Command == ofp.MeterAdd {
			if mm.Flags&ofp.MeterFlagPktps == 0 || len(mm.Bands) != 1 || mm.Bands[0].Type != ofp.MeterBandDrop {
				t.Errorf("meter %d: %+v", mm.MeterID, mm)
			}
			meters[mm.MeterID] = mm.Bands[0]
		}
	}
	if len(meters) != len(forward.WatchMeters)+1 { // and the fragment meter
		t.Errorf("%d meters, want %d", len(meters), len(forward.WatchMeters)+1)
	}
	if b := meters[forward.MeterWatchUDP]; b.Rate != 50 || b.BurstSize != 5 {
		t.Errorf("UDP meter %+v", b)
	}
	if b := meters[forward.MeterWatchTCPProbe]; b.Rate != DefaultTCPProbeRate || b.BurstSize != DefaultTCPProbeRate/2 {
		t.Errorf("TCP probe meter %+v", b)
	}

	classes := map[Class]int{}
	for _, fm := range flowMods(t, msgs)[1:] {
		if fm.TableID != forward.TableWatch || fm.Command != ofp.FlowAdd {
			t.Errorf("watch flow in table %d command %d", fm.TableID, fm.Command)
		}
		if (fm.Priority < forward.PriorityWatchLow || fm.Priority > forward.PriorityWatchHigh) &&
			fm.Priority != forward.PriorityWatchDrop && fm.Priority != forward.PriorityWatchFragment {
			t.Errorf("priority %d outside the watch band", fm.Priority)
		}
		k, _ := forward.CookieKind(fm.Cookie)
		c := Class(forward.CookieValue(fm.Cookie))
		if k != forward.KindWatch || c > ClassFragment {
			t.Errorf("cookie %#x", fm.Cookie)
		}
		classes[c]++
		if c == 0 { // pass rule: no copy, straight on to learning
			if len(fm.Instructions) != 1 {
				t.Fatalf("pass rule instructions %+v", fm.Instructions)
			}
			if g, ok := fm.Instructions[0].(*ofp.InstrGotoTable); !ok || g.TableID != forward.TableLearn {
				t.Errorf("pass rule %+v", fm.Instructions)
			}
			continue
		}
		if fm.Priority == forward.PriorityWatchDrop { // copy, then nothing: dropped
			if _, ok := fm.Instructions[0].(*ofp.InstrApplyActions); len(fm.Instructions) != 1 || !ok || c != ClassTCPProbe {
				t.Errorf("drop rule class %v instructions %+v", c, fm.Instructions)
			}
			continue
		}
		if len(fm.Instructions) != 2 {
			t.Fatalf("instructions %+v", fm.Instructions)
		}
		ap := fm.Instructions[0].(*ofp.InstrApplyActions)
		if g := fm.Instructions[1].(*ofp.InstrGotoTable); g.TableID != forward.TableLearn {
			t.Errorf("watch flow continues to %d", g.TableID)
		}
		want := ControllerMetered(DefaultWatchMaxLen, c.Meter()).(*ofp.ActionExperimenter)
		got, ok := ap.Actions[0].(*ofp.ActionExperimenter)
		if len(ap.Actions) != 1 || !ok || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("class %v copies with %+v, want its meter %d", c, ap.Actions, c.Meter())
		}
		for _, in := range fm.Instructions {
			if _, isMeter := in.(*ofp.InstrMeter); isMeter {
				t.Error("meter instruction would drop forwarded packets")
			}
		}
	}
	// IPv4 and IPv6 for each TCP rule (4 of them drop rules) and UDP (unicast, group, service answers); ICMPv4, 5
	// ICMPv6 types; ARP, NS, NA; pure ACK and other ACK segments (PSH/ACK), the other-protocol catch-all and its group rule, and later
	// fragments per family; pass rules for other TCP (v4, v6) and other ICMPv6.
	for c, n := range map[Class]int{ClassTCPProbe: 12, ClassTCPReply: 6, ClassUDP: 6, ClassICMP: 6, ClassDiscover: 3,
		ClassTCPAck: 4, ClassOther: 4, ClassFragment: 2, 0: 3} {
		if classes[c] != n {
			t.Errorf("class %v has %d flows, want %d", c, classes[c], n)
		}
	}

	plain := WatchFlows(WatchConfig{PlainController: true, MaxLen: 100})
	for _, m := range plain {
		if _, ok := m.(*ofp.MeterMod); ok {
			t.Error("plain mode creates meters")
		}
	}
	for _, fm := range flowMods(t, plain)[1:] {
		if len(fm.Instructions) == 1 {
			continue // pass rule
		}
		o, ok := fm.Instructions[0].(*ofp.InstrApplyActions).Actions[0].(*ofp.ActionOutput)
		if !ok || o.Port != ofp.PortController || o.MaxLen != 100 {
			t.Errorf("plain copy %+v", fm.Instructions[0])
		}
	}
}

// Which watch rule a TCP packet with the given flags hits first, emulating the switch: highest
// priority whose flags match under mask.
func TestWatchTCPFlagCoverage(t *testing.T) {
	type rule struct {
		prio        uint16
		class       Class
		flags, mask uint16
		drop        bool
	}
	var rules []rule
	for _, r := range watchRules() {
		et, _ := ofp.Match{Fields: r.fields}.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthType)
		if !bytes.Equal(et.Value, []byte{0x08, 0x00}) {
			continue
		}
		for _, f := range r.fields {
			if f.Class == ofp.OXMClassExperimenter && f.Field == ofp.ONFOXMTCPFlags {
				mask := uint16(0x0fff)
				if f.Mask != nil {
					mask = uint16(f.Mask[0])<<8 | uint16(f.Mask[1])
				}
				rules = append(rules, rule{r.priority, r.class, uint16(f.Value[0])<<8 | uint16(f.Value[1]), mask, r.drop})
			}
		}
	}
	slices.SortFunc(rules, func(a, b rule) int { return int(b.prio) - int(a.prio) })
	classify := func(flags uint16) (Class, bool, bool) {
		for _, r := range rules {
			if flags&r.mask == r.flags {
				return r.class, true, r.drop
			}
		}
		return 0, false, false
	}
	const F, S, R, P, A, U = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
	for _, c := range []struct {
		name   string
		flags  uint16
		copied bool
		class  Class
		drop   bool
	}{
		{"SYN", S, true, ClassTCPProbe, false},
		{"SYN+ECE+CWR (ECN setup)", S | 0x40 | 0x80, true, ClassTCPProbe, false},
		{"SYN+FIN", S | F, true, ClassTCPProbe, true},
		{"SYN+RST", S | R, true, ClassTCPProbe, true},
		{"FIN+RST+ACK", F | R | A, true, ClassTCPProbe, true},
		{"SYN-ACK", S | A, true, ClassTCPReply, false},
		{"RST", R, true, ClassTCPReply, false},
		{"RST-ACK", R | A, true, ClassTCPReply, false},
		{"FIN scan", F, true, ClassTCPProbe, true},
		{"NULL scan (or a tiny first fragment)", 0, true, ClassTCPProbe, true},
		{"Xmas scan", F | P | U, true, ClassTCPProbe, true},
		{"Maimon FIN-ACK", F | A, true, ClassTCPReply, false},
		{"URG-ACK", U | A, true, ClassTCPProbe, false},
		{"pure ACK (ACK/window probe; benign streams are bypassed)", A, true, ClassTCPAck, false},
		{"PSH-ACK (a probe with nmap --scanflags ACKPSH; benign streams are bypassed)", P | A, true, ClassTCPAck, false},
		{"ACK+ECE", A | 0x40, true, ClassTCPAck, false},
	} {
		class, copied, drop := classify(c.flags)
		if copied != c.copied || class != c.class || drop != c.drop {
			t.Errorf("%s: copied %v class %v drop %v, want %v %v %v", c.name, copied, class, drop, c.copied, c.class, c.drop)
		}
	}
}

func TestWatchClass(t *testing.T) {
	pi := &ofp.PacketIn{TableID: forward.TableWatch, Cookie: forward.Cookie(forward.KindWatch, uint64(ClassUDP))}
	if c, ok := WatchClass(pi); !ok || c != ClassUDP {
		t.Errorf("WatchClass = %v, %v", c, ok)
	}
	for _, bad := range []*ofp.PacketIn{
		{TableID: forward.TableLearn, Cookie: forward.Cookie(forward.KindBase, 0)},
		{TableID: forward.TableWatch, Cookie: 0x1234},
		{TableID: forward.TableWatch, Cookie: forward.Cookie(forward.KindWatch, 99)},
	} {
		if _, ok := WatchClass(bad); ok {
			t.Errorf("WatchClass(%+v) ok", bad)
		}
	}
}

func TestBypassFlow(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	p := Pair{Src: a, Dst: b, Proto: 17, DstPort: 53, InPort: 1, DstInPort: 2}
	fm, err := BypassFlow(p, 30)
	if err != nil {
		t.Fatal(err)
	}
	wire(t, []ofp.Message{fm})
	if fm.TableID != forward.TableWatch || fm.Priority != forward.PriorityBypass || fm.IdleTimeout != 30 || fm.HardTimeout != 0 {
		t.Errorf("bypass %+v", fm)
	}
	if k, _ := forward.CookieKind(fm.Cookie); k != forward.KindBypass {
		t.Errorf("kind %v", k)
	}
	if !hasField(fm.Match, ofp.OXMIPv4Src, a.AsSlice()) || !hasField(fm.Match, ofp.OXMIPv4Dst, b.AsSlice()) ||
		!hasField(fm.Match, ofp.OXMUDPDst, []byte{0, 53}) || !hasField(fm.Match, ofp.OXMIPProto, []byte{17}) {
		t.Errorf("match %+v", fm.Match)
	}
	if in, ok := fm.Match.InPort(); !ok || in != 1 {
		t.Errorf("bypass ingress %d %v, want in_port 1 (where its source lives)", in, ok)
	}
	if _, ok := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMUDPSrc); ok {
		t.Error("source port 0 should be a wildcard")
	}
	if g := fm.Instructions[0].(*ofp.InstrGotoTable); len(fm.Instructions) != 1 || g.TableID != forward.TableLearn {
		t.Errorf("instructions %+v", fm.Instructions)
	}

	r, _ := BypassFlow(p.Reverse(), 30)
	if in, _ := r.Match.InPort(); !hasField(r.Match, ofp.OXMIPv4Src, b.AsSlice()) || !hasField(r.Match, ofp.OXMUDPSrc, []byte{0, 53}) || in != 2 {
		t.Errorf("reverse match %+v", r.Match)
	}
	v6, err := BypassFlow(Pair{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: 6, DstPort: 22, InPort: 3}, 30)
	if err != nil || !hasField(v6.Match, ofp.OXMEthType, []byte{0x86, 0xdd}) || !hasField(v6.Match, ofp.OXMTCPDst, []byte{0, 22}) {
		t.Errorf("IPv6 bypass %+v %v", v6, err)
	}

	for _, bad := range []Pair{
		{Src: a, Dst: netip.MustParseAddr("2001:db8::2"), Proto: 17},
		{Src: a, Proto: 17},
		{Src: a, Dst: b, Proto: 1},
		{Src: a, Dst: b, Proto: 58, InPort: 1},
		{Src: a, Dst: b, Proto: 1, ICMPType: 3, InPort: 1},             // an ICMP error: never bypassed
		{Src: a, Dst: b, Proto: 58, ICMPType: 128, InPort: 1},          // ICMPv6 with IPv4 addresses
		{Src: a, Dst: b, Proto: 1, ICMPType: 8, DstPort: 7, InPort: 1}, // ports on ICMP
		{Src: a, Dst: b, Proto: 17},                                    // no ingress port
		{Src: a, Dst: b, Proto: 17, InPort: ofp.PortController},        // a reserved port
	} {
		if _, err := BypassFlow(bad, 30); !errors.Is(err, ErrBadPair) {
			t.Errorf("BypassFlow(%+v) err %v", bad, err)
		}
	}
	// Echo pairs: requests one way, replies the other, each from where its sender lives.
	e := EchoPair(a, b, 1, 2)
	req, err := BypassFlow(e, 30)
	if err != nil || !hasField(req.Match, ofp.OXMICMPv4Type, []byte{8}) || !hasField(req.Match, ofp.OXMIPProto, []byte{1}) {
		t.Errorf("echo request bypass %+v %v", req, err)
	}
	rep, err := BypassFlow(e.Reverse(), 30)
	if in, _ := rep.Match.InPort(); err != nil || !hasField(rep.Match, ofp.OXMICMPv4Type, []byte{0}) || in != 2 ||
		!hasField(rep.Match, ofp.OXMIPv4Src, b.AsSlice()) {
		t.Errorf("echo reply bypass %+v %v", rep, err)
	}
	e6 := EchoPair(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 1, 2)
	r6, err := BypassFlow(e6.Reverse(), 30)
	if err != nil || !hasField(r6.Match, ofp.OXMICMPv6Type, []byte{129}) || !hasField(r6.Match, ofp.OXMIPProto, []byte{58}) {
		t.Errorf("ICMPv6 echo reply bypass %+v %v", r6, err)
	}
	wire(t, []ofp.Message{req, rep, r6})

	d, err := BypassDelete(p)
	if err != nil || d.Command != ofp.FlowDeleteStrict || d.Priority != forward.PriorityBypass || len(d.Match.Fields) != len(fm.Match.Fields) {
		t.Errorf("bypass delete %+v %v", d, err)
	}
}

func block(scope Scope, ips ...string) Block {
	b := Block{ID: "blk-1", Source: Source{DPID: 7, Port: 3, MAC: macS}, IPBound: true, Scope: scope,
		Created: t0, Expires: t0.Add(10 * time.Minute), Reason: "test", Kind: "port-scan"}
	for _, s := range ips {
		b.IPs = append(b.IPs, netip.MustParseAddr(s))
	}
	return b
}

func TestBlockFlows(t *testing.T) {
	b := block(ScopeNetwork, "10.0.0.9", "2001:db8::9")
	ingress := flowMods(t, BlockFlows(b, 7, t0))
	wire(t, BlockFlows(b, 7, t0))
	if len(ingress) != 3 {
		t.Fatalf("ingress: %d flows, want MAC + 2 IPs", len(ingress))
	}
	for _, fm := range ingress {
		if fm.TableID != forward.TableAdmission || fm.Priority != forward.PriorityBlock || fm.HardTimeout != 600 ||
			fm.Cookie != BlockCookie("blk-1") || len(fm.Instructions) != 0 || fm.Command != ofp.FlowAdd {
			t.Errorf("ingress flow %+v", fm)
		}
		if !hasField(fm.Match, ofp.OXMInPort, []byte{0, 0, 0, 3}) {
			t.Errorf("ingress flow without in_port: %+v", fm.Match)
		}
	}
	if !hasField(ingress[0].Match, ofp.OXMEthSrc, macS[:]) {
		t.Errorf("first flow %+v", ingress[0].Match)
	}
	if !hasField(ingress[1].Match, ofp.OXMIPv4Src, []byte{10, 0, 0, 9}) || !hasField(ingress[1].Match, ofp.OXMEthType, []byte{8, 0}) {
		t.Errorf("IPv4 flow %+v", ingress[1].Match)
	}
	if !hasField(ingress[2].Match, ofp.OXMIPv6Src, netip.MustParseAddr("2001:db8::9").AsSlice()) {
		t.Errorf("IPv6 flow %+v", ingress[2].Match)
	}

	// Elsewhere: the MAC only. The addresses are known to live behind the ingress port, not
	// anywhere else, and a drop by address alone could hit the owner of a spoofed one.
	other := flowMods(t, BlockFlows(b, 8, t0))
	if len(other) != 1 || len(other[0].Match.Fields) != 1 || !hasField(other[0].Match, ofp.OXMEthSrc, macS[:]) {
		t.Fatalf("other switch: %+v, want one eth_src flow", other)
	}

	if n := len(BlockFlows(block(ScopeIngress, "10.0.0.9"), 8, t0)); n != 0 {
		t.Errorf("ingress-scoped block sends %d flows to another switch", n)
	}
	unbound := block(ScopeNetwork, "10.0.0.9")
	unbound.IPBound = false
	for _, dpid := range []uint64{7, 8} {
		for _, fm := range flowMods(t, BlockFlows(unbound, dpid, t0)) {
			if _, ok := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMIPv4Src); ok {
				t.Errorf("unbound IP blocked on %d", dpid)
			}
		}
	}
}

func TestBlockHardTimeout(t *testing.T) {
	for _, c := range []struct {
		name    string
		expires time.Time
		at      time.Time
		flows   bool
		hard    uint16
	}{
		{"full", t0.Add(10 * time.Minute), t0, true, 600},
		{"rounded up", t0.Add(10 * time.Minute), t0.Add(500 * time.Millisecond), true, 600},
		{"last second", t0.Add(time.Second), t0.Add(999 * time.Millisecond), true, 1},
		{"18h fits", t0.Add(65535 * time.Second), t0, true, 65535},
		{"longer than a flow can carry", t0.Add(24 * time.Hour), t0, true, 0},
		{"no expiry", time.Time{}, t0, true, 0},
		{"expired", t0.Add(time.Minute), t0.Add(time.Minute), false, 0},
	} {
		b := block(ScopeIngress)
		b.Expires = c.expires
		fms := flowMods(t, BlockFlows(b, 7, c.at))
		if (len(fms) > 0) != c.flows {
			t.Errorf("%s: %d flows", c.name, len(fms))
			continue
		}
		if c.flows && fms[0].HardTimeout != c.hard {
			t.Errorf("%s: hard timeout %d, want %d", c.name, fms[0].HardTimeout, c.hard)
		}
	}
}

func TestBlockCookie(t *testing.T) {
	a, b := BlockCookie("a"), BlockCookie("b")
	if a == b {
		t.Error("different ids, same cookie")
	}
	if BlockCookie("a") != a {
		t.Error("cookie not deterministic")
	}
	if k, _ := forward.CookieKind(a); k != forward.KindBlock {
		t.Errorf("kind %v", k)
	}
	blk := block(ScopeIngress)
	blk.Cookie = forward.Cookie(forward.KindBlock, 42)
	if fms := flowMods(t, BlockFlows(blk, 7, t0)); fms[0].Cookie != blk.Cookie {
		t.Error("explicit cookie ignored")
	}
	un := flowMods(t, UnblockFlows(blk))
	if len(un) != 1 || un[0].Command != ofp.FlowDelete || un[0].Cookie != blk.Cookie || un[0].CookieMask != forward.CookieExactMask {
		t.Errorf("unblock %+v", un)
	}
}

func TestEscalation(t *testing.T) {
	for _, c := range []struct {
		ds    []time.Duration
		prior int
		want  time.Duration
	}{
		{nil, 0, 10 * time.Minute},
		{nil, 1, time.Hour},
		{nil, 2, 24 * time.Hour},
		{nil, 3, 7 * 24 * time.Hour},
		{nil, 50, 7 * 24 * time.Hour},
		{nil, -1, 10 * time.Minute},
		{[]time.Duration{time.Minute, 2 * time.Minute}, 1, 2 * time.Minute},
		{[]time.Duration{time.Minute, 2 * time.Minute}, 5, 2 * time.Minute},
	} {
		if got := Escalation(c.ds, c.prior); got != c.want {
			t.Errorf("Escalation(%v, %d) = %v, want %v", c.ds, c.prior, got, c.want)
		}
	}
}

func TestScope(t *testing.T) {
	for _, s := range []Scope{ScopeIngress, ScopeNetwork} {
		if got, err := ParseScope(s.String()); err != nil || got != s {
			t.Errorf("ParseScope(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseScope("everywhere"); err == nil {
		t.Error("bad scope accepted")
	}
}

func TestAllowlist(t *testing.T) {
	l, err := ParseAllowlist([]string{
		"10.1.0.0/16",
		"192.168.1.5",
		"172.16.0.0/12:22,80,8000-8100",
		"2001:db8::/32",
		"[2001:db8:ffff::1]:443",
		"fe80::1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 6 {
		t.Errorf("Len %d", l.Len())
	}
	for _, c := range []struct {
		ip   string
		port uint16
		want bool
	}{
		{"10.1.2.3", 0, true},
		{"10.1.2.3", 443, true},
		{"10.2.0.1", 443, false},
		{"192.168.1.5", 53, true},
		{"192.168.1.6", 53, false},
		{"172.20.0.1", 22, true},
		{"172.20.0.1", 8050, true},
		{"172.20.0.1", 8101, false},
		{"172.20.0.1", 0, false}, // ICMP: a port-limited entry does not cover it
		{"2001:db8:1::5", 9, true},
		{"2001:db9::5", 9, false},
		{"fe80::1", 0, true},
		{"::ffff:10.1.0.1", 0, true}, // IPv4-mapped
	} {
		if got := l.Contains(netip.MustParseAddr(c.ip), c.port); got != c.want {
			t.Errorf("Contains(%s, %d) = %v, want %v", c.ip, c.port, got, c.want)
		}
	}
	if !l.ContainsAddr(netip.MustParseAddr("172.20.0.1")) || l.ContainsAddr(netip.MustParseAddr("8.8.8.8")) {
		t.Error("ContainsAddr wrong")
	}
	var empty *Allowlist
	if empty.Contains(netip.MustParseAddr("10.1.2.3"), 0) || empty.ContainsAddr(netip.MustParseAddr("10.1.2.3")) || empty.Len() != 0 {
		t.Error("nil list not empty")
	}
	for _, bad := range []string{"", "10.0.0.0/33", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:", "10.0.0.1:80-20",
		"[2001:db8::1", "[2001:db8::1]443", "not-an-ip", "10.0.0.1:http"} {
		if _, err := ParseAllowEntry(bad); err == nil {
			t.Errorf("ParseAllowEntry(%q) accepted", bad)
		}
	}
	// String round-trips.
	for _, e := range l.Entries() {
		back, err := ParseAllowEntry(e.String())
		if err != nil || back.String() != e.String() {
			t.Errorf("%q does not round-trip: %v %v", e.String(), back, err)
		}
	}
	// Host bits set is a typo, refused as config check refuses it (it used to be masked here).
	if e, err := ParseAllowEntry("10.1.2.3/8"); err == nil {
		t.Errorf("10.1.2.3/8 accepted as %v", e)
	}
}

// Issue 12, item 2: the policy reads the allowlist grammar table as config, the API and the CLI do.
func TestAllowlistGrammarTable(t *testing.T) {
	for _, c := range allowtest.Cases(t, allowtest.Table()) {
		l, err := ParseAllowlist([]string{c.Entry})
		switch {
		case c.Err != "" && (err == nil || !strings.Contains(err.Error(), c.Err)):
			t.Errorf("ParseAllowlist(%q): %v; want an error with %q", c.Entry, err, c.Err)
		case c.Err == "" && err != nil:
			t.Errorf("ParseAllowlist(%q): %v", c.Entry, err)
		case c.Err == "" && l.Entries()[0].String() != c.Canonical:
			t.Errorf("ParseAllowlist(%q) = %v; want %s", c.Entry, l.Entries()[0], c.Canonical)
		}
	}
}

// Issue 8, item 2: noisy-service exemptions apply only to the protocol, direction and addresses
// the service uses, never because of a source port.
func TestNoisyService(t *testing.T) {
	ip := netip.MustParseAddr
	uni, bc := ip("10.0.0.2"), ip("255.255.255.255")
	for _, c := range []struct {
		proto        uint8
		dst          netip.Addr
		sport, dport uint16
		want         bool
	}{
		{17, bc, 68, 67, true}, {17, uni, 68, 67, true}, {17, uni, 67, 68, true}, {17, ip("ff02::1:2"), 546, 547, true},
		{17, bc, 137, 137, true}, {17, uni, 138, 138, true}, {17, ip("224.0.0.251"), 5353, 5353, true},
		{17, ip("ff02::fb"), 40000, 5353, true}, {17, ip("239.255.255.250"), 40000, 1900, true},
		{17, ip("224.0.0.252"), 40000, 5355, true},
		// a source port buys nothing
		{17, uni, 67, 80, false}, {17, uni, 137, 161, false}, {17, uni, 5353, 53, false}, {17, uni, 53, 40000, false},
		{17, uni, 40000, 5353, false}, {17, uni, 40000, 137, false},
		{6, uni, 67, 80, false}, {6, uni, 5353, 22, false}, {6, uni, 40000, 5355, false}, {6, uni, 137, 139, false},
	} {
		if got := NoisyService(c.proto, c.dst, c.sport, c.dport); got != c.want {
			t.Errorf("NoisyService(%d, %v, %d, %d) = %v", c.proto, c.dst, c.sport, c.dport, got)
		}
	}
}

// asStats turns flow-mods into the flow stats a switch would report, with the match fields in
// reverse order (a switch uses its own order).
func asStats(msgs []ofp.Message) []ofp.FlowStats {
	var fs []ofp.FlowStats
	for _, m := range msgs {
		fm := m.(*ofp.FlowMod)
		fields := slices.Clone(fm.Match.Fields)
		slices.Reverse(fields)
		fs = append(fs, ofp.FlowStats{TableID: fm.TableID, Priority: fm.Priority, HardTimeout: fm.HardTimeout,
			Cookie: fm.Cookie, Match: ofp.Match{Fields: fields}})
	}
	return fs
}

func TestReconcile(t *testing.T) {
	b1 := block(ScopeNetwork, "10.0.0.9")
	b2 := block(ScopeIngress)
	b2.ID, b2.Source.Port, b2.Source.MAC = "blk-2", 4, [6]byte{2, 0, 0, 0, 0, 2}
	b3 := block(ScopeIngress)
	b3.ID, b3.Source.Port, b3.Source.MAC = "blk-3", 5, [6]byte{2, 0, 0, 0, 0, 3}
	const dpid = 7
	have := asStats(append(BlockInstall(b1, dpid, t0), BlockInstall(b2, dpid, t0)...))
	foreign := ofp.FlowStats{TableID: 0, Priority: 40000, Cookie: 0xdead}
	base := ofp.FlowStats{TableID: 0, Cookie: forward.Cookie(forward.KindBase, 0)}
	have = append(have, foreign, base)
	later := t0.Add(time.Minute)

	t.Run("in sync", func(t *testing.T) {
		if msgs := Reconcile([]Block{b1, b2}, have, dpid, later); len(msgs) != 0 {
			t.Errorf("sends %d messages", len(msgs))
		}
	})
	t.Run("stale and missing", func(t *testing.T) {
		msgs := Reconcile([]Block{b1, b3}, have, dpid, later)
		wire(t, msgs)
		fms := flowMods(t, msgs)
		if len(fms) != 1+len(BlockInstall(b3, dpid, later)) {
			t.Fatalf("got %d flow-mods, want add b3 (drops and guards) + delete b2", len(fms))
		}
		if fms[0].Command != ofp.FlowAdd || fms[0].Cookie != b3.FlowCookie() || fms[0].HardTimeout != 540 {
			t.Errorf("first %+v, want add of b3 with 9 min left", fms[0])
		}
		last := fms[len(fms)-1]
		if last.Command != ofp.FlowDelete || last.Cookie != b2.FlowCookie() || last.CookieMask != forward.CookieExactMask {
			t.Errorf("last %+v, want delete of b2 (after the adds)", last)
		}
	})
	t.Run("partly missing", func(t *testing.T) {
		// A flow of b1 deleted by hand: b1's flows are added again and
		// nothing of b1 is deleted, so it never drops nothing.
		partial := slices.DeleteFunc(slices.Clone(have), func(f ofp.FlowStats) bool {
			_, isIP := f.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMIPv4Src)
			return isIP
		})
		fms := flowMods(t, Reconcile([]Block{b1, b2}, partial, dpid, later))
		if len(fms) != len(BlockInstall(b1, dpid, later)) {
			t.Errorf("got %d flow-mods, want b1's %d re-added", len(fms), len(BlockInstall(b1, dpid, later)))
		}
		for _, fm := range fms {
			if fm.Cookie != b1.FlowCookie() || fm.Command != ofp.FlowAdd {
				t.Errorf("flow-mod %+v: want only adds of b1", fm)
			}
		}
	})
	t.Run("extra flow", func(t *testing.T) {
		// A flow under b1's cookie that b1 does not install (a leftover
		// of an older layout): deleted strictly, after b1's adds.
		extra := ofp.FlowStats{TableID: 0, Priority: 39999, Cookie: b1.FlowCookie(),
			Match: ofp.Match{Fields: []ofp.OXM{{Class: ofp.OXMClassOpenflowBasic, Field: ofp.OXMInPort, Value: []byte{0, 0, 0, 9}}}}}
		msgs := Reconcile([]Block{b1, b2}, append(slices.Clone(have), extra), dpid, later)
		wire(t, msgs)
		fms := flowMods(t, msgs)
		last := fms[len(fms)-1]
		if last.Command != ofp.FlowDeleteStrict || last.Cookie != b1.FlowCookie() || last.Priority != 39999 ||
			len(last.Match.Fields) != 1 || last.CookieMask != forward.CookieExactMask {
			t.Errorf("last %+v, want a strict delete of the extra flow", last)
		}
		for _, fm := range fms[:len(fms)-1] {
			if fm.Command != ofp.FlowAdd || fm.Cookie != b1.FlowCookie() {
				t.Errorf("flow-mod %+v: want adds of b1 before the delete", fm)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		fms := flowMods(t, Reconcile([]Block{b1, b2}, have, dpid, t0.Add(time.Hour)))
		if len(fms) != 2 || fms[0].Command != ofp.FlowDelete || fms[1].Command != ofp.FlowDelete {
			t.Errorf("got %+v, want both expired blocks deleted", fms)
		}
	})
	t.Run("other switch", func(t *testing.T) {
		// On switch 8 the ingress-scoped b2 must not exist; network-scoped b1 has other flows.
		fms := flowMods(t, Reconcile([]Block{b1, b2}, have, 8, later))
		var dels, adds int
		for _, fm := range fms {
			switch fm.Command {
			case ofp.FlowDelete:
				dels++
			case ofp.FlowAdd:
				adds++
				if _, ok := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMInPort); ok {
					t.Errorf("in_port on another switch")
				}
			}
		}
		if dels != 1 || adds != len(BlockInstall(b1, 8, later)) {
			t.Errorf("%d deletes, %d adds; want b1's flows for switch 8 added, b2 removed", dels, adds)
		}
		// b1's flows for switch 7 (in_port, IP) that switch 8 must not
		// have go one by one, after the adds: b1 always drops something.
		var strict int
		for _, fm := range fms {
			if fm.Command == ofp.FlowDeleteStrict {
				strict++
				if fm.Cookie != b1.FlowCookie() {
					t.Errorf("strict delete of %+v, want only b1's extra flows", fm)
				}
			}
		}
		if strict == 0 {
			t.Error("no strict delete of b1's flows that switch 8 must not have")
		}
	})
	t.Run("empty switch", func(t *testing.T) {
		fms := flowMods(t, Reconcile([]Block{b1, b2, b1}, nil, dpid, later))
		if want := len(BlockInstall(b1, dpid, later)) + len(BlockInstall(b2, dpid, later)); len(fms) != want {
			t.Errorf("got %d adds, want %d (b1 twice in want counts once)", len(fms), want)
		}
	})
}

func TestBlockFlowsRequest(t *testing.T) {
	r := BlockFlowsRequest()
	wire(t, []ofp.Message{r})
	fr := r.Body.(*ofp.FlowStatsRequest)
	if fr.TableID != ofp.TableAll || fr.Cookie != forward.Cookie(forward.KindBlock, 0) || fr.CookieMask != forward.CookieKindMask {
		t.Errorf("request %+v", fr)
	}
}

func FuzzParseAllowEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1:22,80-90", "[2001:db8::/32]:443", "::1", "[::1]", "1.2.3.4/0:1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseAllowEntry(s)
		if err != nil {
			return
		}
		back, err := ParseAllowEntry(e.String())
		if err != nil {
			t.Fatalf("%q parsed to %q, which does not parse: %v", s, e.String(), err)
		}
		if back.String() != e.String() {
			t.Fatalf("%q -> %q -> %q", s, e.String(), back.String())
		}
		l := NewAllowlist(e)
		if len(e.Ports) == 0 && !l.ContainsAddr(e.Prefix.Addr()) {
			t.Fatalf("%q does not contain its own address", s)
		}
	})
}

func BenchmarkReconcile(b *testing.B) {
	var want []Block
	for i := range 200 {
		blk := block(ScopeNetwork, "10.0.0.9")
		blk.ID = "blk-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		blk.Source.Port = uint32(i)
		want = append(want, blk)
	}
	var msgs []ofp.Message
	for _, blk := range want {
		msgs = append(msgs, BlockFlows(blk, 7, t0)...)
	}
	have := asStats(msgs)
	b.ReportAllocs()
	for b.Loop() {
		Reconcile(want, have, 7, t0)
	}
}

// The first-contact flows meter the SYN itself (a meter instruction, before
// the copy), per port, above every other watch rule but below bypass flows.
func TestFirstContactFlows(t *testing.T) {
	msgs := FirstContactFlows(3, FirstContactConfig{Rate: 50, Burst: 2})
	var meter *ofp.MeterMod
	var flows []*ofp.FlowMod
	for _, m := range msgs {
		switch m := m.(type) {
		case *ofp.MeterMod:
			if m.Command == ofp.MeterAdd {
				meter = m
			}
		case *ofp.FlowMod:
			flows = append(flows, m)
		}
	}
	if meter == nil || meter.MeterID != FirstContactMeterBase+3 || len(meter.Bands) != 1 ||
		meter.Bands[0].Rate != 50 || meter.Bands[0].BurstSize != 2 || meter.Bands[0].Type != ofp.MeterBandDrop {
		t.Fatalf("meter %+v", meter)
	}
	if len(flows) != 2 {
		t.Fatalf("%d flows, want IPv4 and IPv6", len(flows))
	}
	for _, fm := range flows {
		if in, ok := fm.Match.InPort(); !ok || in != 3 {
			t.Errorf("flow not bound to port 3: %+v", fm.Match)
		}
		if fm.Priority <= 1900 || fm.Priority >= forward.PriorityBypass || fm.TableID != forward.TableWatch {
			t.Errorf("priority %d table %d", fm.Priority, fm.TableID)
		}
		mi, ok := fm.Instructions[0].(*ofp.InstrMeter)
		if !ok || mi.MeterID != meter.MeterID {
			t.Errorf("first instruction %+v, want the port's meter", fm.Instructions[0])
		}
		if fm.Cookie != FirstContactCookie(3) {
			t.Errorf("cookie %#x", fm.Cookie)
		}
	}
	if FirstContactFlows(ofp.PortLocal, FirstContactConfig{}) != nil {
		t.Error("a reserved port got a meter")
	}
	del := FirstContactDelete(3)
	if fm, ok := del[0].(*ofp.FlowMod); !ok || fm.Command != ofp.FlowDelete || fm.Cookie != FirstContactCookie(3) ||
		fm.CookieMask != forward.CookieExactMask {
		t.Errorf("delete %+v", del[0])
	}
}

// The guards of a block (BlockInstall): after the drops, one priority above
// them, each a drop flow's match plus ECN CE (IPv4, IPv6) or ARP opcode 255,
// so they drop only what the block drops; same cookie and hard timeout.
func TestBlockInstallGuard(t *testing.T) {
	for _, c := range []struct {
		dpid   uint64
		guards int
	}{
		{7, 3 + 1}, // MAC flow: IPv4, IPv6, ARP; IPv4 flow: IPv4
		{8, 3},     // elsewhere the MAC flow only
	} {
		b := block(ScopeNetwork, "10.0.0.9")
		drops := flowMods(t, BlockFlows(b, c.dpid, t0))
		all := flowMods(t, BlockInstall(b, c.dpid, t0))
		wire(t, BlockInstall(b, c.dpid, t0))
		if len(all) != len(drops)+c.guards {
			t.Fatalf("dpid %d: %d flows, want the %d drops and %d guards", c.dpid, len(all), len(drops), c.guards)
		}
		for i, d := range drops {
			if !reflect.DeepEqual(all[i], d) {
				t.Errorf("dpid %d: flow %d is not drop flow %d", c.dpid, i, i)
			}
		}
		for _, g := range all[len(drops):] {
			if g.Priority != forward.PriorityBlock+1 || g.Cookie != b.FlowCookie() || g.HardTimeout != drops[0].HardTimeout ||
				len(g.Instructions) != 0 || g.TableID != forward.TableAdmission {
				t.Errorf("dpid %d: guard %+v", c.dpid, g)
			}
			_, ecn := g.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMIPECN)
			_, op := g.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMARPOp)
			if !hasField(g.Match, ofp.OXMIPECN, []byte{3}) && !hasField(g.Match, ofp.OXMARPOp, []byte{0, 0xff}) || ecn == op {
				t.Errorf("dpid %d: guard match %+v", c.dpid, g.Match)
			}
			// It narrows one of the drop flows: every field of that flow is in it.
			narrows := false
			for _, d := range drops {
				all := true
				for _, f := range d.Match.Fields {
					all = all && hasField(g.Match, f.Field, f.Value)
				}
				narrows = narrows || all
			}
			if !narrows {
				t.Errorf("dpid %d: guard %+v narrows no drop flow", c.dpid, g.Match)
			}
		}
	}
	if n := len(BlockInstall(block(ScopeIngress), 8, t0)); n != 0 {
		t.Errorf("ingress-scoped block installs %d flows on another switch", n)
	}
}
