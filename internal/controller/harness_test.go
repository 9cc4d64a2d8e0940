package controller

// Test harness: a controller running on loopback sockets, fake switches from
// ofconntest that record what the controller sends them, an API client, and
// builders for the Ethernet frames and packet-ins a switch would send.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/forward"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// testToken is the API bearer token of every test controller.
const testToken = "test-token-0123456789abcdef"

// waitLimit bounds every wait for something the controller must do; it only
// turns a hang into a failure, no test passes or fails on time.
// (The race detector slows everything several times: race_test.go.)
var waitLimit = 10 * time.Second * raceSlowdown

// testConfig is config.Default() on loopback ephemeral ports, without the
// start-up grace period, with a token and a temporary state directory.
func testConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.Listen.OpenFlow = "127.0.0.1:0"
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Detect.GracePeriod = 0
	cfg.API.Tokens = []string{testToken}
	cfg.StateDir = t.TempDir()
	cfg.Echo.Interval = 10 * time.Minute // no keepalive traffic in recordings
	cfg.Echo.Timeout = time.Hour
	return cfg
}

// logBuf collects the controller's log; dumped when a test fails. It
// closes ready when the controller logs that it runs (after both listeners
// are bound), which also orders the listeners' setup before the test reads
// their addresses.
type logBuf struct {
	mu    sync.Mutex
	b     bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte("portcullis running")) {
		l.once.Do(func() { close(l.ready) })
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is one running controller.
type harness struct {
	t      testing.TB
	c      *Controller
	base   string // API base URL
	ofAddr string
	logs   *logBuf
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testClock is a clock the test moves.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// startController runs a controller with cfg (st nil: a bbolt store in
// cfg.StateDir) on the real clock until the test ends or h.stop.
func startController(t testing.TB, cfg config.Config, st store.Store) *harness {
	t.Helper()
	return startControllerClock(t, cfg, st, nil)
}

// startControllerClock is startController with the clock clk (nil: real time).
func startControllerClock(t testing.TB, cfg config.Config, st store.Store, clk *testClock) *harness {
	t.Helper()
	lb := &logBuf{ready: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := Options{Config: cfg, Store: st, Logger: log, Version: "test"}
	if clk != nil {
		opts.Now = clk.Now
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, c: c, logs: lb, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- c.Run(ctx) }()
	select {
	case <-lb.ready:
	case err := <-h.done:
		t.Fatalf("Run returned before listening: %v\n%s", err, lb.String())
	case <-time.After(waitLimit):
		t.Fatalf("controller did not start listening\n%s", lb.String())
	}
	h.ofAddr = c.OpenFlowAddr().String()
	h.base = "http://" + c.APIAddr().String()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("controller log:\n%s", lb.String())
		}
	})
	return h
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.once.Do(func() {
		h.cancel()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			h.t.Errorf("Run did not return after cancel")
		}
	})
}

// ---- API client ----

// call does an API request; token "" sends none. It returns the status and body.
func (h *harness) call(method, path, token string, body any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// get decodes a GET (with the token) into v and fails unless 200.
func (h *harness) get(path string, v any) {
	h.t.Helper()
	code, b := h.call("GET", path, testToken, nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		h.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

func (h *harness) blocks() []api.Block {
	h.t.Helper()
	var l api.BlockList
	h.get("/api/v1/blocks", &l)
	return l.Blocks
}

func (h *harness) hosts() []api.Host {
	h.t.Helper()
	var l api.HostList
	h.get("/api/v1/hosts", &l)
	return l.Hosts
}

func (h *harness) events(types ...string) []api.Event {
	h.t.Helper()
	var p api.EventPage
	h.get("/api/v1/events?limit=1000", &p)
	var out []api.Event
	for _, e := range p.Events {
		if len(types) == 0 || contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds; it fails the test after waitLimit.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- fake switch ----

// fakeSwitch is an ofconntest.Switch that records (a decoded copy of) every
// message from the controller and answers flow-stats requests with
// flowStats.
type fakeSwitch struct {
	*ofconntest.Switch
	t    testing.TB
	dpid uint64

	mu      sync.Mutex
	msgs    []ofconntest.Received
	changed chan struct{}          // closed and replaced on every new message
	stats   []ofp.FlowStats        // the flow table: the flows given to dial, then changed by flow-mods
	statsFn func() []ofp.FlowStats // if set, answers flow-stats requests instead of stats

	// dropAdds is how many of the next FLOW_MOD adds the switch ignores (as
	// if it lost them); rejectAdds how many it answers with an OFPT_ERROR
	// instead of applying.
	dropAdds, rejectAdds atomic.Int32

	fenceXID atomic.Uint32
}

// connect dials h with a fake switch of dpid with nports ports, and waits
// until the controller has set up its pipeline and reconciled (the
// barrier after the flow-stats request). stats is the switch's answer to
// the block-flow dump.
func (h *harness) connect(dpid uint64, nports int, stats ...ofp.FlowStats) *fakeSwitch {
	h.t.Helper()
	fs := h.dial(dpid, nports, stats...)
	i, _ := fs.waitFor(0, "the flow-stats request", isBlockFlowsRequest)
	fs.waitFor(i+1, "the barrier after reconcile", isType(ofp.TypeBarrierRequest))
	return fs
}

// dial connects a fake switch and waits only for the handshake.
func (h *harness) dial(dpid uint64, nports int, stats ...ofp.FlowStats) *fakeSwitch {
	h.t.Helper()
	fs := &fakeSwitch{t: h.t, dpid: dpid, changed: make(chan struct{}), stats: stats}
	fs.fenceXID.Store(0x7f000000)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sw, err := ofconntest.Dial(ctx, h.ofAddr, ofconntest.Config{DPID: dpid, Ports: ofconntest.Ports(nports), Handle: fs.handle})
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	fs.Switch = sw
	h.t.Cleanup(func() { sw.Close() })
	select {
	case <-sw.Handshook():
	case <-sw.Done():
		h.t.Fatalf("switch %d: connection ended during handshake: %v", dpid, sw.Err())
	case <-ctx.Done():
		h.t.Fatalf("switch %d: no handshake", dpid)
	}
	return fs
}

// handle runs on the fake switch's reader goroutine. m aliases a reused
// buffer, so the record is decoded from a fresh encoding.
func (fs *fakeSwitch) handle(sw *ofconntest.Switch, hdr ofp.Header, m ofp.Message) {
	if mp, ok := m.(*ofp.MultipartRequest); ok {
		if fr, ok := mp.Body.(*ofp.FlowStatsRequest); ok {
			fs.mu.Lock()
			var stats []ofp.FlowStats
			for _, f := range fs.stats {
				if f.Cookie&fr.CookieMask == fr.Cookie&fr.CookieMask && (fr.TableID == ofp.TableAll || fr.TableID == f.TableID) {
					stats = append(stats, f)
				}
			}
			fn := fs.statsFn
			fs.mu.Unlock()
			if fn != nil {
				stats = fn()
			}
			sw.Send(hdr.Xid, &ofp.MultipartReply{Body: &ofp.FlowStatsReply{Stats: stats}})
		}
	}
	raw := ofp.Marshal(hdr.Xid, m)
	h2, m2, err := ofp.Unmarshal(raw)
	if err != nil {
		fs.t.Errorf("switch %d: re-decoding %v: %v", fs.dpid, hdr.Type, err)
		return
	}
	if fm, ok := m2.(*ofp.FlowMod); ok {
		fs.apply(sw, hdr.Xid, fm) // m2: its fields do not alias the reader's buffer
	}
	fs.mu.Lock()
	fs.msgs = append(fs.msgs, ofconntest.Received{Header: h2, Msg: m2, Raw: raw})
	close(fs.changed)
	fs.changed = make(chan struct{})
	fs.mu.Unlock()
}

// apply changes the fake's flow table as a switch would: an add replaces the
// flow with the same table, priority and match; a delete removes the flows
// whose cookie matches under the mask (in the table, or all tables).
func (fs *fakeSwitch) apply(sw *ofconntest.Switch, xid uint32, fm *ofp.FlowMod) {
	key := func(table uint8, prio uint16, m ofp.Match) string {
		return fmt.Sprintf("%d/%d/%v", table, prio, m.Fields)
	}
	switch fm.Command {
	case ofp.FlowAdd:
		if fs.dropAdds.Load() > 0 && fs.dropAdds.Add(-1) >= 0 {
			return
		}
		if fs.rejectAdds.Load() > 0 && fs.rejectAdds.Add(-1) >= 0 {
			sw.Send(xid, &ofp.Error{ErrType: ofp.ErrTypeFlowModFailed, Code: 0})
			return
		}
		f := ofp.FlowStats{TableID: fm.TableID, Priority: fm.Priority, Cookie: fm.Cookie, HardTimeout: fm.HardTimeout,
			IdleTimeout: fm.IdleTimeout, Match: ofp.Match{Fields: slices.Clone(fm.Match.Fields)}}
		k := key(f.TableID, f.Priority, f.Match)
		fs.mu.Lock()
		fs.stats = slices.DeleteFunc(fs.stats, func(g ofp.FlowStats) bool { return key(g.TableID, g.Priority, g.Match) == k })
		fs.stats = append(fs.stats, f)
		fs.mu.Unlock()
	case ofp.FlowDelete, ofp.FlowDeleteStrict:
		fs.mu.Lock()
		fs.stats = slices.DeleteFunc(fs.stats, func(g ofp.FlowStats) bool {
			return g.Cookie&fm.CookieMask == fm.Cookie&fm.CookieMask && (fm.TableID == ofp.TableAll || fm.TableID == g.TableID)
		})
		fs.mu.Unlock()
	}
}

// deleteFlows removes the flows of cookie from the fake's table behind the
// controller's back (an operator's ovs-ofctl del-flows).
func (fs *fakeSwitch) deleteFlows(cookie uint64) {
	fs.mu.Lock()
	fs.stats = slices.DeleteFunc(fs.stats, func(g ofp.FlowStats) bool { return g.Cookie == cookie })
	fs.mu.Unlock()
}

// recorded returns the messages recorded from index from on.
func (fs *fakeSwitch) recorded(from int) []ofconntest.Received {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if from >= len(fs.msgs) {
		return nil
	}
	return append([]ofconntest.Received(nil), fs.msgs[from:]...)
}

// count is the number of messages recorded so far.
func (fs *fakeSwitch) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.msgs)
}

// waitFor returns the index and the first message at or after index from
// that satisfies pred, waiting for it.
func (fs *fakeSwitch) waitFor(from int, what string, pred func(ofconntest.Received) bool) (int, ofconntest.Received) {
	fs.t.Helper()
	deadline := time.After(waitLimit)
	for {
		fs.mu.Lock()
		for i := from; i < len(fs.msgs); i++ {
			if pred(fs.msgs[i]) {
				r := fs.msgs[i]
				fs.mu.Unlock()
				return i, r
			}
		}
		from = max(from, len(fs.msgs))
		ch := fs.changed
		fs.mu.Unlock()
		select {
		case <-ch:
		case <-fs.Done():
			// Drain: a message may have been recorded just before the end.
			fs.mu.Lock()
			n := len(fs.msgs)
			fs.mu.Unlock()
			if from >= n {
				fs.t.Fatalf("switch %d: connection ended (%v) while waiting for %s", fs.dpid, fs.Err(), what)
			}
		case <-deadline:
			fs.t.Fatalf("switch %d: timed out waiting for %s; got:\n%s", fs.dpid, what, describe(fs.recorded(0)))
		}
	}
}

// fence sends an ECHO_REQUEST and waits for its reply. The controller's
// session queues the reply behind everything it queued before reading the
// request, so every message the controller sent to this switch before the
// fence was sent is recorded before the returned index.
func (fs *fakeSwitch) fence() int {
	fs.t.Helper()
	xid := fs.fenceXID.Add(1)
	if err := fs.Send(xid, &ofp.EchoRequest{Data: []byte("fence")}); err != nil {
		fs.t.Fatalf("fence: %v", err)
	}
	i, _ := fs.waitFor(0, "the fence echo reply", func(r ofconntest.Received) bool {
		return r.Header.Type == ofp.TypeEchoReply && r.Header.Xid == xid
	})
	return i
}

// packetIn sends a packet-in.
func (fs *fakeSwitch) packetIn(pi *ofp.PacketIn) {
	fs.t.Helper()
	if err := fs.Send(0, pi); err != nil {
		fs.t.Fatalf("packet-in: %v", err)
	}
}

// ---- message predicates ----

func isType(t ofp.Type) func(ofconntest.Received) bool {
	return func(r ofconntest.Received) bool { return r.Header.Type == t }
}

func isBlockFlowsRequest(r ofconntest.Received) bool {
	mp, ok := r.Msg.(*ofp.MultipartRequest)
	if !ok {
		return false
	}
	fr, ok := mp.Body.(*ofp.FlowStatsRequest)
	if !ok {
		return false
	}
	c, m := forward.KindCookie(forward.KindBlock)
	return fr.Cookie == c && fr.CookieMask == m && fr.TableID == ofp.TableAll
}

func flowMod(r ofconntest.Received) (*ofp.FlowMod, bool) {
	fm, ok := r.Msg.(*ofp.FlowMod)
	return fm, ok
}

// isBlockAdd: a drop flow in table 0 at the block priority with a block cookie.
func isBlockAdd(r ofconntest.Received) bool {
	fm, ok := flowMod(r)
	if !ok || fm.Command != ofp.FlowAdd || fm.TableID != forward.TableAdmission || fm.Priority != forward.PriorityBlock {
		return false
	}
	k, ours := forward.CookieKind(fm.Cookie)
	return ours && k == forward.KindBlock && len(fm.Instructions) == 0
}

func isBlockChange(r ofconntest.Received) bool {
	fm, ok := flowMod(r)
	if !ok {
		return false
	}
	k, ours := forward.CookieKind(fm.Cookie)
	return ours && k == forward.KindBlock
}

// blockAdds returns the block drop flows among msgs.
func blockAdds(msgs []ofconntest.Received) []*ofp.FlowMod {
	var out []*ofp.FlowMod
	for _, r := range msgs {
		if isBlockAdd(r) {
			fm, _ := flowMod(r)
			out = append(out, fm)
		}
	}
	return out
}

// fieldValue returns the value of an OpenFlow basic OXM field of m.
func fieldValue(m ofp.Match, field uint8) ([]byte, bool) {
	f, ok := m.Get(ofp.OXMClassOpenflowBasic, field)
	if !ok {
		return nil, false
	}
	return f.Value, true
}

func matchIPv4Src(m ofp.Match) (netip.Addr, bool) {
	v, ok := fieldValue(m, ofp.OXMIPv4Src)
	if !ok || len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

func matchEthSrc(m ofp.Match) ([6]byte, bool) {
	v, ok := fieldValue(m, ofp.OXMEthSrc)
	if !ok || len(v) != 6 {
		return [6]byte{}, false
	}
	return [6]byte(v), true
}

// learnFlowFor reports whether r adds the table-2 (table 2, in_port+eth_src)
// or table-3 (eth_dst -> output) flow of mac on port.
func learnFlowFor(r ofconntest.Received, table uint8, mac [6]byte, port uint32) bool {
	fm, ok := flowMod(r)
	if !ok || fm.Command != ofp.FlowAdd || fm.TableID != table || fm.Priority != forward.PriorityLearned {
		return false
	}
	if k, ours := forward.CookieKind(fm.Cookie); !ours || k != forward.KindLearned {
		return false
	}
	switch table {
	case forward.TableLearn:
		src, ok := matchEthSrc(fm.Match)
		in, ok2 := fm.Match.InPort()
		return ok && ok2 && src == mac && in == port
	case forward.TableForward:
		v, ok := fieldValue(fm.Match, ofp.OXMEthDst)
		if !ok || !bytes.Equal(v, mac[:]) || len(fm.Instructions) != 1 {
			return false
		}
		ap, ok := fm.Instructions[0].(*ofp.InstrApplyActions)
		if !ok || len(ap.Actions) != 1 {
			return false
		}
		out, ok := ap.Actions[0].(*ofp.ActionOutput)
		return ok && out.Port == port
	}
	return false
}

func describe(msgs []ofconntest.Received) string {
	var b strings.Builder
	for i, r := range msgs {
		fmt.Fprintf(&b, "  %3d xid=%d %v", i, r.Header.Xid, r.Header.Type)
		if fm, ok := r.Msg.(*ofp.FlowMod); ok {
			fmt.Fprintf(&b, " cmd=%d table=%d prio=%d cookie=%#x/%#x fields=%d", fm.Command, fm.TableID, fm.Priority, fm.Cookie, fm.CookieMask, len(fm.Match.Fields))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ---- hosts, frames and packet-ins ----

// host is a station on a port of a fake switch.
type host struct {
	mac  [6]byte
	ip   netip.Addr
	port uint32
}

func newHost(n byte, port uint32) host {
	return host{mac: [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, n}, ip: netip.AddrFrom4([4]byte{10, 0, 0, n}), port: port}
}

func (h host) macString() string { return macString(h.mac) }

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func ether(dst, src [6]byte, typ uint16, payload []byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	b = binary.BigEndian.AppendUint16(b, typ)
	return append(b, payload...)
}

// arpFrame is an ARP request (op 1, broadcast) or reply (op 2, to tha).
func arpFrame(op uint16, sha [6]byte, spa netip.Addr, tha [6]byte, tpa netip.Addr) []byte {
	p := []byte{0, 1, 0x08, 0x00, 6, 4}
	p = binary.BigEndian.AppendUint16(p, op)
	p = append(p, sha[:]...)
	p = append(p, spa.AsSlice()...)
	p = append(p, tha[:]...)
	p = append(p, tpa.AsSlice()...)
	dst := tha
	if op == 1 {
		dst = broadcast
	}
	return ether(dst, sha, 0x0806, p)
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// tcpFrame is an Ethernet/IPv4/TCP segment from src (with IP srcIP) to dst.
// A SYN without ACK carries nmap's raw SYN-scan shape: window 1024 and only
// an MSS option.
func tcpFrame(src, dst host, srcIP netip.Addr, sport, dport uint16, flags uint8) []byte {
	var opts []byte
	win := uint16(64240)
	if flags&(tcpSYN|tcpACK) == tcpSYN {
		opts = []byte{2, 4, 0x05, 0xb4} // MSS 1460
		win = 1024
	}
	if flags&tcpRST != 0 {
		win = 0
	}
	tcp := make([]byte, 0, 20+len(opts))
	tcp = binary.BigEndian.AppendUint16(tcp, sport)
	tcp = binary.BigEndian.AppendUint16(tcp, dport)
	tcp = binary.BigEndian.AppendUint32(tcp, 0x1000)
	ack := uint32(0)
	if flags&tcpACK != 0 {
		ack = 0x2001
	}
	tcp = binary.BigEndian.AppendUint32(tcp, ack)
	tcp = append(tcp, byte((20+len(opts))/4)<<4, flags)
	tcp = binary.BigEndian.AppendUint16(tcp, win)
	tcp = append(tcp, 0, 0, 0, 0) // checksum, urgent
	tcp = append(tcp, opts...)
	return ether(dst.mac, src.mac, 0x0800, ipv4(srcIP, dst.ip, 6, tcp))
}

func ipv4(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	b := make([]byte, 0, 20+len(l4))
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+len(l4)))
	b = append(b, 0x12, 0x34, 0x40, 0) // id, DF
	b = append(b, 64, proto, 0, 0)     // ttl, proto, checksum
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	return append(b, l4...)
}

// learnMiss is what Open vSwitch sends for a table-2 miss: reason
// no_match, table 2, the base cookie, in_port.
func learnMiss(port uint32, frame []byte) *ofp.PacketIn {
	return &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: uint16(len(frame)), Reason: ofp.PacketInReasonNoMatch,
		TableID: forward.TableLearn, Cookie: forward.Cookie(forward.KindBase, 0),
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port)}}, Data: frame}
}

// watchCopy is what Open vSwitch sends for a watch flow's controller
// action: reason action, table 1, a watch cookie, in_port.
func watchCopy(port uint32, frame []byte) *ofp.PacketIn {
	return &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: uint16(len(frame)), Reason: ofp.PacketInReasonAction,
		TableID: forward.TableWatch, Cookie: forward.Cookie(forward.KindWatch, 1),
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port)}}, Data: frame}
}

// learn makes the controller learn h on its port (an ARP request from it,
// which also shows its address) and waits for h's table-2 flow.
func (fs *fakeSwitch) learn(h host) {
	fs.t.Helper()
	from := fs.count()
	fs.packetIn(learnMiss(h.port, arpFrame(1, h.mac, h.ip, [6]byte{}, netip.AddrFrom4([4]byte{10, 0, 0, 254}))))
	fs.waitFor(from, "the table-2 flow of "+h.macString(), func(r ofconntest.Received) bool {
		return learnFlowFor(r, forward.TableLearn, h.mac, h.port)
	})
}

// synScan sends watch copies of an nmap-like SYN scan entering at
// scanner's port with scanner's MAC and the source address of as (the
// scanner itself, or a decoy) to closed ports of victim, each answered by a
// RST from the victim's port to as.
func (fs *fakeSwitch) synScan(scanner, as, victim host, ports ...uint16) {
	fs.t.Helper()
	const sport = 45678
	for _, p := range ports {
		fs.packetIn(watchCopy(scanner.port, tcpFrame(scanner, victim, as.ip, sport, p, tcpSYN)))
		fs.packetIn(watchCopy(victim.port, tcpFrame(victim, as, victim.ip, p, sport, tcpRST|tcpACK)))
	}
}

// udpFrame is an Ethernet/IPv4/UDP datagram from src to dst.
func udpFrame(src, dst host, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 0, 8+len(payload))
	u = binary.BigEndian.AppendUint16(u, sport)
	u = binary.BigEndian.AppendUint16(u, dport)
	u = binary.BigEndian.AppendUint16(u, uint16(8+len(payload)))
	u = append(u, 0, 0)
	u = append(u, payload...)
	return ether(dst.mac, src.mac, 0x0800, ipv4(src.ip, dst.ip, 17, u))
}
