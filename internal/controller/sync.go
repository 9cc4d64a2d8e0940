package controller

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/event"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// Block flows on each switch. One goroutine per connected switch (reconcile)
// keeps the switch's block flows equal to the blocks in force: a pass reads
// them (one cookie-filtered flow-stats request), sends the difference
// (policy.Reconcile) and a barrier. It runs when the switch connects, again
// soon after a pass that had to send something or failed (with backoff), when
// an install could not be confirmed, and every block.audit_interval. Installs
// and lifts send their flow-mods at once (the latency that matters); a block
// is confirmed on a switch only when the switch is seen holding all its
// flows: read back after the install's barrier, or in a pass's dump.
//
//	         install/extend sent           read back complete
//	(none) ───────────────────► pending ───────────────────────► confirmed
//	                              │  ▲                              │
//	      send, barrier or read   │  │ a pass re-sends              │ a pass finds
//	      back failed             ▼  │                              │ flows missing
//	                             failed ◄────────────────────────────┘ (re-sends: pending)
//
// Lock order: bs.sendMu, then c.mu (reading the blocks in force) or bs.mu;
// neither c.mu nor bs.mu is held while taking bs.sendMu. The packet-in path
// takes no blockSync lock.

// Retry delays after a pass that failed or had to send something.
const (
	syncRetryMin = 500 * time.Millisecond
	syncRetryMax = 30 * time.Second
)

// blockSync is the block-flow state of one connected switch.
type blockSync struct {
	sw   *switchState
	kick chan struct{} // capacity 1: run a pass soon

	// sendMu orders block flow-mods to this switch: a pass holds it from
	// reading the blocks in force until its difference is queued, installs
	// and lifts while they queue theirs, so no pass can re-add what a lift
	// removed after the pass read the blocks.
	sendMu sync.Mutex

	mu    sync.Mutex // guards flows
	flows map[string]flowState
}

// flowState is a block's state on one switch.
type flowState struct {
	state       string // api.BlockPending, api.BlockConfirmed, api.BlockFailed
	confirmedAt time.Time
	err         string
}

func (bs *blockSync) poke() {
	select {
	case bs.kick <- struct{}{}:
	default:
	}
}

// set records a block's state; a confirmation keeps the time of the first
// one in a row.
func (bs *blockSync) set(id, state string, at time.Time, err string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	old := bs.flows[id]
	st := flowState{state: state, err: err}
	if state == api.BlockConfirmed {
		st.confirmedAt = at
		if old.state == api.BlockConfirmed {
			st.confirmedAt = old.confirmedAt
		}
	}
	bs.flows[id] = st
}

// update is set for a block that still has a state here (not lifted since).
func (bs *blockSync) update(id, state string, at time.Time, err string) {
	bs.mu.Lock()
	_, ok := bs.flows[id]
	bs.mu.Unlock()
	if ok {
		bs.set(id, state, at, err)
	}
}

func (bs *blockSync) forget(id string) {
	bs.mu.Lock()
	delete(bs.flows, id)
	bs.mu.Unlock()
}

// syncTable holds the blockSync of every connected switch.
type syncTable struct {
	mu sync.Mutex
	m  map[*switchState]*blockSync
}

func (t *syncTable) add(sw *switchState) *blockSync {
	bs := &blockSync{sw: sw, kick: make(chan struct{}, 1), flows: map[string]flowState{}}
	t.mu.Lock()
	if t.m == nil {
		t.m = map[*switchState]*blockSync{}
	}
	t.m[sw] = bs
	t.mu.Unlock()
	return bs
}

func (t *syncTable) remove(sw *switchState) {
	t.mu.Lock()
	delete(t.m, sw)
	t.mu.Unlock()
}

func (t *syncTable) all() []*blockSync {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*blockSync, 0, len(t.m))
	for _, bs := range t.m {
		out = append(out, bs)
	}
	slices.SortFunc(out, func(a, b *blockSync) int { return cmpU64(a.sw.dpid, b.sw.dpid) })
	return out
}

// states returns, per block ID, its state on every switch, by datapath id.
func (t *syncTable) states() map[string][]api.BlockSwitch {
	out := map[string][]api.BlockSwitch{}
	for _, bs := range t.all() {
		dpid := fmtDPID(bs.sw.dpid)
		bs.mu.Lock()
		for id, st := range bs.flows {
			out[id] = append(out[id], api.BlockSwitch{DPID: dpid, State: st.state, ConfirmedAt: st.confirmedAt, Error: st.err})
		}
		bs.mu.Unlock()
	}
	return out
}

// reconcile runs the block-flow passes of a switch that finished its
// handshake, until its session ends. The first successful pass publishes
// SwitchUp.
func (c *Controller) reconcile(sw *switchState) {
	bs := c.syncs.add(sw)
	defer c.syncs.remove(sw)
	up := false
	backoff := syncRetryMin
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ok, sent := c.syncPass(bs, !up)
		if ok && !up {
			up = true
			c.bus.Publish(event.Event{Type: event.SwitchUp, DPID: sw.dpid,
				Message: "switch " + fmtDPID(sw.dpid) + " connected from " + sw.sess.RemoteAddr().String()})
		}
		wait := c.auditInterval()
		if !ok || sent {
			wait = backoff
			backoff = min(2*backoff, syncRetryMax)
		} else {
			backoff = syncRetryMin
		}
		timer.Reset(wait)
		if wait <= 0 {
			timer.Stop() // no audit: passes only when poked
		}
		select {
		case <-sw.sess.Done():
			return
		case <-bs.kick:
		case <-timer.C:
		}
	}
}

// syncPass makes the switch's block flows agree with the blocks in force and
// records, per block, whether the switch holds them. It reports whether the
// pass completed and whether it had to send anything.
func (c *Controller) syncPass(bs *blockSync, first bool) (ok, sent bool) {
	s := bs.sw.sess
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	reply, err := c.request(ctx, s, policy.BlockFlowsRequest())
	if err != nil {
		s.Logger().Warn("reconcile: dumping block flows failed", "err", err)
		return false, false
	}
	have, _ := flowStats(reply)
	byCookie := map[uint64][]ofp.FlowStats{}
	for _, f := range have {
		byCookie[f.Cookie] = append(byCookie[f.Cookie], f)
	}

	bs.sendMu.Lock()
	now := c.now()
	want := c.activeBlocks()
	msgs := policy.Reconcile(want, have, bs.sw.dpid, now)
	if len(msgs) > 0 {
		err = c.sendTo(s, msgs...)
	}
	held := map[string]bool{}
	for _, b := range want {
		if len(policy.BlockInstall(b, bs.sw.dpid, now)) == 0 {
			continue
		}
		held[b.ID] = len(policy.Reconcile([]policy.Block{b}, byCookie[b.FlowCookie()], bs.sw.dpid, now)) == 0
	}
	bs.sendMu.Unlock()

	bs.mu.Lock()
	for id := range bs.flows {
		if _, ok := held[id]; !ok {
			delete(bs.flows, id)
		}
	}
	bs.mu.Unlock()
	for id, ok := range held {
		switch {
		case ok:
			bs.set(id, api.BlockConfirmed, now, "")
		case err != nil:
			bs.set(id, api.BlockFailed, now, "send: "+err.Error())
		default:
			bs.set(id, api.BlockPending, now, "")
		}
	}
	if err != nil {
		s.Logger().Warn("reconcile: send failed", "err", err)
		return false, false
	}
	if len(msgs) > 0 || first { // the first pass ends with a barrier even with nothing to send: the switch is ready
		if err := c.barrier(ctx, s); err != nil {
			s.Logger().Warn("reconcile: barrier failed", "err", err)
			for id, ok := range held {
				if !ok {
					bs.update(id, api.BlockFailed, now, "barrier: "+err.Error())
				}
			}
			return false, true
		}
	}
	took := time.Since(start).Round(time.Microsecond).String()
	switch {
	case first:
		s.Logger().Info("switch ready", "blocks", len(want), "had_block_flows", len(have), "sent", len(msgs), "took", took)
	case len(msgs) > 0:
		s.Logger().Warn("block audit repaired the switch's block flows", "blocks", len(want), "had_block_flows", len(have),
			"sent", len(msgs), "missing", missingIDs(held), "took", took)
	}
	return true, len(msgs) > 0
}

// auditInterval is block.audit_interval, which a reload may change.
func (c *Controller) auditInterval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Block.AuditInterval
}

func missingIDs(held map[string]bool) string {
	var ids []string
	for id, ok := range held {
		if !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// sendBlock sends block b's flows to one switch, unless b is no longer in
// force, and confirms them in the background. Must not hold c.mu.
func (c *Controller) sendBlock(bs *blockSync, b policy.Block, since time.Time) {
	msgs := policy.BlockInstall(b, bs.sw.dpid, since)
	if len(msgs) == 0 {
		return
	}
	bs.sendMu.Lock()
	c.mu.Lock()
	_, inForce := c.blocks[b.ID]
	c.mu.Unlock()
	if !inForce { // lifted meanwhile: its flows must not come back
		bs.sendMu.Unlock()
		return
	}
	bs.set(b.ID, api.BlockPending, since, "")
	err := c.sendTo(bs.sw.sess, msgs...)
	bs.sendMu.Unlock()
	if err != nil {
		c.log.Error("block install failed", "dpid", fmtDPID(bs.sw.dpid), "block", b.ID, "err", err)
		bs.update(b.ID, api.BlockFailed, since, "send: "+err.Error())
		c.bus.Publish(event.Event{Type: event.BlockFailed, DPID: bs.sw.dpid, BlockID: b.ID, MAC: macString(b.Source.MAC),
			Message: "installing block " + b.ID + " failed: " + err.Error()})
		bs.poke()
		return
	}
	go c.confirm(bs, b, since)
}

// reinstall sends the flows of a block whose addresses grew to every switch.
func (c *Controller) reinstall(b policy.Block, now time.Time) {
	for _, bs := range c.syncs.all() {
		c.sendBlock(bs, b, now)
	}
}

// confirm waits for the barrier after a block's flow-mods (recording the
// install latency, verdict to barrier reply), then reads the block's flows
// back: confirmed if the switch holds them all, failed (and retried by a
// pass) if not.
func (c *Controller) confirm(bs *blockSync, b policy.Block, since time.Time) {
	s := bs.sw.sess
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fail := func(why string) {
		c.log.Warn("block not confirmed", "dpid", fmtDPID(bs.sw.dpid), "block", b.ID, "why", why)
		bs.update(b.ID, api.BlockFailed, c.now(), why)
		bs.poke()
	}
	if err := c.barrier(ctx, s); err != nil {
		fail("barrier: " + err.Error())
		return
	}
	d := c.now().Sub(since)
	c.m.BlockInstalled(b.Scope.String(), d)
	reply, err := c.request(ctx, s, policy.BlockFlowRequest(b))
	if err != nil {
		fail("reading the flows back: " + err.Error())
		return
	}
	have, _ := flowStats(reply)
	if len(policy.Reconcile([]policy.Block{b}, have, bs.sw.dpid, c.now())) != 0 {
		fail("the switch does not hold the block's flows")
		return
	}
	bs.update(b.ID, api.BlockConfirmed, c.now(), "")
	c.log.Debug("block confirmed", "dpid", fmtDPID(bs.sw.dpid), "block", b.ID, "latency", d.String())
}
