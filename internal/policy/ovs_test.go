package policy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/forward"
	"portcullis/internal/packet"
	"portcullis/internal/testenv"
	"portcullis/ofp"
)

// ovsBridge is a throwaway Open vSwitch (its own ovsdb-server and ovs-vswitchd in a temporary run
// directory) with one userspace (netdev) bridge.
type ovsBridge struct {
	t      *testing.T
	dir    string
	name   string
	netns  bool
	env    []string
	conn   net.Conn
	xid    uint32
	hdrBuf [ofp.HeaderLen]byte
}

func startOVS(t *testing.T) *ovsBridge {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Open vSwitch daemons")
	}
	testenv.Root(t, "runs Open vSwitch")
	testenv.Tool(t, "ip", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl")
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	if _, err := os.Stat(schema); err != nil {
		testenv.Missing(t, "no OVS schema at %s: apt-get install openvswitch-switch", schema)
	}
	dir, err := os.MkdirTemp("/tmp", "pcpol")
	if err != nil {
		t.Fatal(err)
	}
	b := &ovsBridge{t: t, dir: dir, name: fmt.Sprintf("pcpol%d", os.Getpid()%100000)}
	b.env = append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir, "OVS_SYSCONFDIR="+dir)
	t.Cleanup(b.stop)
	db := filepath.Join(dir, "conf.db")
	sock := "unix:" + filepath.Join(dir, "db.sock")
	b.run("ovsdb-tool", "create", db, schema)
	b.run("ovsdb-server", db, "--remote=punix:"+filepath.Join(dir, "db.sock"), "--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--detach")
	b.run("ovs-vsctl", "--db="+sock, "--no-wait", "init")
	// The userspace datapath owns a tap device named ovs-netdev: one per network namespace, so the
	// daemon gets a namespace of its own and cannot collide with another Open vSwitch.
	b.run("ip", "netns", "add", b.name)
	b.netns = true
	b.run("ip", "netns", "exec", b.name, "ovs-vswitchd", sock, "--pidfile="+filepath.Join(dir, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(dir, "ovs-vswitchd.log"), "--detach")
	b.run("ovs-vsctl", "--db="+sock, "--timeout=10", "add-br", b.name, "--", "set", "bridge", b.name,
		"datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=secure")
	b.connect()
	return b
}

func (b *ovsBridge) run(name string, args ...string) string {
	b.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = b.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ofctl runs an ovs-ofctl command against the bridge. Its output loses the fields that change from
// run to run (durations, counters), so tests can look for whole lines.
func (b *ovsBridge) ofctl(args ...string) string {
	b.t.Helper()
	mgmt := "unix:" + filepath.Join(b.dir, b.name+".mgmt")
	out := b.run("ovs-ofctl", append([]string{"-O", "OpenFlow13", args[0], mgmt}, args[1:]...)...)
	out = durationRE.ReplaceAllString(out, "")
	return countersRE.ReplaceAllString(out, "")
}

var (
	durationRE = regexp.MustCompile(`duration=[0-9.]+s, `)
	countersRE = regexp.MustCompile(`n_packets=\d+, n_bytes=\d+, `)
)

// stop ends the daemons this test started (by their pid files) and removes the run directory.
func (b *ovsBridge) stop() {
	if b.conn != nil {
		b.conn.Close()
	}
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		ctl := filepath.Join(b.dir, d+".ctl")
		if _, err := os.Stat(ctl); err == nil {
			cmd := exec.Command("ovs-appctl", "-t", ctl, "exit")
			cmd.Env = b.env
			cmd.Run()
		}
		pb, err := os.ReadFile(filepath.Join(b.dir, d+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(pb))); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
	if b.netns {
		exec.Command("ip", "netns", "del", b.name).Run()
	}
	if os.Getenv("PCPOL_KEEP") == "" {
		os.RemoveAll(b.dir)
	}
}

// connect opens an OpenFlow 1.3 connection to the bridge's management socket and exchanges HELLOs.
func (b *ovsBridge) connect() {
	b.t.Helper()
	mgmt := filepath.Join(b.dir, b.name+".mgmt")
	var err error
	for range 50 {
		if b.conn, err = net.Dial("unix", mgmt); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("connect %s: %v", mgmt, err)
	}
	b.send(ofp.NewHello(ofp.Version))
	if _, m := b.read(); m.Type() != ofp.TypeHello {
		b.t.Fatalf("first message %v, want HELLO", m.Type())
	}
}

func (b *ovsBridge) send(m ofp.Message) uint32 {
	b.t.Helper()
	b.xid++
	if _, err := b.conn.Write(ofp.Marshal(b.xid, m)); err != nil {
		b.t.Fatal(err)
	}
	return b.xid
}

func (b *ovsBridge) read() (ofp.Header, ofp.Message) {
	b.t.Helper()
	b.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(b.conn, b.hdrBuf[:]); err != nil {
		b.t.Fatal(err)
	}
	h, err := ofp.ParseHeader(b.hdrBuf[:])
	if err != nil {
		b.t.Fatal(err)
	}
	msg := make([]byte, h.Length)
	copy(msg, b.hdrBuf[:])
	if _, err := io.ReadFull(b.conn, msg[ofp.HeaderLen:]); err != nil {
		b.t.Fatal(err)
	}
	h, m, err := ofp.Unmarshal(msg)
	if err != nil {
		b.t.Fatalf("decode %x: %v", msg, err)
	}
	return h, m
}

// apply sends msgs and a barrier and fails the test for every OFPT_ERROR the switch answers with.
func (b *ovsBridge) apply(what string, msgs []ofp.Message) {
	b.t.Helper()
	sent := map[uint32]ofp.Message{}
	for _, m := range msgs {
		sent[b.send(m)] = m
	}
	bx := b.send(&ofp.BarrierRequest{})
	for {
		h, m := b.read()
		switch m := m.(type) {
		case *ofp.BarrierReply:
			if h.Xid == bx {
				return
			}
		case *ofp.Error:
			b.t.Errorf("%s: switch rejected %T %+v: %v", what, sent[h.Xid], sent[h.Xid], ofp.ErrorCodeString(m.ErrType, m.Code))
		}
	}
}

// flowStats returns the switch's flows selected by req.
func (b *ovsBridge) flowStats(req *ofp.MultipartRequest) []ofp.FlowStats {
	b.t.Helper()
	x := b.send(req)
	var parts []*ofp.MultipartReply
	for {
		h, m := b.read()
		if e, ok := m.(*ofp.Error); ok {
			b.t.Fatalf("flow stats: %v", ofp.ErrorCodeString(e.ErrType, e.Code))
		}
		r, ok := m.(*ofp.MultipartReply)
		if !ok || h.Xid != x {
			continue
		}
		parts = append(parts, r)
		if !r.More() {
			break
		}
	}
	merged, err := ofp.MergeMultipart(parts)
	if err != nil {
		b.t.Fatal(err)
	}
	return merged.Body.(*ofp.FlowStatsReply).Stats
}

// TestOVSAcceptsEveryFlow sends every kind of message forward and policy generate to a real Open
// vSwitch 3.x netdev bridge and checks that none is rejected, that the flows read back as intended,
// and that reconcile of what the switch reports back finds nothing to do.
func TestOVSAcceptsEveryFlow(t *testing.T) {
	b := startOVS(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	sw := forward.NewSwitch(forward.Config{IdleTimeout: 120, ControllerMeterRate: 100})
	b.apply("forward setup", sw.Setup())
	b.apply("watch flows", WatchFlows(WatchConfig{}))
	b.apply("first-contact meter", FirstContactFlows(7, FirstContactConfig{}))
	b.apply("lookup budgets", LookupFlows(7, LookupConfig{})) // issue 8: sweeps
	b.apply("SYN counters", SYNCountFlows(7))
	b.apply("station SYN counters", SYNCountStationFlows(7, [6]byte{2, 0, 0, 0, 0, 0x77}, 5, 30))
	b.apply("answer flows", ReplyFlows(7, ReplyConfig{}))

	macA, macB := [6]byte{2, 0, 0, 0, 0, 0xa}, [6]byte{2, 0, 0, 0, 0, 0xb}
	learnMiss := func(port uint32) *ofp.PacketIn {
		return &ofp.PacketIn{TableID: forward.TableLearn, Cookie: forward.Cookie(forward.KindBase, 0),
			Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port)}}}
	}
	pA := &packet.Packet{EthSrc: macA, EthType: 0x0800, Src: netip.MustParseAddr("10.9.0.1")}
	pB := &packet.Packet{EthSrc: macB, EthType: 0x0800, Src: netip.MustParseAddr("10.9.0.2")}
	b.apply("learn", sw.PacketIn(now, learnMiss(1), pA, nil))
	b.apply("learn", sw.PacketIn(now, learnMiss(2), pB, nil))
	// A's MAC on port 3 after its home went quiet: the move check re-adds the home's learn flow.
	b.apply("move check", sw.PacketIn(now.Add(time.Minute), learnMiss(3), pA, nil))

	dump := b.ofctl("dump-flows")
	for _, want := range []string{
		"table=0, priority=0 actions=goto_table:1",
		"table=1, priority=0 actions=goto_table:2",
		"priority=0 actions=CONTROLLER:128,goto_table:3",
		"priority=0 actions=FLOOD",
		"table=2, idle_timeout=10, send_flow_rem priority=100,in_port=1,dl_src=02:00:00:00:00:0a actions=goto_table:3",
		"table=3, idle_timeout=120, send_flow_rem priority=100,dl_dst=02:00:00:00:00:0a actions=output:1",
		"priority=1891,tcp,in_port=7,tcp_flags=+syn+ack actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1881,tcp6,in_port=7,tcp_flags=+rst actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1401,icmp,in_port=7,icmp_type=3 actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1401,icmp6,in_port=7,icmp_type=129 actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1301,arp,in_port=7 actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1301,icmp6,in_port=7,icmp_type=136 actions=controller(max_len=192,meter_id=131079),goto_table:2",
		"priority=1900,tcp,tcp_flags=+syn-ack actions=controller(max_len=192,meter_id=1),goto_table:2",
		"priority=1900,tcp6,tcp_flags=+syn-ack actions=controller(max_len=192,meter_id=1),goto_table:2",
		"priority=3100,tcp,tcp_flags=-syn-rst-ack actions=controller(max_len=192,meter_id=1)\n",
		"priority=1880,tcp,tcp_flags=+rst actions=controller(max_len=192,meter_id=2),goto_table:2",
		"priority=1500,udp actions=controller(max_len=192,meter_id=3),goto_table:2",
		"priority=1400,icmp actions=controller(max_len=192,meter_id=4),goto_table:2",
		"priority=1300,icmp6,icmp_type=135 actions=controller(max_len=192,meter_id=5),goto_table:2",
		"priority=1300,arp actions=controller(max_len=192,meter_id=5),goto_table:2",
		"priority=1840,tcp,tcp_flags=-fin-syn-rst-psh+ack-urg",
		"priority=1200,tcp actions=goto_table:2",
		"priority=1100,ip actions=controller(max_len=192,meter_id=7),goto_table:2",
		"priority=1999,tcp,in_port=7,tcp_flags=+syn-ack actions=meter:65543,controller(max_len=192,meter_id=1),goto_table:2",
		"priority=1999,tcp6,in_port=7,tcp_flags=+syn-ack actions=meter:65543,controller(max_len=192,meter_id=1),goto_table:2",
		"cookie=0x5043060002000007, table=0, priority=100,tcp,in_port=7,tcp_flags=+syn-ack actions=goto_table:1",
		"cookie=0x5043060002000007, table=0, priority=100,tcp6,in_port=7,tcp_flags=+syn-ack actions=goto_table:1",
		"cookie=0x5043068000000005, table=0, hard_timeout=30, priority=101,tcp,in_port=7,dl_src=02:00:00:00:00:77,tcp_flags=+syn-ack actions=goto_table:1",
		"cookie=0x5043068000000005, table=0, hard_timeout=30, priority=101,tcp6,in_port=7,dl_src=02:00:00:00:00:77,tcp_flags=+syn-ack actions=goto_table:1",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump-flows lacks %q:\n%s", want, dump)
		}
	}
	if strings.Contains(dump, "in_port=3,dl_src=02:00:00:00:00:0a") {
		t.Error("one frame on another port moved the MAC before the check")
	}
	meters := b.ofctl("dump-meters")
	for _, want := range []string{"meter=controller pktps burst stats bands=\ntype=drop rate=100 burst_size=50",
		"meter=1 pktps burst stats bands=\ntype=drop rate=500 burst_size=250",
		"meter=5 pktps burst stats bands=\ntype=drop rate=200 burst_size=100",
		"meter=65543 pktps burst stats bands=\ntype=drop rate=500 burst_size=4",
		"meter=131079 pktps burst stats bands=\ntype=drop rate=500 burst_size=250"} {
		if !strings.Contains(meters, want) {
			t.Errorf("dump-meters lacks %q:\n%s", want, meters)
		}
	}

	// Bypass flows (both directions, IPv4 and IPv6), and the removal of one.
	pairs := []Pair{
		{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.MustParseAddr("10.9.0.2"), Proto: 17, DstPort: 53, InPort: 1, DstInPort: 2},
		{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: 6, DstPort: 443, InPort: 1, DstInPort: 2},
		{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.MustParseAddr("10.9.0.3"), Proto: 132, SrcPort: 9, DstPort: 9, InPort: 1, DstInPort: 3},
		EchoPair(netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.4"), 1, 4),
		EchoPair(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::4"), 1, 4),
	}
	var bypass []ofp.Message
	for _, p := range pairs {
		for _, q := range []Pair{p, p.Reverse()} {
			fm, err := BypassFlow(q, 60)
			if err != nil {
				t.Fatal(err)
			}
			bypass = append(bypass, fm)
		}
	}
	b.apply("bypass", bypass)
	del, _ := BypassDelete(pairs[2])
	b.apply("bypass delete", []ofp.Message{del})
	dump = b.ofctl("dump-flows", "table=1")
	for _, want := range []string{
		"idle_timeout=60, priority=3000,udp,in_port=1,nw_src=10.9.0.1,nw_dst=10.9.0.2,tp_dst=53 actions=goto_table:2",
		"priority=3000,udp,in_port=2,nw_src=10.9.0.2,nw_dst=10.9.0.1,tp_src=53 actions=goto_table:2",
		"priority=3000,tcp6,in_port=1,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tp_dst=443 actions=goto_table:2",
		"priority=3000,icmp,in_port=1,nw_src=10.9.0.1,nw_dst=10.9.0.4,icmp_type=8 actions=goto_table:2",
		"priority=3000,icmp,in_port=4,nw_src=10.9.0.4,nw_dst=10.9.0.1,icmp_type=0 actions=goto_table:2",
		"priority=3000,icmp6,in_port=1,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::4,icmp_type=128 actions=goto_table:2",
		"priority=3000,icmp6,in_port=4,ipv6_src=2001:db8::4,ipv6_dst=2001:db8::1,icmp_type=129 actions=goto_table:2",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump-flows table=1 lacks %q:\n%s", want, dump)
		}
	}
	if strings.Contains(dump, "sctp,nw_src=10.9.0.1,nw_dst=10.9.0.3") {
		t.Error("deleted bypass still there")
	}

	// Blocks: network-wide ones with bound IPv4 and IPv6 addresses entering at this switch and at
	// another one (MAC only here), an ingress-only one long enough to need no hard timeout.
	src := Source{DPID: 1, Port: 3, MAC: macA}
	blocks := []Block{
		{ID: "b1", Source: src, IPs: []netip.Addr{netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("2001:db8::1")},
			IPBound: true, Scope: ScopeNetwork, Created: now, Expires: now.Add(10 * time.Minute)},
		{ID: "b2", Source: Source{DPID: 2, Port: 7, MAC: macB}, IPs: []netip.Addr{netip.MustParseAddr("10.9.0.2")},
			IPBound: true, Scope: ScopeNetwork, Created: now, Expires: now.Add(time.Hour)},
		{ID: "b3", Source: Source{DPID: 1, Port: 4, MAC: [6]byte{2, 0, 0, 0, 0, 0xc}}, Scope: ScopeIngress,
			Created: now, Expires: now.Add(7 * 24 * time.Hour)},
	}
	var blockMsgs []ofp.Message
	for _, bl := range blocks {
		blockMsgs = append(blockMsgs, BlockInstall(bl, 1, now)...)
	}
	b.apply("block", blockMsgs)
	dump = b.ofctl("dump-flows", "table=0")
	for _, want := range []string{
		fmt.Sprintf("cookie=%#x, table=0, hard_timeout=600, priority=40000,in_port=3,dl_src=02:00:00:00:00:0a actions=drop", blocks[0].FlowCookie()),
		"hard_timeout=600, priority=40000,in_port=3,dl_src=02:00:00:00:00:0a actions=drop",
		"hard_timeout=600, priority=40000,ip,in_port=3,nw_src=10.9.0.1 actions=drop",
		"hard_timeout=600, priority=40000,ipv6,in_port=3,ipv6_src=2001:db8::1 actions=drop",
		"hard_timeout=3600, priority=40000,dl_src=02:00:00:00:00:0b actions=drop",
		"priority=40000,in_port=4,dl_src=02:00:00:00:00:0c actions=drop",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump-flows table=0 lacks %q:\n%s", want, dump)
		}
	}

	// Reconcile against what the switch reports: nothing to do.
	have := b.flowStats(BlockFlowsRequest())
	if len(have) != len(blockMsgs) {
		t.Errorf("switch reports %d block flows, want the %d installed (drops and guards)", len(have), len(blockMsgs))
	}
	if msgs := Reconcile(blocks, have, 1, now.Add(time.Second)); len(msgs) != 0 {
		t.Errorf("reconcile of an up-to-date switch sends %d messages: %+v", len(msgs), msgs)
	}
	// b2 lifted while the controller was away, b4 added: reconcile removes b2's flows, adds b4's.
	b4 := Block{ID: "b4", Source: Source{DPID: 1, Port: 5, MAC: [6]byte{2, 0, 0, 0, 0, 0xd}}, Created: now, Expires: now.Add(time.Hour)}
	msgs := Reconcile([]Block{blocks[0], blocks[2], b4}, have, 1, now.Add(time.Second))
	b.apply("reconcile", msgs)
	dump = b.ofctl("dump-flows", "table=0")
	if strings.Contains(dump, "02:00:00:00:00:0b") || strings.Contains(dump, "10.9.0.2") {
		t.Errorf("reconcile left the lifted block's flows:\n%s", dump)
	}
	if !strings.Contains(dump, "in_port=5,dl_src=02:00:00:00:00:0d actions=drop") || !strings.Contains(dump, "in_port=3,dl_src=02:00:00:00:00:0a") {
		t.Errorf("reconcile lost or did not add blocks:\n%s", dump)
	}
	have = b.flowStats(BlockFlowsRequest())
	if msgs := Reconcile([]Block{blocks[0], blocks[2], b4}, have, 1, now.Add(2*time.Second)); len(msgs) != 0 {
		t.Errorf("second reconcile sends %d messages", len(msgs))
	}

	// Unblock, port down and flow expiry messages.
	b.apply("unblock", UnblockFlows(blocks[0]))
	dump = b.ofctl("dump-flows", "table=0")
	if strings.Contains(dump, "02:00:00:00:00:0a") || strings.Contains(dump, "10.9.0.1") {
		t.Errorf("unblock left flows:\n%s", dump)
	}
	b.apply("port down", sw.PortStatus(now, &ofp.PortStatus{Reason: ofp.PortReasonDelete, Port: ofp.Port{PortNo: 2}}, nil))
	b.apply("flow removed", sw.FlowRemoved(now.Add(time.Minute), &ofp.FlowRemoved{Cookie: forward.Cookie(forward.KindLearned, 0),
		Reason: ofp.FlowRemovedReasonIdleTimeout, TableID: forward.TableForward,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthDst(macA[:])}}}, nil))
	dump = b.ofctl("dump-flows")
	if strings.Contains(dump, "dl_src=02:00:00:00:00:0b") || strings.Contains(dump, "dl_dst=02:00:00:00:00:0b") {
		t.Errorf("port down left B's flows:\n%s", dump)
	}
	if strings.Contains(dump, "dl_src=02:00:00:00:00:0a") {
		t.Errorf("flow removal left A's learn flow:\n%s", dump)
	}

	// The plain-controller fallback is accepted too.
	b.apply("plain watch flows", WatchFlows(WatchConfig{PlainController: true}))
	if d := b.ofctl("dump-flows", "table=1"); !strings.Contains(d, "priority=1900,tcp,tcp_flags=+syn-ack actions=CONTROLLER:192,goto_table:2") {
		t.Errorf("plain watch flow missing:\n%s", d)
	}
	// Setup again (a reconnect) removes our learned flows and leaves no duplicates.
	b.apply("setup again", sw.Setup())
	if d := b.ofctl("dump-flows", "table=2"); strings.Count(d, "priority=") != 1 || !bytes.Contains([]byte(d), []byte("priority=0 actions=CONTROLLER:128,goto_table:3")) {
		t.Errorf("table 2 after a second setup:\n%s", d)
	}
}
