package policy

import (
	"slices"
	"strings"
	"time"

	"portcullis/internal/event"
	"portcullis/ofp"
)

// Block flows on each switch (issue 8, item 5). The engine keeps, per connected switch and block,
// whether the switch holds the block's flows, and keeps them equal to the blocks in force by
// passes: a pass dumps the switch's block flows (one cookie-filtered flow-stats request: Dump),
// sends the difference (Reconcile) and a barrier. A pass runs when the switch connects, again soon
// after a pass that had to send something or failed (with backoff), when an install could not be
// confirmed, and every audit interval. Installs and lifts send their flow-mods at once (the
// latency that matters); a block is confirmed on a switch only when the switch is seen holding
// all its flows: read back after the install's barrier, or in a pass's dump.
//
//	         install/extend sent           read back complete
//	(none) ───────────────────► pending ───────────────────────► confirmed
//	                              │  ▲                              │
//	      send, barrier or read   │  │ a pass re-sends              │ a pass finds
//	      back failed             ▼  │                              │ flows missing
//	                             failed ◄────────────────────────────┘ (re-sends: pending)
//
// A pass decides its difference when the dump's reply comes in, against the blocks in force then,
// and the driver sends everything for one switch in the order Ready lists it: no pass re-adds a
// block lifted after the reply, and a lift after the pass's sends follows them on the wire.

// Block states on a switch (the API's words).
const (
	StatePending   = "pending"
	StateConfirmed = "confirmed"
	StateFailed    = "failed"
)

// Retry delays after a pass that failed or had to send something.
const (
	SyncRetryMin = 500 * time.Millisecond
	SyncRetryMax = 30 * time.Second
)

// SwitchState is a block's state on one switch.
type SwitchState struct {
	DPID        uint64
	State       string // StatePending, StateConfirmed, StateFailed
	ConfirmedAt time.Time
	Err         string
}

type flowState struct {
	state       string
	confirmedAt time.Time
	err         string
}

// swSync is the block-flow state of one connected switch.
type swSync struct {
	dpid, epoch uint64
	addr        string
	flows       map[string]flowState

	up      bool          // a pass completed: SwitchUp published
	seq     uint64        // last pass number
	pass    uint64        // the pass in flight (0: none)
	poked   bool          // run a pass once the one in flight ends
	due     time.Time     // when the next pass runs (zero: only when poked)
	backoff time.Duration // delay after the next pass that fails or sends

	// the pass in flight, between its reply and its barrier
	first   bool
	held    map[string]bool
	started time.Time
	nWant   int
	nHave   int
	nSent   int
}

func (e *Engine) switches() []*swSync {
	out := make([]*swSync, 0, len(e.sws))
	for _, sw := range e.sws {
		out = append(out, sw)
	}
	slices.SortFunc(out, func(a, b *swSync) int {
		switch {
		case a.dpid < b.dpid:
			return -1
		case a.dpid > b.dpid:
			return 1
		}
		return 0
	})
	return out
}

func (e *Engine) sw(dpid, epoch uint64) *swSync {
	sw := e.sws[dpid]
	if sw == nil || sw.epoch != epoch {
		return nil
	}
	return sw
}

// set records a block's state; a confirmation keeps the time of the first one in a row.
func (e *Engine) setState(sw *swSync, id, state string, at time.Time, err string) {
	old := sw.flows[id]
	st := flowState{state: state, err: err}
	if state == StateConfirmed {
		st.confirmedAt = at
		if old.state == StateConfirmed {
			st.confirmedAt = old.confirmedAt
		}
	}
	if st != old {
	}
	sw.flows[id] = st
}

// update is setState for a block that still has a state there (not lifted since).
func (e *Engine) update(sw *swSync, id, state string, at time.Time, err string) {
	if _, ok := sw.flows[id]; ok {
		e.setState(sw, id, state, at, err)
	}
}

func (e *Engine) states(id string) []SwitchState {
	var out []SwitchState
	for _, sw := range e.switches() {
		if st, ok := sw.flows[id]; ok {
			out = append(out, SwitchState{DPID: sw.dpid, State: st.state, ConfirmedAt: st.confirmedAt, Err: st.err})
		}
	}
	return out
}

// SwitchConnected starts keeping the block flows of a switch that finished its handshake (the
// pipeline is in place): its first pass starts at once. epoch tells this session from an earlier
// or later one of the same datapath id; addr is where it connected from (for the event).
func (e *Engine) SwitchConnected(now time.Time, dpid, epoch uint64, addr string) {
	sw := &swSync{dpid: dpid, epoch: epoch, addr: addr, flows: map[string]flowState{}, backoff: SyncRetryMin}
	e.sws[dpid] = sw
	e.floodForget(dpid)
	e.startPass(sw, now)
}

// SwitchDisconnected forgets a switch whose session ended (a later session of the same datapath
// id is kept).
func (e *Engine) SwitchDisconnected(dpid, epoch uint64) {
	if e.sw(dpid, epoch) != nil {
		delete(e.sws, dpid)
		e.floodForget(dpid)
	}
}

// poke runs a pass soon: now, or when the one in flight ends.
func (e *Engine) poke(sw *swSync, now time.Time) {
	if sw.pass != 0 {
		sw.poked = true
		return
	}
	e.startPass(sw, now)
}

func (e *Engine) startPass(sw *swSync, now time.Time) {
	sw.seq++
	sw.pass = sw.seq
	sw.poked = false
	sw.first = !sw.up
	sw.started = now
	e.rd.Dumps = append(e.rd.Dumps, Dump{DPID: sw.dpid, Epoch: sw.epoch, Pass: sw.pass})
}

// sendBlock sends block b's flows to one switch and marks them pending there.
func (e *Engine) sendBlock(sw *swSync, b Block, since time.Time) {
	msgs := BlockInstall(b, sw.dpid, since)
	if len(msgs) == 0 {
		return
	}
	e.setState(sw, b.ID, StatePending, since, "")
	e.rd.Sends = append(e.rd.Sends, Send{DPID: sw.dpid, Epoch: sw.epoch, Msgs: msgs, Install: b.ID, Since: since, Scope: b.Scope})
}

// SendFailed reports that a Send could not be queued to its switch.
func (e *Engine) SendFailed(now time.Time, s Send, err error) {
	sw := e.sw(s.DPID, s.Epoch)
	if sw == nil {
		return
	}
	switch {
	case s.Install != "":
		e.log("error", "block install failed", "dpid", fmtDPID(s.DPID), "block", s.Install, "err", err)
		e.update(sw, s.Install, StateFailed, s.Since, "send: "+err.Error())
		mac := ""
		if r := e.blocks[s.Install]; r != nil {
			mac = macString(r.Block.Source.MAC)
		}
		e.publish(event.Event{Type: event.BlockFailed, DPID: s.DPID, BlockID: s.Install, MAC: mac,
			Message: "installing block " + s.Install + " failed: " + err.Error()})
		e.poke(sw, now)
	case s.Pass != 0:
		e.PassDone(now, s.DPID, s.Epoch, s.Pass, err, true)
	default:
		e.poke(sw, now) // a lift: the next pass deletes the stale flows by cookie
	}
}

// InstallConfirmed reports the confirmation of an install on a switch: failure says why it
// failed (the barrier, or reading the flows back), have is the block's flows read back.
func (e *Engine) InstallConfirmed(now time.Time, dpid, epoch uint64, id string, have []ofp.FlowStats, failure string) {
	sw := e.sw(dpid, epoch)
	r := e.blocks[id]
	if sw == nil || r == nil {
		return
	}
	if failure == "" && len(Reconcile([]Block{r.Block}, have, dpid, now)) != 0 {
		failure = "the switch does not hold the block's flows"
	}
	if failure != "" {
		e.log("warn", "block not confirmed", "dpid", fmtDPID(dpid), "block", id, "why", failure)
		e.update(sw, id, StateFailed, now, failure)
		e.poke(sw, now)
		return
	}
	e.update(sw, id, StateConfirmed, now, "")
	e.log("debug", "block confirmed", "dpid", fmtDPID(dpid), "block", id)
}

// PassReply hands the engine a pass's dump: the switch's block flows, or the request's error.
// The engine sends the difference (a Send with Pass set, after which the driver sends a barrier
// and reports PassDone) and records per block whether the switch holds it.
func (e *Engine) PassReply(now time.Time, dpid, epoch, pass uint64, have []ofp.FlowStats, err error) {
	sw := e.sw(dpid, epoch)
	if sw == nil || sw.pass != pass {
		return
	}
	if err != nil {
		e.log("warn", "reconcile: dumping block flows failed", "dpid", fmtDPID(dpid), "err", err)
		e.finishPass(sw, now, false, false)
		return
	}
	byCookie := map[uint64][]ofp.FlowStats{}
	for _, f := range have {
		byCookie[f.Cookie] = append(byCookie[f.Cookie], f)
	}
	want := e.active(now)
	msgs := Reconcile(want, have, dpid, now)
	held := map[string]bool{}
	for _, b := range want {
		if len(BlockInstall(b, dpid, now)) == 0 {
			continue
		}
		held[b.ID] = len(Reconcile([]Block{b}, byCookie[b.FlowCookie()], dpid, now)) == 0
	}
	for id := range sw.flows {
		if _, ok := held[id]; !ok {
			delete(sw.flows, id)
		}
	}
	for id, ok := range held {
		if ok {
			e.setState(sw, id, StateConfirmed, now, "")
		} else {
			e.setState(sw, id, StatePending, now, "")
		}
	}
	sw.held, sw.nWant, sw.nHave, sw.nSent = held, len(want), len(have), len(msgs)
	if len(msgs) == 0 && !sw.first {
		e.finishPass(sw, now, true, false)
		return
	}
	// The first pass ends with a barrier even with nothing to send: the switch is ready.
	e.rd.Sends = append(e.rd.Sends, Send{DPID: dpid, Epoch: epoch, Msgs: msgs, Pass: pass})
}

// PassDone reports the barrier after a pass's difference (err nil: the switch has done it), or
// with sendErr the error of sending the difference itself.
func (e *Engine) PassDone(now time.Time, dpid, epoch, pass uint64, err error, sendErr bool) {
	sw := e.sw(dpid, epoch)
	if sw == nil || sw.pass != pass {
		return
	}
	if err != nil {
		what := "barrier: "
		if sendErr {
			what = "send: "
			e.log("warn", "reconcile: send failed", "dpid", fmtDPID(dpid), "err", err)
		} else {
			e.log("warn", "reconcile: barrier failed", "dpid", fmtDPID(dpid), "err", err)
		}
		for id, ok := range sw.held {
			if !ok {
				e.update(sw, id, StateFailed, now, what+err.Error())
			}
		}
		e.finishPass(sw, now, false, !sendErr)
		return
	}
	took := now.Sub(sw.started).String()
	switch {
	case sw.first:
		e.log("info", "switch ready", "dpid", fmtDPID(dpid), "blocks", sw.nWant, "had_block_flows", sw.nHave, "sent", sw.nSent, "took", took)
	case sw.nSent > 0:
		e.log("warn", "block audit repaired the switch's block flows", "dpid", fmtDPID(dpid), "blocks", sw.nWant,
			"had_block_flows", sw.nHave, "sent", sw.nSent, "missing", missingIDs(sw.held), "took", took)
	}
	e.finishPass(sw, now, true, sw.nSent > 0)
}

// finishPass ends the pass in flight and schedules the next: soon (with backoff) after a pass
// that failed or had to send something, else after the audit interval.
func (e *Engine) finishPass(sw *swSync, now time.Time, ok, sent bool) {
	if ok && !sw.up {
		sw.up = true
		e.publish(event.Event{Type: event.SwitchUp, DPID: sw.dpid,
			Message: "switch " + fmtDPID(sw.dpid) + " connected from " + sw.addr})
	}
	sw.pass, sw.held = 0, nil
	wait := e.set.AuditInterval
	if !ok || sent {
		wait = sw.backoff
		sw.backoff = min(2*sw.backoff, SyncRetryMax)
	} else {
		sw.backoff = SyncRetryMin
	}
	sw.due = time.Time{}
	if wait > 0 {
		sw.due = now.Add(wait)
	}
	if sw.poked {
		e.startPass(sw, now)
	}
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

// Switches returns block id's state on each connected switch it has flows on.
func (e *Engine) Switches(id string) []SwitchState { return e.states(id) }
