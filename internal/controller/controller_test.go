package controller

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/forward"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// The hosts of the tests: A and B talk, S scans V, G is the gateway.
var (
	hostA = newHost(10, 1)
	hostB = newHost(11, 2)
	hostS = newHost(66, 3)
	hostV = newHost(20, 4)
)

// docs/pipeline.md: on connect the controller deletes our base and learned
// flows, sets OFPM_CONTROLLER, installs the table-miss flows of tables 0-3,
// replaces the watch flows and their meters, then dumps our block flows
// (cookie-masked) and confirms with a barrier.
func TestConnectInstallsPipeline(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 3)
	msgs := fs.recorded(0)

	statsAt, _ := fs.waitFor(0, "flow-stats request", isBlockFlowsRequest)
	barrierAt, _ := fs.waitFor(statsAt, "barrier", isType(ofp.TypeBarrierRequest))
	if barrierAt <= statsAt {
		t.Errorf("barrier at %d, flow-stats request at %d: want the barrier after", barrierAt, statsAt)
	}

	// Base flows: one table-miss flow per table, cookie kind base, priority 0.
	base := map[uint8]*ofp.FlowMod{}
	var deletedKinds []forward.Kind
	meters := map[uint32]bool{}
	watch := map[uint16]*ofp.FlowMod{}
	counters := 0
	for i, r := range msgs {
		switch m := r.Msg.(type) {
		case *ofp.FlowMod:
			k, ours := forward.CookieKind(m.Cookie)
			if !ours {
				t.Errorf("flow-mod %d without our cookie: %#x", i, m.Cookie)
				continue
			}
			switch {
			case m.Command == ofp.FlowDelete && m.CookieMask == forward.CookieKindMask:
				deletedKinds = append(deletedKinds, k)
			case m.Command == ofp.FlowAdd && k == forward.KindBase:
				if i > statsAt {
					t.Errorf("base flow of table %d sent after the flow-stats request", m.TableID)
				}
				if m.Priority != forward.PriorityMiss || len(m.Match.Fields) != 0 {
					t.Errorf("base flow of table %d: priority %d, %d match fields; want a table-miss flow", m.TableID, m.Priority, len(m.Match.Fields))
				}
				base[m.TableID] = m
			case m.Command == ofp.FlowAdd && k == forward.KindWatch:
				if m.TableID != forward.TableWatch {
					t.Errorf("watch flow in table %d", m.TableID)
				}
				watch[m.Priority] = m
			case m.Command == ofp.FlowAdd && k == forward.KindCount:
				if m.TableID != forward.TableAdmission || m.Priority != policy.PrioritySYNCount {
					t.Errorf("counter flow in table %d at priority %d", m.TableID, m.Priority)
				}
				counters++
			}
		case *ofp.MeterMod:
			if m.Command == ofp.MeterAdd {
				meters[m.MeterID] = true
			}
		}
	}
	if counters != 2*3 {
		t.Errorf("%d SYN counter flows, want 2 (IPv4, IPv6) for each of 3 ports", counters)
	}
	for _, k := range []forward.Kind{forward.KindBase, forward.KindLearned, forward.KindWatch, forward.KindCount} {
		if !contains(deletedKinds, k) {
			t.Errorf("no delete of our %v flows on connect (deleted %v)", k, deletedKinds)
		}
	}
	for table := uint8(0); table <= 3; table++ {
		if base[table] == nil {
			t.Errorf("no base flow in table %d", table)
		}
	}
	gotoTable := func(fm *ofp.FlowMod) int {
		if fm == nil {
			return -1
		}
		for _, in := range fm.Instructions {
			if g, ok := in.(*ofp.InstrGotoTable); ok {
				return int(g.TableID)
			}
		}
		return -1
	}
	for table, next := range map[uint8]int{0: 1, 1: 2, 2: 3, 3: -1} {
		if got := gotoTable(base[table]); got != next {
			t.Errorf("base flow of table %d goes to table %d, want %d", table, got, next)
		}
	}
	if fm := base[forward.TableLearn]; fm != nil && !outputs(fm, ofp.PortController) {
		t.Errorf("table 2's miss does not copy to the controller")
	}
	if fm := base[forward.TableForward]; fm != nil && !outputs(fm, ofp.PortFlood) {
		t.Errorf("table 3's miss does not flood")
	}
	if !meters[ofp.MeterController] {
		t.Errorf("no OFPM_CONTROLLER meter added")
	}
	for _, id := range forward.WatchMeters {
		if !meters[id] {
			t.Errorf("watch meter %d not added", id)
		}
	}
	// A few rows of the watch table (docs/pipeline.md): SYN probes, RSTs, UDP, ARP.
	for _, prio := range []uint16{1900, 1880, 1500, 1300} {
		fm := watch[prio]
		if fm == nil {
			t.Errorf("no watch flow at priority %d", prio)
			continue
		}
		if gotoTable(fm) != int(forward.TableLearn) {
			t.Errorf("watch flow at priority %d does not continue to table 2", prio)
		}
	}

	var sl api.SwitchList
	h.get("/api/v1/switches", &sl)
	if len(sl.Switches) != 1 {
		t.Fatalf("switches: %+v, want one", sl.Switches)
	}
	sw := sl.Switches[0]
	if sw.DatapathID != 1 {
		t.Errorf("switch dpid %d %q", sw.DatapathID, sw.DPID)
	}
	if len(sw.Ports) != 3 {
		t.Fatalf("ports %+v, want 3", sw.Ports)
	}
	for i, p := range sw.Ports {
		want := ofconntest.Ports(3)[i]
		if p.Number != want.PortNo || p.Name != want.Name || p.MAC != want.HWAddr.String() || p.State != api.PortUp {
			t.Errorf("port %d: %+v, want %d %s %s up", i, p, want.PortNo, want.Name, want.HWAddr)
		}
	}
	eventually(t, "a switch_up event", func() bool { return len(h.events("switch_up")) == 1 })
}

// The API documents datapath ids as ovs-ofctl prints them
// (api.FormatDPID, docs/events.md): "0000000000000001", in every
// list and event.
func TestAPIDPIDFormat(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 2)
	fs.learn(hostA)
	want := api.FormatDPID(1)
	var got []string
	var sl api.SwitchList
	h.get("/api/v1/switches", &sl)
	for _, s := range sl.Switches {
		got = append(got, s.DPID)
	}
	for _, x := range h.hosts() {
		got = append(got, x.DPID)
	}
	eventually(t, "switch_up", func() bool { return len(h.events("switch_up")) > 0 })
	for _, e := range h.events("switch_up") {
		got = append(got, e.DPID)
	}
	for _, g := range got {
		if g != want {
			t.Fatalf("API shows dpid %q, documented form is %q (controller/util.go fmtDPID uses ofconn.FormatDPID, not api.FormatDPID)", g, want)
		}
	}
}

func outputs(fm *ofp.FlowMod, port uint32) bool {
	for _, in := range fm.Instructions {
		if ap, ok := in.(*ofp.InstrApplyActions); ok {
			for _, a := range ap.Actions {
				if o, ok := a.(*ofp.ActionOutput); ok && o.Port == port {
					return true
				}
			}
		}
	}
	return false
}

// A table-2 miss learns the sender on its port: the controller installs its
// table-2 (in_port, eth_src) and table-3 (eth_dst -> port) flows, and the
// host shows in the API with the address its ARP carried.
func TestLearning(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	from := fs.count()

	fs.packetIn(learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)))
	fs.packetIn(learnMiss(hostB.port, arpFrame(2, hostB.mac, hostB.ip, hostA.mac, hostA.ip)))
	for _, hh := range []host{hostA, hostB} {
		for _, table := range []uint8{forward.TableLearn, forward.TableForward} {
			fs.waitFor(from, "learned flow", func(r ofconntest.Received) bool { return learnFlowFor(r, table, hh.mac, hh.port) })
		}
	}

	hosts := map[string]api.Host{}
	for _, x := range h.hosts() {
		hosts[x.MAC] = x
	}
	for _, hh := range []host{hostA, hostB} {
		got, ok := hosts[hh.macString()]
		if !ok {
			t.Errorf("host %s not listed; hosts: %+v", hh.macString(), hosts)
			continue
		}
		if got.Port != hh.port || !contains(got.IPs, hh.ip.String()) {
			t.Errorf("host %s: %+v, want port %d with IP %s", hh.macString(), got, hh.port, hh.ip)
		}
	}
	if len(hosts) != 2 {
		t.Errorf("hosts: %+v, want A and B only", hosts)
	}
}

// An nmap-like SYN scan (watch copies of SYNs from S, RSTs from V's closed
// ports) gets S blocked at table 0: in_port+eth_src, and in_port+ip_src
// because S's address lives behind S's port; a barrier confirms it.
func TestScanIsBlocked(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()

	fs.synScan(hostS, hostS, hostV, 21, 22, 23, 25, 80, 110)

	first, _ := fs.waitFor(from, "a block drop flow", isBlockAdd)
	end, _ := fs.waitFor(first, "the barrier after the block", isType(ofp.TypeBarrierRequest))
	adds := blockAdds(fs.recorded(first)[:end-first])
	if len(adds) != 2 {
		t.Fatalf("block flows:\n%s", describe(fs.recorded(first)))
	}
	var macFlow, ipFlow bool
	for _, fm := range adds {
		if fm.Cookie != adds[0].Cookie {
			t.Errorf("block flows with different cookies %#x and %#x", fm.Cookie, adds[0].Cookie)
		}
		if in, ok := fm.Match.InPort(); !ok || in != hostS.port {
			t.Errorf("block flow without in_port=%d: %+v", hostS.port, fm.Match)
		}
		if fm.HardTimeout == 0 || fm.HardTimeout > 600 {
			t.Errorf("hard timeout %d, want the first offence's 10 minutes", fm.HardTimeout)
		}
		if mac, ok := matchEthSrc(fm.Match); ok && mac == hostS.mac && len(fm.Match.Fields) == 2 {
			macFlow = true
		}
		if ip, ok := matchIPv4Src(fm.Match); ok {
			if ip != hostS.ip {
				t.Errorf("ip_src drop for %s, want only %s", ip, hostS.ip)
			}
			ipFlow = true
		}
	}
	if !macFlow || !ipFlow {
		t.Errorf("want in_port+eth_src and in_port+ipv4_src drops; got mac=%v ip=%v", macFlow, ipFlow)
	}

	var bl []api.Block
	eventually(t, "the block in the API", func() bool { bl = h.blocks(); return len(bl) > 0 })
	if len(bl) != 1 {
		t.Fatalf("blocks %+v, want one", bl)
	}
	b := bl[0]
	if b.MAC != hostS.macString() || b.Port != hostS.port || b.Kind != "port-scan" || b.Reason == "" || b.Level != 0 {
		t.Errorf("block %+v, want port-scan of %s on port %d at level 0 with a reason", b, hostS.macString(), hostS.port)
	}
	if !contains(b.IPs, hostS.ip.String()) {
		t.Errorf("block IPs %v, want %s", b.IPs, hostS.ip)
	}
	eventually(t, "scan_detected and blocked events", func() bool {
		return len(h.events("scan_detected")) > 0 && len(h.events("blocked")) > 0
	})
	for _, e := range h.events("scan_detected", "blocked") {
		if e.MAC != hostS.macString() {
			t.Errorf("%s event about %s, want %s", e.Type, e.MAC, hostS.macString())
		}
	}
	if ev := h.events("blocked"); ev[0].BlockID != b.ID {
		t.Errorf("blocked event names block %q, API shows %q", ev[0].BlockID, b.ID)
	}
}

// scanAndControl runs a scan, then a second, known-blockable scan from a
// fresh control host on its own port, and waits for the control's block
// flows. Packet-ins are handled in order and verdicts by one goroutine in
// order, so everything the first scan caused was sent before the control's
// block. It returns the messages recorded up to the control's block.
func scanAndControl(t *testing.T, fs *fakeSwitch, control host, scan func()) []ofconntest.Received {
	t.Helper()
	from := fs.count()
	fs.learn(control)
	scan()
	fs.synScan(control, control, hostV, 1001, 1002, 1003, 1004)
	at, _ := fs.waitFor(from, "the control scanner's block", func(r ofconntest.Received) bool {
		if !isBlockAdd(r) {
			return false
		}
		fm, _ := flowMod(r)
		mac, ok := matchEthSrc(fm.Match)
		return ok && mac == control.mac
	})
	return fs.recorded(from)[:at-from]
}

// nmap -D: probes enter at S's port with S's MAC but carry other hosts'
// addresses. S is blocked by port and MAC; the decoys' addresses, which live
// behind their own ports, get no drop flow (docs/pipeline.md, IP attribution).
func TestDecoysBlockScannerOnly(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 8)
	for _, x := range []host{hostA, hostB, hostS, hostV} {
		fs.learn(x)
	}
	control := newHost(30, 7)
	before := scanAndControl(t, fs, control, func() {
		for _, p := range []uint16{21, 22, 23, 25, 80} {
			for _, as := range []host{hostA, hostS, hostB} {
				fs.synScan(hostS, as, hostV, p)
			}
		}
	})
	adds := blockAdds(before)
	if len(adds) == 0 {
		t.Fatalf("S was not blocked:\n%s", describe(before))
	}
	var scannerMAC bool
	for _, fm := range adds {
		if ip, ok := matchIPv4Src(fm.Match); ok && (ip == hostA.ip || ip == hostB.ip) {
			t.Errorf("ip_src drop flow for decoy %s: %+v", ip, fm.Match)
		}
		if mac, ok := matchEthSrc(fm.Match); ok {
			if mac != hostS.mac {
				t.Errorf("eth_src drop flow for %s, want only the scanner %s", macString(mac), hostS.macString())
			}
			if in, _ := fm.Match.InPort(); in == hostS.port {
				scannerMAC = true
			}
		}
		if in, ok := fm.Match.InPort(); ok && in != hostS.port && in != control.port {
			t.Errorf("drop flow on port %d, want only the scanner's port %d", in, hostS.port)
		}
		// A decoy scan is spoofing: from a port with one real station, the
		// port itself is dropped (issue 8, item 3).
		if in, _ := fm.Match.InPort(); in == hostS.port && len(fm.Match.Fields) == 1 {
			scannerMAC = true
		}
	}
	if !scannerMAC {
		t.Errorf("no drop of the scanner's port (in_port alone: it spoofed from an access port)")
	}
	for _, b := range h.blocks() {
		if b.MAC != hostS.macString() && b.MAC != control.macString() {
			t.Errorf("block of %s (%+v): only S and the control scanner scanned", b.MAC, b)
		}
	}
}

// One decoy scan is one offence: it must not leave several blocks for the
// same source, each escalating the next (a first offence would end up
// blocked for 24 hours).
func TestDecoyScanIsOneBlock(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 8)
	for _, x := range []host{hostA, hostB, hostS, hostV} {
		fs.learn(x)
	}
	control := newHost(30, 7)
	scanAndControl(t, fs, control, func() {
		for _, p := range []uint16{21, 22, 23, 25, 80} {
			for _, as := range []host{hostA, hostS, hostB} {
				fs.synScan(hostS, as, hostV, p)
			}
		}
	})
	var ofS []api.Block
	eventually(t, "the control block in the API", func() bool {
		ofS = nil
		found := false
		for _, b := range h.blocks() {
			if b.MAC == hostS.macString() {
				ofS = append(ofS, b)
			}
			found = found || b.MAC == control.macString()
		}
		return found
	})
	if len(ofS) != 1 {
		levels := []int{}
		for _, b := range ofS {
			levels = append(levels, b.Level)
		}
		t.Fatalf("one decoy scan from %s left %d blocks (levels %v), want 1 at level 0: "+
			"controller.onVerdict blocks again for every decoy actor's verdict of the same Source", hostS.macString(), len(ofS), levels)
	}
	if ofS[0].Level != 0 {
		t.Errorf("block level %d, want 0 for a first offence", ofS[0].Level)
	}
}

// blockByMAC makes an operator block of a learned host and returns the block
// and its drop flows' cookie.
func blockByMAC(t *testing.T, h *harness, fs *fakeSwitch, x host) (api.Block, uint64) {
	t.Helper()
	from := fs.count()
	code, body := h.call("POST", "/api/v1/blocks", testToken, map[string]string{"mac": x.macString()})
	if code != http.StatusCreated {
		t.Fatalf("POST /api/v1/blocks: %d %s", code, body)
	}
	var b api.Block
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	i, r := fs.waitFor(from, "the block's drop flow", isBlockAdd)
	fs.waitFor(i, "the barrier after the block's flows", isType(ofp.TypeBarrierRequest))
	fm, _ := flowMod(r)
	return b, fm.Cookie
}

// DELETE /api/v1/blocks/{id} needs the bearer token; with it, the block's
// flows are deleted by their exact cookie.
func TestUnblock(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	b, cookie := blockByMAC(t, h, fs, hostS)

	from := fs.count()
	for _, tok := range []string{"", "wrong-token-0123456789"} {
		if code, body := h.call("DELETE", "/api/v1/blocks/"+b.ID, tok, nil); code != http.StatusUnauthorized {
			t.Errorf("DELETE with token %q: %d %s, want 401", tok, code, body)
		}
	}
	end := fs.fence()
	for _, r := range fs.recorded(from)[:end-from] {
		if isBlockChange(r) {
			t.Errorf("unauthorized DELETE changed block flows: %s", describe([]ofconntest.Received{r}))
		}
	}
	if len(h.blocks()) != 1 {
		t.Fatalf("block gone after unauthorized DELETE")
	}

	if code, body := h.call("DELETE", "/api/v1/blocks/"+b.ID, testToken, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	_, r := fs.waitFor(end, "the block's delete", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && (fm.Command == ofp.FlowDelete || fm.Command == ofp.FlowDeleteStrict) && isBlockChange(r)
	})
	fm, _ := flowMod(r)
	if fm.Cookie != cookie || fm.CookieMask != forward.CookieExactMask || fm.Command != ofp.FlowDelete {
		t.Errorf("delete cookie %#x/%#x cmd %d, want %#x exact, OFPFC_DELETE", fm.Cookie, fm.CookieMask, fm.Command, cookie)
	}
	if bl := h.blocks(); len(bl) != 0 {
		t.Errorf("blocks after DELETE: %+v", bl)
	}
	if len(h.events("unblocked")) != 1 {
		t.Errorf("no unblocked event")
	}
	if code, _ := h.call("DELETE", "/api/v1/blocks/"+b.ID, testToken, nil); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}

// Blocks survive a restart (bbolt in the state dir); on connect the new
// controller deletes a stale block flow of ours (a cookie it does not know),
// installs the remembered block's flows, and confirms with a barrier.
func TestRestartReconcilesBlocks(t *testing.T) {
	cfg := testConfig(t)
	h1 := startController(t, cfg, nil)
	fs1 := h1.connect(0x1, 4)
	fs1.learn(hostS)
	b, cookie := blockByMAC(t, h1, fs1, hostS)
	h1.stop()

	stale := forward.Cookie(forward.KindBlock, 0xdead)
	h2 := startController(t, cfg, nil)
	if bl := h2.blocks(); len(bl) != 1 || bl[0].ID != b.ID {
		t.Fatalf("blocks after restart: %+v, want %s", bl, b.ID)
	}
	// The start-up line counts the restored block (it said blocks=0: the count came only with a
	// Ready, and a restored block has none until its switch connects).
	if line := logLine(h2.logs.String(), "portcullis running"); !strings.Contains(line, " blocks=1") {
		t.Errorf("start-up line %q, want blocks=1", line)
	}
	fs2 := h2.dial(0x1, 4, ofp.FlowStats{TableID: 0, Priority: forward.PriorityBlock, Cookie: stale,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(2), ofp.MatchEthSrc(hostA.mac[:])}}})
	statsAt, _ := fs2.waitFor(0, "the flow-stats request", isBlockFlowsRequest)
	barrierAt, _ := fs2.waitFor(statsAt, "the barrier after reconcile", isType(ofp.TypeBarrierRequest))
	between := fs2.recorded(statsAt)[:barrierAt-statsAt]

	var deletedStale bool
	var added []*ofp.FlowMod
	for _, r := range between {
		fm, ok := flowMod(r)
		if !ok {
			continue
		}
		switch {
		case fm.Command == ofp.FlowDelete && fm.Cookie == stale && fm.CookieMask == forward.CookieExactMask:
			deletedStale = true
		case fm.Command == ofp.FlowDelete && fm.Cookie == cookie:
			t.Errorf("deleted the remembered block's flows")
		case isBlockAdd(r):
			if fm.Cookie != cookie {
				t.Errorf("added block flow with cookie %#x, want %#x", fm.Cookie, cookie)
			}
			added = append(added, fm)
		}
	}
	if !deletedStale {
		t.Errorf("stale block flow %#x not deleted; between dump and barrier:\n%s", stale, describe(between))
	}
	var macFlow bool
	for _, fm := range added {
		mac, ok := matchEthSrc(fm.Match)
		in, ok2 := fm.Match.InPort()
		macFlow = macFlow || ok && ok2 && mac == hostS.mac && in == hostS.port
	}
	if !macFlow {
		t.Errorf("remembered block's in_port+eth_src flow not installed; got:\n%s", describe(between))
	}
}

// POST /api/v1/blocks {ip} of a learned host drops it; an address on the
// never_block list is refused and nothing reaches the switch.
func TestManualBlock(t *testing.T) {
	cfg := testConfig(t)
	gw := newHost(1, 5)
	cfg.Block.NeverBlock = []string{"10.0.0.1/32"}
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 5)
	fs.learn(hostA)
	fs.learn(gw)

	from := fs.count()
	code, body := h.call("POST", "/api/v1/blocks", testToken, map[string]string{"ip": gw.ip.String()})
	if code < 400 || code > 499 {
		t.Errorf("blocking a never_block address: %d %s, want 4xx", code, body)
	}
	end := fs.fence()
	for _, r := range fs.recorded(from)[:end-from] {
		if isBlockChange(r) {
			t.Errorf("refused block sent %s", describe([]ofconntest.Received{r}))
		}
	}
	if bl := h.blocks(); len(bl) != 0 {
		t.Errorf("blocks after refusal: %+v", bl)
	}

	code, body = h.call("POST", "/api/v1/blocks", testToken, map[string]string{"ip": hostA.ip.String(), "reason": "test"})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	var b api.Block
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Kind != "manual" || b.MAC != hostA.macString() || b.Port != hostA.port || b.Reason != "test" {
		t.Errorf("block %+v, want a manual block of %s on port %d", b, hostA.macString(), hostA.port)
	}
	first, _ := fs.waitFor(end, "the block's drop flow", isBlockAdd)
	last, _ := fs.waitFor(first, "the barrier after the block", isType(ofp.TypeBarrierRequest))
	var byMAC, byIP bool
	for _, fm := range blockAdds(fs.recorded(first)[:last-first]) {
		if in, _ := fm.Match.InPort(); in != hostA.port {
			t.Errorf("drop flow for port %d, want %d", in, hostA.port)
		}
		if mac, ok := matchEthSrc(fm.Match); ok && mac == hostA.mac {
			byMAC = true
		}
		if ip, ok := matchIPv4Src(fm.Match); ok && ip == hostA.ip {
			byIP = true
		}
	}
	if !byMAC || !byIP {
		t.Errorf("manual block of %s: by MAC %v, by IP %v; want both", hostA.ip, byMAC, byIP)
	}
}

// A malformed message closes that switch's session only: another switch
// keeps being served.
func TestMalformedClosesOnlyThatSwitch(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	bad := h.connect(0x1, 2)
	good := h.connect(0x2, 2)

	// A PACKET_IN header whose body is too short for the message.
	raw := []byte{ofp.Version, byte(ofp.TypePacketIn), 0, 12, 0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef}
	if err := bad.WriteRaw(raw); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bad.Done():
	case <-time.After(waitLimit):
		t.Fatal("the controller did not close the session that sent a malformed message")
	}
	var sawError bool
	for _, r := range bad.recorded(0) {
		if e, ok := r.Msg.(*ofp.Error); ok && r.Header.Xid == 9 {
			sawError = true
			if !bytes.HasPrefix(e.Data, raw[:8]) {
				t.Errorf("error data %x does not quote the message", e.Data)
			}
		}
	}
	if !sawError {
		t.Errorf("no OFPT_ERROR with the bad message's xid before closing:\n%s", describe(bad.recorded(0)))
	}

	from := good.count()
	good.packetIn(learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)))
	good.waitFor(from, "the other switch's learned flow", func(r ofconntest.Received) bool {
		return learnFlowFor(r, forward.TableLearn, hostA.mac, hostA.port)
	})
	eventually(t, "only the good switch listed", func() bool {
		var sl api.SwitchList
		h.get("/api/v1/switches", &sl)
		return len(sl.Switches) == 1 && sl.Switches[0].DatapathID == 2
	})
}

// Reload with an allowlisted CIDR exempts its scanners at once; a reload
// with an invalid configuration is refused and the running one kept.
func TestReloadAllowlist(t *testing.T) {
	cfg := testConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 12)
	fs.learn(hostV)

	next := cfg
	next.Block.Allowlist = []string{"10.0.0.64/28"}
	if err := h.c.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	allowed := hostS // 10.0.0.66
	fs.learn(allowed)
	before := scanAndControl(t, fs, newHost(30, 7), func() {
		fs.synScan(allowed, allowed, hostV, 21, 22, 23, 25, 80, 110)
	})
	for _, fm := range blockAdds(before) {
		t.Errorf("allowlisted scanner blocked: %+v", fm.Match)
	}

	bad := next
	bad.Block.Allowlist = nil
	bad.Detect.TRW.Alpha = 2
	if err := h.c.Reload(bad); err == nil {
		t.Fatalf("Reload of an invalid config succeeded")
	}
	eventually(t, "a config_reload_failed event", func() bool { return len(h.events("config_reload_failed")) == 1 })
	var al api.AllowList
	h.get("/api/v1/allowlist", &al)
	if len(al.Allowlist) != 1 || al.Allowlist[0].CIDR != netip.MustParsePrefix("10.0.0.64/28") {
		t.Errorf("allowlist after a refused reload: %+v", al.Allowlist)
	}
	allowed2 := newHost(70, 8) // 10.0.0.70
	fs.learn(allowed2)
	before = scanAndControl(t, fs, newHost(31, 9), func() {
		fs.synScan(allowed2, allowed2, hostV, 21, 22, 23, 25, 80, 110)
	})
	for _, fm := range blockAdds(before) {
		if mac, _ := matchEthSrc(fm.Match); mac == allowed2.mac {
			t.Errorf("allowlisted scanner blocked after a refused reload: %+v", fm.Match)
		}
	}
}

// A block ends at its expiry: the controller deletes its flows by cookie,
// drops it from the API and says so. Its flows carry the time left as their
// hard timeout, so the switch drops them even without the controller.
func TestBlockExpires(t *testing.T) {
	clk := newTestClock()
	h := startControllerClock(t, testConfig(t), store.NewMemory(), clk)
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	from := fs.count()
	code, body := h.call("POST", "/api/v1/blocks", testToken, map[string]string{"mac": hostS.macString(), "duration": "90s"})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	_, r := fs.waitFor(from, "the block's drop flow", isBlockAdd)
	fm, _ := flowMod(r)
	if fm.HardTimeout != 90 {
		t.Errorf("hard timeout %d, want 90 (the block's duration)", fm.HardTimeout)
	}

	clk.Advance(89 * time.Second)
	end := fs.fence()
	// The blocker checks expiry twice a second; give it a few rounds at
	// 89 s, which must not lift the block (the wait can only make this
	// check miss a bug, never fail a correct controller).
	time.Sleep(1200 * time.Millisecond)
	if len(h.blocks()) != 1 {
		t.Fatalf("block lifted before its expiry")
	}
	clk.Advance(2 * time.Second)
	_, r = fs.waitFor(end, "the expired block's delete", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && fm.Command == ofp.FlowDelete && isBlockChange(r)
	})
	del, _ := flowMod(r)
	if del.Cookie != fm.Cookie || del.CookieMask != forward.CookieExactMask {
		t.Errorf("delete %#x/%#x, want the block's cookie %#x exact", del.Cookie, del.CookieMask, fm.Cookie)
	}
	eventually(t, "block_expired event", func() bool { return len(h.events("block_expired")) == 1 })
	if bl := h.blocks(); len(bl) != 0 {
		t.Errorf("blocks after expiry: %+v", bl)
	}
}

// With network scope (the default) every other switch drops the scanner's
// MAC, and only its MAC: in_port and the address mean something only at the
// ingress switch.
func TestNetworkScopeOnOtherSwitch(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs1 := h.connect(0x1, 4)
	fs2 := h.connect(0x2, 4)
	fs1.learn(hostS)
	fs1.learn(hostV)
	from := fs2.count()
	fs1.synScan(hostS, hostS, hostV, 21, 22, 23, 25)

	first, _ := fs2.waitFor(from, "the block on the other switch", isBlockAdd)
	end, _ := fs2.waitFor(first, "its barrier", isType(ofp.TypeBarrierRequest))
	adds := blockAdds(fs2.recorded(first)[:end-first])
	if len(adds) != 1 {
		t.Fatalf("other switch got %d block flows, want the MAC flow only:\n%s", len(adds), describe(fs2.recorded(first)))
	}
	mac, ok := matchEthSrc(adds[0].Match)
	if !ok || mac != hostS.mac || len(adds[0].Match.Fields) != 1 {
		t.Errorf("other switch's block flow matches %+v, want eth_src=%s only", adds[0].Match, hostS.macString())
	}
}

// During the start-up grace period a verdict is reported, not acted on.
func TestGracePeriodDoesNotBlock(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Detect.GracePeriod = time.Minute
	h := startControllerClock(t, cfg, store.NewMemory(), clk)
	fs := h.connect(0x1, 8)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()
	fs.synScan(hostS, hostS, hostV, 21, 22, 23, 25)
	eventually(t, "scan_detected during the grace period", func() bool {
		ev := h.events("scan_detected")
		return len(ev) == 1 && ev[0].Reason == "grace_period"
	})

	clk.Advance(2 * time.Minute)
	control := newHost(30, 7)
	scanAndControl(t, fs, control, func() {})
	// Whatever the grace-period verdict caused was sent before the
	// control's block, which scanAndControl waited for.
	for _, fm := range blockAdds(fs.recorded(from)) {
		if mac, _ := matchEthSrc(fm.Match); mac == hostS.mac {
			t.Errorf("blocked during the grace period: %+v", fm.Match)
		}
	}
	for _, b := range h.blocks() {
		if b.MAC == hostS.macString() {
			t.Errorf("block of the scanner from the grace period: %+v", b)
		}
	}
}

// An operator may block an address the controller has not seen (an IDS
// names it): the switch must then drop that address, not a zero MAC.
func TestManualBlockOfUnknownIP(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	unknown := netip.MustParseAddr("10.0.0.99")
	from := fs.count()
	code, body := h.call("POST", "/api/v1/blocks", testToken, map[string]string{"ip": unknown.String()})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	first, _ := fs.waitFor(from, "a drop flow", isBlockAdd)
	end, _ := fs.waitFor(first, "its barrier", isType(ofp.TypeBarrierRequest))
	var byIP bool
	var zeroMAC bool
	for _, fm := range blockAdds(fs.recorded(first)[:end-first]) {
		if ip, ok := matchIPv4Src(fm.Match); ok && ip == unknown {
			byIP = true
		}
		if mac, ok := matchEthSrc(fm.Match); ok && mac == ([6]byte{}) {
			zeroMAC = true
		}
	}
	if !byIP {
		t.Fatalf("POST /api/v1/blocks {ip: %s} of an address not learned installs no ip_src drop (zero-MAC drop sent: %v): "+
			"AddBlock leaves Source zero and policy.BlockFlows emits IP flows only at the ingress switch (dpid 0 matches none)", unknown, zeroMAC)
	}
	if zeroMAC {
		t.Errorf("drop flow for eth_src 00:00:00:00:00:00")
	}
}

// Escalation: a source blocked before is blocked longer the next time.
func TestRepeatOffenceEscalates(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()
	fs.synScan(hostS, hostS, hostV, 21, 22, 23)
	_, r := fs.waitFor(from, "the first block", isBlockAdd)
	if fm, _ := flowMod(r); fm.HardTimeout != 600 {
		t.Errorf("first block: hard timeout %d, want 600", fm.HardTimeout)
	}
	var bl []api.Block
	eventually(t, "the block in the API", func() bool { bl = h.blocks(); return len(bl) == 1 })
	if code, body := h.call("DELETE", "/api/v1/blocks/"+bl[0].ID, testToken, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	from = fs.fence() // the first block's flows may still be in flight
	fs.synScan(hostS, hostS, hostV, 24, 25, 26)
	_, r = fs.waitFor(from, "the second block", isBlockAdd)
	if fm, _ := flowMod(r); fm.HardTimeout != 3600 {
		t.Errorf("second block: hard timeout %d, want 3600 (second offence: 1h)", fm.HardTimeout)
	}
	eventually(t, "the second block in the API", func() bool { bl = h.blocks(); return len(bl) == 1 })
	if bl[0].Level != 1 {
		t.Errorf("second block level %d, want 1", bl[0].Level)
	}
}

// A port going down forgets the hosts behind it: the controller deletes
// table-2 flows with that in_port and table-3 flows out of it.
func TestPortDownForgetsHosts(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostA)
	from := fs.count()
	p := ofconntest.Ports(4)[hostA.port-1]
	p.State = ofp.PortStateLinkDown
	if err := fs.Send(0, &ofp.PortStatus{Reason: ofp.PortReasonModify, Port: p}); err != nil {
		t.Fatal(err)
	}
	fs.waitFor(from, "table-2 delete by in_port", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		if !ok {
			return false
		}
		in, ok := fm.Match.InPort()
		return ok && fm.Command == ofp.FlowDelete && fm.TableID == forward.TableLearn && in == hostA.port
	})
	fs.waitFor(from, "table-3 delete by out_port", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && fm.Command == ofp.FlowDelete && fm.TableID == forward.TableForward && fm.OutPort == hostA.port
	})
	eventually(t, "A gone from the hosts", func() bool { return len(h.hosts()) == 0 })
	var sl api.SwitchList
	h.get("/api/v1/switches", &sl)
	if len(sl.Switches) != 1 || sl.Switches[0].Ports[hostA.port-1].State != api.PortDown {
		t.Errorf("port %d not shown down: %+v", hostA.port, sl.Switches)
	}
}

// A switch that goes away is dropped from the API with a switch_down event.
func TestSwitchDown(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 2)
	fs.Close()
	eventually(t, "switch_down", func() bool { return len(h.events("switch_down")) == 1 })
	var sl api.SwitchList
	h.get("/api/v1/switches", &sl)
	if len(sl.Switches) != 0 {
		t.Errorf("switches after disconnect: %+v", sl.Switches)
	}
}

// Reload replaces the API tokens at once.
func TestReloadTokens(t *testing.T) {
	cfg := testConfig(t)
	h := startController(t, cfg, store.NewMemory())
	const newToken = "another-token-0123456789abcdef"
	next := cfg
	next.API.Tokens = []string{newToken}
	if err := h.c.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.call("DELETE", "/api/v1/blocks/nope", testToken, nil); code != http.StatusUnauthorized {
		t.Errorf("old token after reload: %d, want 401", code)
	}
	if code, _ := h.call("DELETE", "/api/v1/blocks/nope", newToken, nil); code != http.StatusNotFound {
		t.Errorf("new token after reload: %d, want 404 (authorized, no such block)", code)
	}
}

// A flow dump that already holds a remembered block's flows changes
// nothing: re-adding them would restart their hard timeouts.
func TestReconcileKeepsPresentBlock(t *testing.T) {
	cfg := testConfig(t)
	h1 := startController(t, cfg, nil)
	fs1 := h1.connect(0x1, 4)
	fs1.learn(hostS)
	from := fs1.count()
	blockByMAC(t, h1, fs1, hostS)
	first, _ := fs1.waitFor(from, "the block", isBlockAdd)
	end, _ := fs1.waitFor(first, "its barrier", isType(ofp.TypeBarrierRequest))
	var have []ofp.FlowStats
	for _, r := range fs1.recorded(first)[:end-first] {
		fm, ok := flowMod(r)
		if !ok || !isBlockChange(r) || fm.Command != ofp.FlowAdd {
			continue // drop flows and their guards
		}
		// A switch reports the match fields in its own order.
		fields := append([]ofp.OXM(nil), fm.Match.Fields...)
		for i, j := 0, len(fields)-1; i < j; i, j = i+1, j-1 {
			fields[i], fields[j] = fields[j], fields[i]
		}
		have = append(have, ofp.FlowStats{TableID: fm.TableID, Priority: fm.Priority, Cookie: fm.Cookie,
			HardTimeout: fm.HardTimeout, Match: ofp.Match{Fields: fields}})
	}
	h1.stop()

	h2 := startController(t, cfg, nil)
	fs2 := h2.dial(0x1, 4, have...)
	statsAt, _ := fs2.waitFor(0, "the flow-stats request", isBlockFlowsRequest)
	barrierAt, _ := fs2.waitFor(statsAt, "the barrier after reconcile", isType(ofp.TypeBarrierRequest))
	for _, r := range fs2.recorded(statsAt)[:barrierAt-statsAt] {
		if isBlockChange(r) {
			t.Errorf("reconcile changed flows the switch already had: %s", describe([]ofconntest.Received{r}))
		}
	}
}

// A scan from an address on the never_block list (a monitoring host that
// lives behind its own port) is reported but not blocked.
func TestNeverBlockScanner(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.NeverBlock = []string{hostS.ip.String() + "/32"}
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 8)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()
	scanAndControl(t, fs, newHost(30, 7), func() {
		fs.synScan(hostS, hostS, hostV, 21, 22, 23, 25)
	})
	for _, fm := range blockAdds(fs.recorded(from)) {
		if mac, _ := matchEthSrc(fm.Match); mac == hostS.mac {
			t.Errorf("never_block scanner blocked: %+v", fm.Match)
		}
	}
	var protected bool
	for _, e := range h.events("scan_detected") {
		protected = protected || e.MAC == hostS.macString() && e.Reason == "protected"
	}
	if !protected {
		t.Errorf("no scan_detected event with reason protected for %s: %+v", hostS.macString(), h.events("scan_detected"))
	}
}

// docs/pipeline.md: a UDP exchange answered from the addressed port gets a
// bypass flow for each direction in the watch table, naming the service port.
func TestUDPExchangeBypass(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostA)
	fs.learn(hostB)
	from := fs.count()
	fs.packetIn(watchCopy(hostA.port, udpFrame(hostA, hostB, 40000, 53, []byte("query"))))
	fs.packetIn(watchCopy(hostB.port, udpFrame(hostB, hostA, 53, 40000, []byte("answer"))))
	isBypass := func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		if !ok {
			return false
		}
		k, ours := forward.CookieKind(fm.Cookie)
		return ours && k == forward.KindBypass && fm.Command == ofp.FlowAdd
	}
	i, r := fs.waitFor(from, "a bypass flow", isBypass)
	_, r2 := fs.waitFor(i+1, "the reverse bypass flow", isBypass)
	for _, r := range []ofconntest.Received{r, r2} {
		fm, _ := flowMod(r)
		if fm.TableID != forward.TableWatch || fm.Priority != forward.PriorityBypass || fm.IdleTimeout == 0 {
			t.Errorf("bypass flow table %d priority %d idle %d, want table 1, priority %d, an idle timeout",
				fm.TableID, fm.Priority, fm.IdleTimeout, forward.PriorityBypass)
		}
		src, _ := matchIPv4Src(fm.Match)
		dport, hasDst := fieldValue(fm.Match, ofp.OXMUDPDst)
		sport, hasSrc := fieldValue(fm.Match, ofp.OXMUDPSrc)
		switch src {
		case hostA.ip:
			if !hasDst || !bytes.Equal(dport, []byte{0, 53}) || hasSrc {
				t.Errorf("client->server bypass does not name udp_dst=53 only: %+v", fm.Match)
			}
		case hostB.ip:
			if !hasSrc || !bytes.Equal(sport, []byte{0, 53}) || hasDst {
				t.Errorf("server->client bypass does not name udp_src=53 only: %+v", fm.Match)
			}
		default:
			t.Errorf("bypass for source %v", src)
		}
	}
}

// logLine returns the first line of log that contains msg, or "".
func logLine(log, msg string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	return ""
}
