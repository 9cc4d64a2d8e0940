package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/notice"
	"portcullis/internal/policy"
	"portcullis/internal/store"
)

// The blocker goroutine drives the block lifecycle engine (policy.Engine): it is the only
// goroutine that calls it. Inputs reach it from two places, neither of which drops one: the
// packet-in path's verdicts through c.vq (verdicts.go: folded by source, never dropped), and
// everything else (switch connects and disconnects, ports going down, SYN counter readings, the
// outcomes of block IO, API requests) as closures on c.inbox, whose senders wait when it is full. After each input the blocker does what the engine's Ready says (apply) and
// advances it. The IO that waits for a switch (barriers, flow dumps) runs in goroutines that post
// their outcome back to c.inbox, so the blocker never waits on a switch.

// allowRecord is a run-time allowlist entry as persisted.
type allowRecord struct {
	CIDR    string         `json:"cidr"`
	Ports   api.PortRanges `json:"ports,omitempty"` // numbers, and "LO-HI" ranges
	Comment string         `json:"comment,omitempty"`
	Created time.Time      `json:"created"`
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

// newEngine builds the block engine over the switches' station tables.
func (c *Controller) newEngine() {
	c.eng = policy.NewEngine(policy.EngineConfig{
		Stations: liveStations{c},
		NewID:    newID,
		Started:  c.started,
		Grace:    c.cfg.Detect.GracePeriod,
		Flood:    c.cfg.Detect.FloodConfig(),
		Senders:  c.det,
	}, c.engineSettings())
}

// engineSettings are the reloadable settings the engine decides with, read under c.mu.
func (c *Controller) engineSettings() policy.Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return policy.Settings{Scope: c.scope, Durations: c.durs, HistoryExpiry: c.cfg.Block.HistoryExpiry,
		AuditInterval: c.cfg.Block.AuditInterval, Never: c.never.Load(), Allow: c.allowSet.Load()}
}

// restore loads blocks, escalation records and run-time allowlist entries from the store.
func (c *Controller) restore() error {
	items, err := store.ListJSON[policy.BlockRecord](c.store, store.BucketBlocks)
	if err != nil {
		return err
	}
	hist, err := store.ListJSON[policy.History](c.store, store.BucketHistory)
	if err != nil {
		return err
	}
	for _, spec := range c.cfg.Block.Allowlist {
		e, err := policy.ParseAllowEntry(spec)
		if err != nil {
			return fmt.Errorf("controller: allowlist %q: %w", spec, err)
		}
		id := "cfg-" + shortHash(spec)
		c.allow[id] = api.AllowEntry{ID: id, CIDR: e.Prefix, Ports: e.Ports, Comment: "from config"}
	}
	allows, err := store.ListJSON[allowRecord](c.store, store.BucketAllow)
	if err != nil {
		return err
	}
	for _, it := range allows {
		p, err := netip.ParsePrefix(it.Value.CIDR)
		if err != nil {
			continue
		}
		c.allow[it.Key] = api.AllowEntry{ID: it.Key, CIDR: p, Ports: it.Value.Ports, Comment: it.Value.Comment, Created: it.Value.Created}
	}
	c.rebuildAllow()
	c.newEngine()
	blocks := make([]policy.BlockRecord, 0, len(items))
	for _, it := range items {
		blocks = append(blocks, it.Value)
	}
	h := make(map[string]policy.History, len(hist))
	for _, it := range hist {
		h[it.Key] = it.Value
	}
	c.eng.Restore(c.now(), blocks, h)
	c.apply(context.Background())
	n := c.eng.Len() // apply counts only after a Ready: restored blocks wait for their switches
	c.activeN.Store(int64(n))
	c.m.Active.Set(float64(n))
	return nil
}

func shortHash(s string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("%012x", h&0xffffffffffff)
}

// rebuildAllow publishes a new allowlist for the packet-in path (and, at the blocker's next
// input, the engine). Must hold c.mu or be called before Run.
func (c *Controller) rebuildAllow() {
	entries := make([]policy.AllowEntry, 0, len(c.allow))
	for _, e := range c.allow {
		entries = append(entries, policy.AllowEntry{Prefix: e.CIDR, Ports: e.Ports})
	}
	c.allowSet.Store(policy.NewAllowlist(entries...))
}

// post hands an input to the blocker: f runs on the blocker goroutine, which then does what the
// engine wants. It waits while the inbox is full (never drops) and gives up only when the
// controller stops.
func (c *Controller) post(f func(now time.Time)) bool {
	select {
	case c.inbox <- f:
		return true
	case <-c.stopped:
		return false
	}
}

// lookupCheck is how often the blocker looks whether a lookup waiting in the detector is due.
const lookupCheck = 25 * time.Millisecond

// blocker drives the engine and the periodic work. One goroutine.
func (c *Controller) blocker(ctx context.Context) {
	defer close(c.stopped)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	// A lookup or ICMP request fails early (half a second, a second), but the detector judges
	// silence only up to the last complete meter reading (evidenceHorizon): once the oldest
	// one waiting is due, the meters are read at once and silence judged when the reading is
	// in (pollMeters), so a sweep's verdict does not wait for the half-second tick.
	fast := time.NewTicker(lookupCheck)
	defer fast.Stop()
	if c.manualTicks { // tests drive the periodic work (periodic_bench_test.go)
		t.Stop()
		fast.Stop()
	}
	var ps periodicState
	var batch []detect.Verdict
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-c.inbox:
			c.eng.SetSettings(c.engineSettings())
			f(c.now())
		case <-c.vq.ready:
			// A switch's connect was posted before any verdict of its packets: the engine
			// learns of the switch first.
			c.drainInbox()
			batch = c.vq.drain(batch[:0])
			for _, v := range batch {
				c.onVerdict(v)
			}
			clear(batch)
		case <-fast.C:
			if due, ok := c.det.LookupDue(); !ok || due.After(c.now()) {
				continue
			}
			c.pollMeters()
		case <-t.C:
			c.periodic(ctx, c.now(), &ps) // periodic.go
		}
		c.apply(ctx)
	}
}

// drainInbox runs the inputs waiting in the inbox, without waiting for more.
func (c *Controller) drainInbox() {
	for {
		select {
		case f := <-c.inbox:
			c.eng.SetSettings(c.engineSettings())
			f(c.now())
		default:
			return
		}
	}
}

// onVerdict counts a verdict and hands it to the engine. Blocker goroutine.
func (c *Controller) onVerdict(v detect.Verdict) {
	c.detections.Add(1)
	c.m.Verdict(string(v.Kind), v.Probes)
	c.eng.SetSettings(c.engineSettings())
	c.eng.Verdict(c.now(), v)
}

// apply does what the engine's Ready says, until it has nothing more (a failed send is an input
// that may ask for more), then refreshes what the API shows. Blocker goroutine (or New, before
// Run).
func (c *Controller) apply(ctx context.Context) {
	for c.eng.HasReady() {
		rd := c.eng.Ready()
		c.eng.Advance()
		c.do(ctx, rd)
	}
}

func (c *Controller) do(ctx context.Context, rd policy.Ready) {
	// Releases first: the engine already decided as if they were done.
	for _, r := range rd.Release {
		if sw := c.switchByDPID(r.DPID); sw != nil {
			sw.mu.Lock()
			if p, still := sw.fwd.PortOf(r.MAC); still && p == r.At {
				sw.out = sw.fwd.Forget(r.MAC, sw.out[:0])
				c.send(sw)
			}
			sw.mu.Unlock()
		}
	}
	for _, s := range rd.Sends {
		sw := c.session(s.DPID, s.Epoch)
		var err error
		if sw == nil {
			err = errSessionGone
		} else if len(s.Msgs) > 0 {
			err = c.sendTo(sw.sess, s.Msgs...)
		}
		switch {
		case err != nil && sw == nil:
			// the session ended: its Disconnected is on its way
		case err != nil:
			c.eng.SendFailed(c.now(), s, err)
		case s.Install != "":
			go c.confirm(ctx, sw, s)
		case s.Pass != 0:
			go c.passBarrier(ctx, sw, s)
		}
	}
	for _, d := range rd.Dumps {
		if sw := c.session(d.DPID, d.Epoch); sw != nil {
			go c.dump(ctx, sw, d)
		}
	}
	for _, l := range rd.Logs {
		switch l.Level {
		case "debug":
			c.log.Debug(l.Msg, l.Args...)
		case "warn":
			c.log.Warn(l.Msg, l.Args...)
		case "error":
			c.log.Error(l.Msg, l.Args...)
		default:
			c.log.Info(l.Msg, l.Args...)
		}
	}
	for _, w := range rd.Writes {
		var err error
		switch w.Kind {
		case policy.PutBlock:
			err = store.PutJSON(c.store, store.BucketBlocks, w.Key, w.Block)
		case policy.DeleteBlock:
			err = c.store.Delete(store.BucketBlocks, w.Key)
		case policy.PutHistory:
			err = store.PutJSON(c.store, store.BucketHistory, w.Key, w.History)
		}
		if err != nil {
			c.log.Error("store: write failed", "key", w.Key, "err", err)
		}
	}
	for _, s := range rd.Forget {
		c.det.Forget(s)
	}
	for _, ev := range rd.Events {
		c.bus.Publish(ev)
	}
	c.blocksN.Add(uint64(rd.Installed))
	for _, why := range rd.Removed {
		c.m.Removed.WithLabelValues(why).Inc()
	}
	for _, f := range rd.Flows {
		if sw := c.session(f.DPID, f.Epoch); sw != nil {
			if err := c.sendTo(sw.sess, f.Msgs...); err != nil {
				c.m.Errors.WithLabelValues("send").Inc()
			}
		}
	}
	for _, v := range rd.Verdicts {
		c.detections.Add(1)
		c.m.Verdict(string(v.Kind), v.Probes)
	}
	c.notifyVictims(rd.Notices)
	n := c.eng.Len()
	c.activeN.Store(int64(n))
	c.m.Active.Set(float64(n))
}

var errSessionGone = fmt.Errorf("controller: switch session ended")

// blockList returns the blocks the engine holds, with their state per switch, for the API. It
// asks the blocker; if the controller is stopping, or ctx ends first (a blocker busy with a burst
// of verdicts), it returns the list it got last.
func (c *Controller) blockList(ctx context.Context) []api.Block {
	done := make(chan []policy.BlockStatus, 1)
	if c.post(func(time.Time) { done <- c.eng.Blocks() }) { // copies: the API's form is made off the blocker
		select {
		case bs := <-done:
			out := blockDTOs(bs)
			c.lastBlocks.Store(&out)
			return out
		case <-ctx.Done():
		}
	}
	if p := c.lastBlocks.Load(); p != nil {
		return *p
	}
	return nil
}

func blockDTOs(all []policy.BlockStatus) []api.Block {
	out := make([]api.Block, 0, len(all))
	for _, s := range all {
		b := blockDTO(s.Record)
		b.Switches = switchDTOs(s.Switches)
		out = append(out, b)
	}
	return out
}

func switchDTOs(sts []policy.SwitchState) []api.BlockSwitch {
	out := []api.BlockSwitch{}
	for _, st := range sts {
		out = append(out, api.BlockSwitch{DPID: fmtDPID(st.DPID), State: st.State, ConfirmedAt: st.ConfirmedAt, Error: st.Err})
	}
	return out
}

// notifyVictims delivers a signed notice into the switch port of every protected host the
// scanner probed (where the engine located it), at most eight per block.
func (c *Controller) notifyVictims(ns []policy.Notice) {
	cur := c.notice.Load()
	if cur == nil || cur.key == nil || len(ns) == 0 {
		return
	}
	port := cur.port
	sent := map[string]int{}
	for _, n := range ns {
		r := n.Record
		if sent[r.Block.ID] >= 8 {
			continue
		}
		sw := c.switchByDPID(n.DPID)
		if sw == nil {
			continue
		}
		msg := notice.Notice{Time: r.Block.Created, Event: notice.EventBlocked, Scanners: r.AllIPs, ScannerMAC: r.Block.Source.MAC,
			Kind: r.Block.Kind, Probes: uint32(r.Probes), BlockExpiry: r.Block.Expires, Victim: n.Victim,
			Message: "Portcullis blocked a " + r.Block.Kind + " against this host: " + r.Block.Reason}
		payload := notice.Seal(cur.key, msg)
		srcIP := noticeSourceV4
		if n.Victim.Is6() && !n.Victim.Is4In6() {
			srcIP = noticeSourceV6
		}
		frame := notice.Frame(n.MAC, controllerMAC, n.Victim, srcIP, port, port, payload)
		if err := c.sendTo(sw.sess, packetOut(n.Port, frame)); err != nil {
			c.m.NoticesFailed.Inc()
			c.bus.Publish(event.Event{Type: event.NoticeFailed, Target: n.Victim.String(), BlockID: r.Block.ID, Message: err.Error()})
			continue
		}
		sent[r.Block.ID]++
		c.m.NoticesSent.Inc()
		c.bus.Publish(event.Event{Type: event.NoticeSent, Target: n.Victim.String(), BlockID: r.Block.ID, DPID: n.DPID, Port: n.Port,
			Message: fmt.Sprintf("notice sent to %s (port %d on %s)", n.Victim, n.Port, fmtDPID(n.DPID))})
	}
}

func loadNoticeKey(n config.Notice) ([]byte, error) {
	if n.KeyFile != "" {
		return notice.LoadKey(n.KeyFile)
	}
	k, err := hex.DecodeString(strings.TrimSpace(n.Key))
	if err != nil || len(k) < notice.MinKeySize {
		return nil, fmt.Errorf("controller: notify.notice.key: want at least %d bytes of hex", notice.MinKeySize)
	}
	return k, nil
}

// ---- the station view ----

// liveStations is the engine's view of the switches' station tables: each read takes the
// switch's lock for its duration.
type liveStations struct{ c *Controller }

func (v liveStations) PortOf(dpid uint64, mac [6]byte) (uint32, bool) {
	sw := v.c.switchByDPID(dpid)
	if sw == nil {
		return 0, false
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.fwd.PortOf(mac)
}

func (v liveStations) IPLivesAt(dpid uint64, ip netip.Addr) (uint32, [6]byte, bool) {
	sw := v.c.switchByDPID(dpid)
	if sw == nil {
		return 0, [6]byte{}, false
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.fwd.IPLivesAt(ip)
}

func (v liveStations) Hosts(dpid uint64) []forward.Host {
	sw := v.c.switchByDPID(dpid)
	if sw == nil {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.fwd.Hosts()
}

func (c *Controller) switchByDPID(dpid uint64) *switchState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byDPID[dpid]
}

// session returns the switch of datapath dpid if its session is the one of epoch.
func (c *Controller) session(dpid, epoch uint64) *switchState {
	sw := c.switchByDPID(dpid)
	if sw == nil || sw.epoch != epoch {
		return nil
	}
	return sw
}
