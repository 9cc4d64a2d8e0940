package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/notice"
	"portcullis/internal/policy"
	"portcullis/internal/store"
)

// blockRecord is a block as persisted and shown by the API.
type blockRecord struct {
	Block    policy.Block `json:"block"`
	AllIPs   []netip.Addr `json:"all_ips,omitempty"` // every address the source used, bound or not
	Evidence []string     `json:"evidence,omitempty"`
	Probes   int          `json:"probes,omitempty"`
	Targets  []netip.Addr `json:"targets,omitempty"`
}

// history is a source's past offences, for escalation.
type history struct {
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// allowRecord is a run-time allowlist entry as persisted.
type allowRecord struct {
	CIDR    string    `json:"cidr"`
	Ports   []uint16  `json:"ports,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Created time.Time `json:"created"`
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

func historyKey(src policy.Source) string { return macString(src.MAC) }

// blockHistoryKey is the escalation key of a block: the MAC, or for a
// spoofer's block where it entered (a MAC it used may be someone else's,
// whose record must not grow from it).
func blockHistoryKey(b policy.Block) string {
	if b.Spoofed {
		return fmt.Sprintf("%x/%d/%s", b.Source.DPID, b.Source.Port, macString(b.Source.MAC))
	}
	return historyKey(b.Source)
}

// restore loads blocks and run-time allowlist entries from the store.
func (c *Controller) restore() error {
	items, err := store.ListJSON[blockRecord](c.store, store.BucketBlocks)
	if err != nil {
		return err
	}
	now := c.now()
	for _, it := range items {
		r := it.Value
		if !r.Block.Active(now) {
			c.store.Delete(store.BucketBlocks, it.Key)
			continue
		}
		c.blocks[r.Block.ID] = &r
	}
	for _, spec := range c.cfg.Block.Allowlist {
		e, err := policy.ParseAllowEntry(spec)
		if err != nil {
			return fmt.Errorf("controller: allowlist %q: %w", spec, err)
		}
		id := "cfg-" + shortHash(spec)
		c.allow[id] = api.AllowEntry{ID: id, CIDR: e.Prefix, Ports: portsOf(e), Comment: "from config"}
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
	c.m.Active.Set(float64(len(c.blocks)))
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

func portsOf(e policy.AllowEntry) []uint16 {
	var out []uint16
	for _, r := range e.Ports {
		for p := uint32(r.Lo); p <= uint32(r.Hi) && len(out) < 64; p++ {
			out = append(out, uint16(p))
		}
	}
	return out
}

// rebuildAllow publishes a new allowlist for the packet-in path. Must hold c.mu
// or be called before Run.
func (c *Controller) rebuildAllow() {
	entries := make([]policy.AllowEntry, 0, len(c.allow))
	for _, e := range c.allow {
		pe := policy.AllowEntry{Prefix: e.CIDR}
		for _, p := range e.Ports {
			pe.Ports = append(pe.Ports, policy.PortRange{Lo: p, Hi: p})
		}
		entries = append(entries, pe)
	}
	c.allowSet.Store(policy.NewAllowlist(entries...))
}

// activeBlocks returns the blocks in force now.
func (c *Controller) activeBlocks() []policy.Block {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]policy.Block, 0, len(c.blocks))
	for _, r := range c.blocks {
		if r.Block.Active(now) {
			out = append(out, r.Block)
		}
	}
	slices.SortFunc(out, func(a, b policy.Block) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// blocker turns verdicts into blocks and expires blocks. One goroutine.
func (c *Controller) blocker(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var lastPoll, lastExempt, lastSYN time.Time
	var lastEvicted uint64
	var batch []detect.Verdict
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-c.verdicts:
			c.onVerdict(v)
		case <-c.vq.ready:
			batch = c.vq.drain(batch[:0])
			for _, v := range batch {
				c.onVerdict(v)
			}
			clear(batch)
		case <-t.C:
			now := c.now()
			c.detMu.Lock()
			vs := c.det.Tick(c.evidenceHorizon(now))
			c.detMu.Unlock()
			for _, v := range vs {
				c.onVerdict(v)
			}
			c.expire(now)
			c.series.tick(now, c.packetIns.Load(), c.probes.Load(), c.blocksN.Load())
			if now.Sub(lastSYN) >= 900*time.Millisecond {
				lastSYN = now
				c.pollSYNCounters(ctx)
			}
			if now.Sub(lastExempt) >= 2*time.Second {
				lastExempt = now
				c.exemptProtectedPorts()
			}
			c.pollMeters() // every tick: answer meters' drops must reach detection before silence counts
			if now.Sub(lastPoll) >= 10*time.Second {
				lastPoll = now
				c.detMu.Lock()
				st := c.det.Stats()
				c.detMu.Unlock()
				c.m.Sources.Set(float64(st.Actors))
				c.m.Evictions.Add(float64(st.ActorsEvicted - lastEvicted))
				lastEvicted = st.ActorsEvicted
			}
		}
	}
}

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func firstIP(ips []netip.Addr) string {
	if len(ips) == 0 {
		return ""
	}
	return ips[0].String()
}

// onVerdict decides what a verdict does: nothing during the grace period or
// for a protected address; otherwise a block at the next escalation step.
func (c *Controller) onVerdict(v detect.Verdict) {
	now := c.now()
	c.detections.Add(1)
	c.m.Verdict(string(v.Kind), v.Probes)
	if v.Kind == detect.KindMACSpoof {
		v = c.stolenHome(v)
	}
	src := policy.Source{DPID: v.Source.DPID, Port: v.Source.Port, MAC: v.Source.MAC}
	ev := event.Event{Type: event.ScanDetected, DPID: src.DPID, Port: src.Port, MAC: macString(src.MAC),
		IP: firstIP(v.IPs), IPs: addrStrings(v.IPs), Kind: string(v.Kind), Reason: v.Reason,
		Evidence: v.Evidence, Probes: v.Probes, Score: v.Score,
		Message: fmt.Sprintf("%s from %s (port %d on %s): %s", v.Kind, macString(src.MAC), src.Port, fmtDPID(src.DPID), v.Reason)}
	if now.Before(c.started.Add(c.cfg.Detect.GracePeriod)) {
		ev.Message += " (start-up grace period: not blocked)"
		ev.Reason = "grace_period"
		c.bus.Publish(ev)
		c.detMu.Lock()
		c.det.Forget(v.Source)
		c.detMu.Unlock()
		return
	}
	for _, ip := range v.IPs {
		if c.never.Load().ContainsAddr(ip) || c.allowSet.Load().ContainsAddr(ip) {
			if c.sourceOwns(src, ip) {
				ev.Message += " (" + ip.String() + " is on the never-block list or allowlist: not blocked)"
				ev.Reason = "protected"
				c.bus.Publish(ev)
				return
			}
		}
	}
	c.bus.Publish(ev)

	// Attribution: the IPs get drop flows only where they are known to live
	// behind the scanner's own port and MAC; spoofed decoys never do.
	var bound []netip.Addr
	for _, ip := range v.IPs {
		if c.sourceOwns(src, ip) {
			bound = append(bound, ip)
		}
	}
	ipOnly := false
	if gw, ok := c.macProtected(src); ok {
		// The scan came through a protected host (the gateway of an edge
		// network): block the scanner's addresses at that port, not the MAC.
		bound = bound[:0]
		for _, ip := range v.IPs {
			if !c.never.Load().ContainsAddr(ip) {
				bound = append(bound, ip)
			}
		}
		if len(bound) == 0 {
			ev.Type, ev.Reason = event.ScanDetected, "protected"
			ev.Message = "scan through protected host " + gw.String() + " with no address to block"
			c.bus.Publish(ev)
			return
		}
		ipOnly = true
	}
	// A spoofer is blocked where it entered, and at an access port with one
	// real station the port is the machine (spoof.go).
	spoofed, portWide := c.placement(src, v.IPs, v.Kind, v.Probes)
	portWide = portWide && !ipOnly
	if c.extend(src, v, bound, portWide, now) {
		return
	}
	r := &blockRecord{
		Block: policy.Block{ID: newID(), Source: src, IPs: bound, IPBound: len(bound) > 0, IPOnly: ipOnly,
			Spoofed: spoofed, PortWide: portWide,
			Reason: v.Reason, Kind: string(v.Kind), Created: now, Scope: c.blockSettings().scope},
		AllIPs: v.IPs, Evidence: v.Evidence, Probes: v.Probes, Targets: v.Targets,
	}
	c.install(r, now, "detector")
}

// extend folds a verdict for a source that is already blocked into its
// block (the detector decides per source and address, so a decoy scan can
// yield several verdicts before the first block lands): one block per
// source, no extra escalation. New bound addresses get their drop flows.
//
// A port-wide block covers every source at its port; a verdict that makes
// a source's block port-wide (portWide) widens it.
func (c *Controller) extend(src policy.Source, v detect.Verdict, bound []netip.Addr, portWide bool, now time.Time) bool {
	c.mu.Lock()
	var r *blockRecord
	for _, x := range c.blocks {
		b := x.Block
		if !b.Active(now) {
			continue
		}
		if b.Source == src || (b.PortWide && b.Source.DPID == src.DPID && b.Source.Port == src.Port) {
			r = x
			break
		}
	}
	if r == nil {
		c.mu.Unlock()
		return false
	}
	added := false
	if portWide && !r.Block.PortWide {
		r.Block.PortWide, r.Block.Spoofed = true, true
		added = true
	}
	for _, ip := range bound {
		if !slices.Contains(r.Block.IPs, ip) {
			r.Block.IPs = append(r.Block.IPs, ip)
			r.Block.IPBound = true
			added = true
		}
	}
	for _, ip := range v.IPs {
		if !slices.Contains(r.AllIPs, ip) && len(r.AllIPs) < 32 {
			r.AllIPs = append(r.AllIPs, ip)
		}
	}
	r.Probes += v.Probes
	b := r.Block
	rec := *r
	c.mu.Unlock()
	if added {
		c.reinstall(b, now)
	}
	if err := store.PutJSON(c.store, store.BucketBlocks, b.ID, rec); err != nil {
		c.log.Error("store: saving block failed", "block", b.ID, "err", err)
	}
	return true
}

// macProtected reports whether the source's MAC, at its port, belongs to a
// never-block host (a router or server whose address was seen behind it).
func (c *Controller) macProtected(src policy.Source) (netip.Addr, bool) {
	c.mu.Lock()
	sw := c.byDPID[src.DPID]
	c.mu.Unlock()
	if sw == nil || c.never.Load().Len() == 0 {
		return netip.Addr{}, false
	}
	sw.mu.Lock()
	hosts := sw.fwd.Hosts()
	sw.mu.Unlock()
	for _, h := range hosts {
		if h.MAC != src.MAC || h.Port != src.Port {
			continue
		}
		for _, ip := range h.IPs {
			if c.never.Load().ContainsAddr(ip) {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// blockSettings are the reloadable block settings, read under c.mu.
type blockSettings struct {
	scope         policy.Scope
	durs          []time.Duration
	historyExpiry time.Duration
}

func (c *Controller) blockSettings() blockSettings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return blockSettings{scope: c.scope, durs: c.durs, historyExpiry: c.cfg.Block.HistoryExpiry}
}

// sourceOwns reports whether ip is known to live behind src's port and MAC.
func (c *Controller) sourceOwns(src policy.Source, ip netip.Addr) bool {
	c.mu.Lock()
	sw := c.byDPID[src.DPID]
	c.mu.Unlock()
	if sw == nil {
		return false
	}
	sw.mu.Lock()
	port, mac, ok := sw.fwd.IPLivesAt(ip)
	sw.mu.Unlock()
	return ok && port == src.Port && mac == src.MAC
}

// install sets the block's level and expiry from the source's history,
// installs its drop flows on every switch in scope (confirmed in the
// background, retried until confirmed: sync.go), persists it and publishes
// the event.
func (c *Controller) install(r *blockRecord, now time.Time, by string) {
	b := &r.Block
	var hist *history // the source's offences, written once the flows are out
	var key string
	if b.Expires.IsZero() {
		key = blockHistoryKey(*b)
		h, _, _ := store.GetJSON[history](c.store, store.BucketHistory, key)
		bs := c.blockSettings()
		if !h.Last.IsZero() && bs.historyExpiry > 0 && now.Sub(h.Last) > bs.historyExpiry {
			h.Count = 0
		}
		b.Level = h.Count
		b.Expires = now.Add(policy.Escalation(bs.durs, h.Count))
		h.Count++
		h.Last = now
		hist = &h
	}
	// In c.blocks before any flow is sent: a pass that reads the blocks
	// after this sends them too, one that read them before cannot remove
	// them (sendBlock and the pass take bs.sendMu in turn).
	c.mu.Lock()
	c.blocks[b.ID] = r
	n := len(c.blocks)
	c.mu.Unlock()
	for _, bs := range c.syncs.all() {
		c.sendBlock(bs, *b, now)
	}
	c.blocksN.Add(1)
	c.m.Active.Set(float64(n))
	// The store's writes (each an fsync) come after the flow-mods: every
	// millisecond before the drop flow lands is more probes answered.
	if hist != nil {
		if err := store.PutJSON(c.store, store.BucketHistory, key, *hist); err != nil {
			c.log.Error("store: saving history failed", "err", err)
		}
	}
	if err := store.PutJSON(c.store, store.BucketBlocks, b.ID, *r); err != nil {
		c.log.Error("store: saving block failed", "block", b.ID, "err", err)
	}
	exp := b.Expires
	c.bus.Publish(event.Event{Type: event.Blocked, DPID: b.Source.DPID, Port: b.Source.Port, MAC: macString(b.Source.MAC),
		IP: firstIP(r.AllIPs), IPs: addrStrings(r.AllIPs), Kind: b.Kind, BlockID: b.ID, Level: b.Level, Scope: b.Scope.String(),
		Reason: b.Reason, Evidence: r.Evidence, Probes: r.Probes, Expires: &exp,
		Message: fmt.Sprintf("blocked %s (port %d on %s) until %s by %s: %s", macString(b.Source.MAC), b.Source.Port,
			fmtDPID(b.Source.DPID), exp.UTC().Format(time.RFC3339), by, b.Reason)})
	c.log.Info("blocked", "block", b.ID, "mac", macString(b.Source.MAC), "dpid", fmtDPID(b.Source.DPID), "port", b.Source.Port,
		"ips", addrStrings(b.IPs), "kind", b.Kind, "level", b.Level, "expires", exp.UTC().Format(time.RFC3339), "by", by)
	c.notifyVictims(r, now)
}

// expire removes blocks past their expiry.
func (c *Controller) expire(now time.Time) {
	var gone []*blockRecord
	c.mu.Lock()
	for id, r := range c.blocks {
		if !r.Block.Active(now) {
			gone = append(gone, r)
			delete(c.blocks, id)
		}
	}
	n := len(c.blocks)
	c.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	c.m.Active.Set(float64(n))
	for _, r := range gone {
		c.m.Removed.WithLabelValues("expired").Inc()
		c.lift(r, event.BlockExpired, "expired")
	}
}

// lift removes a block's flows everywhere, its stored record, and lets the
// detector start afresh for the source. The caller has removed it from
// c.blocks, so no pass or late install sends its flows again.
func (c *Controller) lift(r *blockRecord, t event.Type, why string) {
	b := r.Block
	for _, bs := range c.syncs.all() {
		bs.sendMu.Lock()
		err := c.sendTo(bs.sw.sess, policy.UnblockFlows(b)...)
		bs.forget(b.ID)
		bs.sendMu.Unlock()
		if err != nil {
			bs.poke() // the next pass deletes the stale flows by cookie
		}
	}
	if err := c.store.Delete(store.BucketBlocks, b.ID); err != nil {
		c.log.Error("store: deleting block failed", "block", b.ID, "err", err)
	}
	c.detMu.Lock()
	c.det.Forget(detect.Source{DPID: b.Source.DPID, Port: b.Source.Port, MAC: b.Source.MAC})
	c.detMu.Unlock()
	c.bus.Publish(event.Event{Type: t, DPID: b.Source.DPID, Port: b.Source.Port, MAC: macString(b.Source.MAC),
		IP: firstIP(r.AllIPs), BlockID: b.ID, Kind: b.Kind, Reason: why,
		Message: fmt.Sprintf("block %s of %s lifted: %s", b.ID, macString(b.Source.MAC), why)})
	c.log.Info("block lifted", "block", b.ID, "mac", macString(b.Source.MAC), "why", why)
}

// notifyVictims delivers a signed notice into the switch port of every
// protected host the scanner probed (where the controller knows it lives).
func (c *Controller) notifyVictims(r *blockRecord, now time.Time) {
	if c.noticeK == nil || len(r.Targets) == 0 {
		return
	}
	port := c.cfg.Notify.Notice.Port
	if port == 0 {
		port = notice.DefaultPort
	}
	sent := 0
	for _, victim := range r.Targets {
		if sent >= 8 {
			break
		}
		dpid, vport, vmac, ok := c.locateIP(victim)
		if !ok {
			continue
		}
		c.mu.Lock()
		sw := c.byDPID[dpid]
		c.mu.Unlock()
		if sw == nil {
			continue
		}
		n := notice.Notice{Time: now, Event: notice.EventBlocked, Scanners: r.AllIPs, ScannerMAC: r.Block.Source.MAC,
			Kind: r.Block.Kind, Probes: uint32(r.Probes), BlockExpiry: r.Block.Expires, Victim: victim,
			Message: "Portcullis blocked a " + r.Block.Kind + " against this host: " + r.Block.Reason}
		payload := notice.Seal(c.noticeK, n)
		srcIP := noticeSourceV4
		if victim.Is6() && !victim.Is4In6() {
			srcIP = noticeSourceV6
		}
		frame := notice.Frame(vmac, controllerMAC, victim, srcIP, port, port, payload)
		if err := c.sendTo(sw.sess, packetOut(vport, frame)); err != nil {
			c.m.NoticesFailed.Inc()
			c.bus.Publish(event.Event{Type: event.NoticeFailed, Target: victim.String(), BlockID: r.Block.ID, Message: err.Error()})
			continue
		}
		sent++
		c.m.NoticesSent.Inc()
		c.bus.Publish(event.Event{Type: event.NoticeSent, Target: victim.String(), BlockID: r.Block.ID, DPID: dpid, Port: vport,
			Message: fmt.Sprintf("notice sent to %s (port %d on %s)", victim, vport, fmtDPID(dpid))})
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
