package policy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// The block lifecycle as one pure state machine, in the manner of etcd raft's RawNode: who is
// blocked, where, for how long, and whether every switch holds the flows.
//
// Inputs are calls with the time: Verdict (the detector's, a flood's or a MAC spoof's), AddBlock
// and RemoveBlock (the operator), Tick (expiry, audits due), SwitchConnected / SwitchDisconnected,
// PortDown, SYNCounters (a switch's SYN counter reading: engine_flood.go), and the outcomes of the
// IO the engine asked for (PassReply, PassDone, InstallConfirmed, SendFailed). Station and home facts are read, never written, through the
// Stations view the engine is built with (forward.Switch tables, owned by the switches'
// goroutines); what the engine wants changed there comes out as a Release.
//
// Ready returns what to do: flow-mods per switch (Sends, in order), flow dumps (Dumps), store
// writes, events, victim notices, sources the detector must forget, station homes to release, SYN
// station counters to install (Flows), the verdicts it made itself (Verdicts) and log lines. The driver does them, reports the outcomes of the IO back through the calls above,
// and calls Advance. The engine holds no locks, does no IO and reads no clock; one goroutine
// drives it (internal/controller, block.go).
//
//	verdict ──► grace? protected? ──► attribution (engine_attr.go) ──► extend or install
//	                                                                       │
//	            Tick: expiry ──► lift ◄── RemoveBlock, PortDown (a move)   ▼
//	                                                        Sends to every switch in scope,
//	                                                        one Confirm per install (engine_sync.go)

// Stations is the read-only view of the switches' station tables the engine decides with: where
// each MAC and address lives (forward.Switch). An implementation answers for connected switches
// and returns nothing for others.
type Stations interface {
	// PortOf returns the port MAC mac is learned on at switch dpid.
	PortOf(dpid uint64, mac [6]byte) (port uint32, ok bool)
	// IPLivesAt returns the port and MAC behind which ip lives on switch dpid.
	IPLivesAt(dpid uint64, ip netip.Addr) (port uint32, mac [6]byte, ok bool)
	// Hosts returns the stations learned on switch dpid.
	Hosts(dpid uint64) []forward.Host
}

// BlockRecord is a block as persisted and shown by the API.
type BlockRecord struct {
	Block    Block        `json:"block"`
	AllIPs   []netip.Addr `json:"all_ips,omitempty"` // every address the source used, bound or not
	Evidence []string     `json:"evidence,omitempty"`
	Probes   int          `json:"probes,omitempty"`
	Targets  []netip.Addr `json:"targets,omitempty"`
}

// History is a source's past offences, for escalation.
type History struct {
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// EngineConfig is what an Engine is built with.
type EngineConfig struct {
	Stations Stations
	// NewID returns a fresh block id.
	NewID func() string
	// Started and Grace: verdicts before Started+Grace block nobody.
	Started time.Time
	Grace   time.Duration
	// MaxHistory bounds the escalation records kept (default 65536).
	MaxHistory int
	// Flood is the SYN-flood rule (engine_flood.go; a zero SYNRate turns it off), Senders what
	// the detector knows of a flood's sender.
	Flood   detect.FloodConfig
	Senders Senders
}

// Settings are the engine's reloadable settings.
type Settings struct {
	Scope         Scope
	Durations     []time.Duration
	HistoryExpiry time.Duration
	AuditInterval time.Duration // zero: no periodic audit
	Never         *Allowlist    // never-block list
	Allow         *Allowlist    // allowlist (configured and run-time)
}

// Send is flow-mods for one switch session. The driver sends them in order; then:
//   - Install set: on success it confirms the install (barrier, then the block's flows read back by
//     cookie) and reports InstallConfirmed; on a send error SendFailed;
//   - Pass set: it sends a barrier and reports PassDone (with the send's error if the send failed);
//   - Lift set: on a send error it reports SendFailed (the next pass deletes the flows by cookie).
type Send struct {
	DPID, Epoch uint64
	Msgs        []ofp.Message
	Install     string    // block id whose install this is
	Since       time.Time // the install's time (latency is measured from it)
	Scope       Scope     // the installed block's scope
	Pass        uint64    // audit pass whose difference this is
	Lift        string    // block id whose lift this is
}

// Dump asks the driver for a switch's block flows (BlockFlowsRequest); it reports the reply with
// PassReply.
type Dump struct {
	DPID, Epoch, Pass uint64
}

// WriteKind says what a store Write does.
type WriteKind uint8

// Store writes.
const (
	PutBlock WriteKind = iota + 1
	DeleteBlock
	PutHistory
)

// Write is one store write.
type Write struct {
	Kind    WriteKind
	Key     string
	Block   BlockRecord // PutBlock
	History History     // PutHistory
}

// Notice asks the driver to deliver a signed notice of block Record to the protected host Victim,
// which lives behind Port (MAC MAC) of switch DPID. The driver sends at most eight per block.
type Notice struct {
	DPID   uint64
	Port   uint32
	MAC    [6]byte
	Victim netip.Addr
	Record BlockRecord
}

// Release asks the driver to release MAC's home on switch DPID (forward.Switch.Forget) if it is
// still learned at port At.
type Release struct {
	DPID uint64
	MAC  [6]byte
	At   uint32
}

// LogLine is a line for the driver's log.
type LogLine struct {
	Level string // "debug", "info", "warn", "error"
	Msg   string
	Args  []any
}

// Ready is what the engine wants done. Sends come first, in order; the rest may follow in any
// order. Installed counts the blocks created, Removed the reasons ("expired", "operator") of
// blocks that ended.
type Ready struct {
	Sends     []Send
	Dumps     []Dump
	Writes    []Write
	Events    []event.Event
	Notices   []Notice
	Forget    []detect.Source
	Release   []Release
	Logs      []LogLine
	Installed int
	Removed   []string
	Flows     []FlowSend       // SYN station counters to install (engine_flood.go)
	Verdicts  []detect.Verdict // verdicts the engine made itself (SYN floods) and acted on, to count
}

func (r *Ready) empty() bool {
	return len(r.Sends) == 0 && len(r.Dumps) == 0 && len(r.Writes) == 0 && len(r.Events) == 0 &&
		len(r.Notices) == 0 && len(r.Forget) == 0 && len(r.Release) == 0 && len(r.Logs) == 0 &&
		r.Installed == 0 && len(r.Removed) == 0 && len(r.Flows) == 0 && len(r.Verdicts) == 0
}

// Engine is the block lifecycle. It is not safe for concurrent use: one goroutine drives it.
type Engine struct {
	cfg EngineConfig
	set Settings

	blocks map[string]*BlockRecord
	hist   map[string]History
	sws    map[uint64]*swSync // connected switches (engine_sync.go)
	attr   attribution        // spoof strikes, MAC rotation windows (engine_attr.go)
	fl     floodState         // SYN-flood counters and station counters (engine_flood.go)

	follower bool // a follower of a cluster: no verdicts, no expiry deletes (engine_store.go)

	// released are the homes released in this Ready, which the driver has not applied yet: the
	// engine's reads see them gone.
	released []Release

	rd Ready
}

// NewEngine returns an engine with no blocks.
func NewEngine(cfg EngineConfig, set Settings) *Engine {
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = 65536
	}
	e := &Engine{cfg: cfg, set: set, blocks: map[string]*BlockRecord{}, hist: map[string]History{},
		sws: map[uint64]*swSync{}}
	e.floodInit(cfg.Flood)
	return e
}

// SetSettings replaces the reloadable settings.
func (e *Engine) SetSettings(s Settings) { e.set = s }

// Restore loads the blocks and escalation records persisted before a restart. Blocks no longer
// active at now are deleted from the store.
func (e *Engine) Restore(now time.Time, blocks []BlockRecord, hist map[string]History) {
	for _, r := range blocks {
		if !r.Block.Active(now) {
			e.rd.Writes = append(e.rd.Writes, Write{Kind: DeleteBlock, Key: r.Block.ID})
			continue
		}
		rc := r
		e.blocks[r.Block.ID] = &rc
	}
	for k, h := range hist {
		if len(e.hist) >= e.cfg.MaxHistory {
			break
		}
		e.hist[k] = h
	}
}

// HasReady reports whether Ready has anything to do.
func (e *Engine) HasReady() bool { return !e.rd.empty() }

// Ready returns what to do. It stays valid until Advance.
func (e *Engine) Ready() Ready { return e.rd }

// Advance tells the engine the last Ready was done.
func (e *Engine) Advance() {
	e.rd = Ready{}
	e.released = e.released[:0]
}

// Len is the number of blocks held.
func (e *Engine) Len() int { return len(e.blocks) }

// BlockStatus is a block with its state on each connected switch it has flows on.
type BlockStatus struct {
	Record   BlockRecord
	Switches []SwitchState
}

// Blocks returns every block held (copies), by creation time, each with its state per switch.
func (e *Engine) Blocks() []BlockStatus {
	out := make([]BlockStatus, 0, len(e.blocks))
	for _, r := range e.blocks {
		out = append(out, BlockStatus{Record: cloneRecord(*r), Switches: e.states(r.Block.ID)})
	}
	slices.SortFunc(out, func(a, b BlockStatus) int {
		if c := a.Record.Block.Created.Compare(b.Record.Block.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Record.Block.ID, b.Record.Block.ID)
	})
	return out
}

// Block returns block id's record and states.
func (e *Engine) Block(id string) (BlockStatus, bool) {
	r := e.blocks[id]
	if r == nil {
		return BlockStatus{}, false
	}
	return BlockStatus{Record: cloneRecord(*r), Switches: e.states(id)}, true
}

func cloneRecord(r BlockRecord) BlockRecord {
	r.Block.IPs = slices.Clone(r.Block.IPs)
	r.AllIPs = slices.Clone(r.AllIPs)
	r.Evidence = slices.Clone(r.Evidence)
	r.Targets = slices.Clone(r.Targets)
	return r
}

// active returns the blocks in force at now, by id.
func (e *Engine) active(now time.Time) []Block {
	out := make([]Block, 0, len(e.blocks))
	for _, r := range e.blocks {
		if r.Block.Active(now) {
			out = append(out, r.Block)
		}
	}
	slices.SortFunc(out, func(a, b Block) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (e *Engine) publish(ev event.Event) { e.rd.Events = append(e.rd.Events, ev) }

func (e *Engine) log(level, msg string, args ...any) {
	e.rd.Logs = append(e.rd.Logs, LogLine{Level: level, Msg: msg, Args: args})
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

// eventMAC is a MAC for events and logs: none ("") for a block by address alone, which
// names no station.
func eventMAC(m [6]byte) string {
	if m == ([6]byte{}) {
		return ""
	}
	return macString(m)
}

// blockWho names what block b stops, for messages: its station's MAC and where it is, or
// for a block by address alone its addresses.
func blockWho(b Block) string {
	if b.Source.MAC == ([6]byte{}) && b.Source.DPID == 0 {
		return strings.Join(addrStrings(b.IPs), ", ")
	}
	return fmt.Sprintf("%s (port %d on %s)", macString(b.Source.MAC), b.Source.Port, fmtDPID(b.Source.DPID))
}

func fmtDPID(d uint64) string { return event.FormatDPID(d) }

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

func listed(al *Allowlist, ip netip.Addr) bool { return al != nil && al.ContainsAddr(ip) }

// HistoryKey is the escalation key of a block: the MAC, or for a spoofer's block where it entered
// (a MAC it used may be someone else's, whose record must not grow from it).
func HistoryKey(b Block) string {
	if b.Spoofed {
		return fmt.Sprintf("%x/%d/%s", b.Source.DPID, b.Source.Port, macString(b.Source.MAC))
	}
	return macString(b.Source.MAC)
}

// ---- verdicts ----

// Verdict decides what a verdict does: nothing during the grace period or for a protected
// address; otherwise a block at the next escalation step, placed by attribution, or folded into
// the source's block in force.
func (e *Engine) Verdict(now time.Time, v detect.Verdict) {
	if e.follower {
		e.log("debug", "verdict on a follower: ignored (the leader detects)", "mac", macString(v.Source.MAC), "kind", string(v.Kind))
		return
	}
	if v.Kind == detect.KindMACSpoof {
		v = e.stolenHome(v)
	}
	src := Source{DPID: v.Source.DPID, Port: v.Source.Port, MAC: v.Source.MAC}
	ev := event.Event{Type: event.ScanDetected, DPID: src.DPID, Port: src.Port, MAC: macString(src.MAC),
		IP: firstIP(v.IPs), IPs: addrStrings(v.IPs), Kind: string(v.Kind), Reason: v.Reason,
		Evidence: v.Evidence, Probes: v.Probes, Score: v.Score,
		Message: fmt.Sprintf("%s from %s (port %d on %s): %s", v.Kind, macString(src.MAC), src.Port, fmtDPID(src.DPID), v.Reason)}
	if now.Before(e.cfg.Started.Add(e.cfg.Grace)) {
		ev.Message += " (start-up grace period: not blocked)"
		ev.Reason = "grace_period"
		e.publish(ev)
		e.rd.Forget = append(e.rd.Forget, v.Source)
		return
	}
	for _, ip := range v.IPs {
		if listed(e.set.Never, ip) || listed(e.set.Allow, ip) {
			if e.sourceOwns(src, ip) {
				ev.Message += " (" + ip.String() + " is on the never-block list or allowlist: not blocked)"
				ev.Reason = "protected"
				e.publish(ev)
				return
			}
		}
	}
	e.publish(ev)

	// Attribution: the IPs get drop flows only where they are known to live behind the scanner's
	// own port and MAC; spoofed decoys never do.
	var bound []netip.Addr
	for _, ip := range v.IPs {
		if e.sourceOwns(src, ip) {
			bound = append(bound, ip)
		}
	}
	ipOnly := false
	if gw, ok := MACProtected(e.view(), e.set.Never, src); ok {
		// The scan came through a protected host (the gateway of an edge network): block the
		// scanner's addresses at that port, not the MAC.
		bound = bound[:0]
		for _, ip := range v.IPs {
			if !listed(e.set.Never, ip) {
				bound = append(bound, ip)
			}
		}
		if len(bound) == 0 {
			ev.Type, ev.Reason = event.ScanDetected, "protected"
			ev.Message = "scan through protected host " + gw.String() + " with no address to block"
			e.publish(ev)
			return
		}
		ipOnly = true
	}
	// A spoofer is blocked where it entered, and at an access port with one real station the port
	// is the machine (engine_attr.go).
	spoofed, portWide := e.placement(now, src, v.IPs, v.Kind, v.Probes)
	portWide = portWide && !ipOnly
	if e.extend(src, v, bound, portWide, now) {
		return
	}
	r := &BlockRecord{
		Block: Block{ID: e.cfg.NewID(), Source: src, IPs: bound, IPBound: len(bound) > 0, IPOnly: ipOnly,
			Spoofed: spoofed || portWide, PortWide: portWide,
			Reason: v.Reason, Kind: string(v.Kind), Created: now, Scope: e.set.Scope},
		AllIPs: v.IPs, Evidence: v.Evidence, Probes: v.Probes, Targets: v.Targets,
	}
	e.install(r, now, "detector")
}

// extend folds a verdict for a source that is already blocked into its block (the detector
// decides per source and address, so a decoy scan can yield several verdicts before the first
// block lands): one block per source, no extra escalation. New bound addresses get their drop
// flows. A port-wide block covers every source at its port; a verdict that makes a source's block
// port-wide (portWide) widens it.
func (e *Engine) extend(src Source, v detect.Verdict, bound []netip.Addr, portWide bool, now time.Time) bool {
	var r *BlockRecord
	for id, x := range e.blocks {
		b := x.Block
		if !b.Active(now) || (r != nil && id > r.Block.ID) {
			continue
		}
		if b.Source == src || (b.PortWide && b.Source.DPID == src.DPID && b.Source.Port == src.Port) {
			r = x
		}
	}
	if r == nil {
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
	if added {
		for _, sw := range e.switches() {
			e.sendBlock(sw, r.Block, now)
		}
	}
	e.rd.Writes = append(e.rd.Writes, Write{Kind: PutBlock, Key: r.Block.ID, Block: cloneRecord(*r)})
	return true
}

// blockIDs returns the ids of the blocks held, sorted (a deterministic order).
func (e *Engine) blockIDs() []string {
	ids := make([]string, 0, len(e.blocks))
	for id := range e.blocks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// install sets the block's level and expiry from the source's history, sends its drop flows to
// every switch in scope (each confirmed, retried until confirmed: engine_sync.go), persists it and
// publishes the event.
func (e *Engine) install(r *BlockRecord, now time.Time, by string) {
	b := &r.Block
	var hist *History
	var key string
	if b.Expires.IsZero() {
		key = HistoryKey(*b)
		h := e.hist[key]
		if !h.Last.IsZero() && e.set.HistoryExpiry > 0 && now.Sub(h.Last) > e.set.HistoryExpiry {
			h.Count = 0
		}
		b.Level = h.Count
		b.Expires = now.Add(Escalation(e.set.Durations, h.Count))
		h.Count++
		h.Last = now
		e.remember(key, h, now)
		hist = &h
	}
	e.blocks[b.ID] = r
	for _, sw := range e.switches() {
		e.sendBlock(sw, *b, now)
	}
	e.rd.Installed++
	// The store's writes (each an fsync) come after the flow-mods: every millisecond before the
	// drop flow lands is more probes answered.
	if hist != nil {
		e.rd.Writes = append(e.rd.Writes, Write{Kind: PutHistory, Key: key, History: *hist})
	}
	e.rd.Writes = append(e.rd.Writes, Write{Kind: PutBlock, Key: b.ID, Block: cloneRecord(*r)})
	exp := b.Expires
	e.publish(event.Event{Type: event.Blocked, DPID: b.Source.DPID, Port: b.Source.Port, MAC: eventMAC(b.Source.MAC),
		IP: firstIP(r.AllIPs), IPs: addrStrings(r.AllIPs), Kind: b.Kind, BlockID: b.ID, Level: b.Level, Scope: b.Scope.String(),
		Reason: b.Reason, Evidence: r.Evidence, Probes: r.Probes, Expires: &exp,
		Message: fmt.Sprintf("blocked %s until %s by %s: %s", blockWho(*b), exp.UTC().Format(time.RFC3339), by, b.Reason)})
	e.log("info", "blocked", "block", b.ID, "mac", eventMAC(b.Source.MAC), "dpid", fmtDPID(b.Source.DPID), "port", b.Source.Port,
		"ips", addrStrings(b.IPs), "kind", b.Kind, "level", b.Level, "expires", exp.UTC().Format(time.RFC3339), "by", by,
		"port_wide", b.PortWide)
	e.notices(r)
}

// remember records a source's history, keeping at most MaxHistory records: when full, the
// records past their expiry go, then the oldest.
func (e *Engine) remember(key string, h History, now time.Time) {
	if _, ok := e.hist[key]; !ok && len(e.hist) >= e.cfg.MaxHistory {
		var oldest string
		var at time.Time
		for k, x := range e.hist {
			if e.set.HistoryExpiry > 0 && now.Sub(x.Last) > e.set.HistoryExpiry {
				delete(e.hist, k)
				continue
			}
			if oldest == "" || x.Last.Before(at) {
				oldest, at = k, x.Last
			}
		}
		if len(e.hist) >= e.cfg.MaxHistory {
			delete(e.hist, oldest)
		}
	}
	e.hist[key] = h
}

// notices asks for a signed notice to every protected host the scanner probed, where it is known
// to live.
func (e *Engine) notices(r *BlockRecord) {
	for _, victim := range r.Targets {
		dpid, port, mac, ok := e.locateIP(victim)
		if !ok {
			continue
		}
		e.rd.Notices = append(e.rd.Notices, Notice{DPID: dpid, Port: port, MAC: mac, Victim: victim, Record: cloneRecord(*r)})
	}
}

// ---- manual blocks and lifts ----

// ManualBlock is an operator's block request: an address and/or a MAC.
type ManualBlock struct {
	IP       netip.Addr
	MAC      [6]byte
	HasMAC   bool
	Reason   string
	Duration time.Duration // zero: until lifted
}

// Errors of AddBlock and RemoveBlock, which the driver maps to its API's.
var (
	ErrNeverBlock = fmt.Errorf("policy: on the never-block list")
	ErrNoTarget   = fmt.Errorf("policy: give an ip or a mac")
	ErrNoBlock    = fmt.Errorf("policy: no such block")
)

// AddBlock blocks a host by address and/or MAC at an operator's request. The host is attributed
// like a detected scanner: by where it is learned. A manual block drops the named address itself
// on every switch: the operator named it, so no attribution is needed.
func (e *Engine) AddBlock(now time.Time, req ManualBlock) (BlockRecord, error) {
	var src Source
	located := false
	if req.HasMAC {
		src.MAC = req.MAC
		if dpid, port, ok := e.locateMAC(src.MAC); ok {
			src.DPID, src.Port, located = dpid, port, true
		}
	}
	var ips []netip.Addr
	if req.IP.IsValid() {
		ip := req.IP.Unmap()
		ips = append(ips, ip)
		if !located {
			if dpid, port, mac, ok := e.locateIP(ip); ok && (!req.HasMAC || mac == src.MAC) {
				src = Source{DPID: dpid, Port: port, MAC: mac}
				located = true
			}
		}
		if listed(e.set.Never, ip) {
			return BlockRecord{}, fmt.Errorf("%w: %s", ErrNeverBlock, ip)
		}
	}
	if !located && src.MAC == ([6]byte{}) && len(ips) == 0 {
		return BlockRecord{}, ErrNoTarget
	}
	reason := req.Reason
	if reason == "" {
		reason = "blocked by operator"
	}
	r := &BlockRecord{
		Block:  Block{ID: e.cfg.NewID(), Source: src, Reason: reason, Kind: "manual", Created: now, Scope: ScopeNetwork},
		AllIPs: ips,
	}
	r.Block.IPs, r.Block.IPBound = ips, len(ips) > 0
	if req.Duration > 0 {
		r.Block.Expires = now.Add(req.Duration)
	}
	e.install(r, now, "operator")
	return cloneRecord(*r), nil
}

// RemoveBlock lifts block id at an operator's request.
func (e *Engine) RemoveBlock(now time.Time, id string) error {
	r := e.blocks[id]
	if r == nil {
		return fmt.Errorf("%w: %q", ErrNoBlock, id)
	}
	delete(e.blocks, id)
	e.rd.Removed = append(e.rd.Removed, "operator")
	e.lift(r, event.Unblocked, "operator")
	return nil
}

// Tick expires blocks past their expiry and starts the audits that are due.
func (e *Engine) Tick(now time.Time) {
	for _, id := range e.blockIDs() {
		r := e.blocks[id]
		if !r.Block.Active(now) {
			delete(e.blocks, id)
			e.rd.Removed = append(e.rd.Removed, "expired")
			if e.follower {
				e.liftStored(r, event.BlockExpired, "expired") // the leader deletes it from the store
			} else {
				e.lift(r, event.BlockExpired, "expired")
			}
		}
	}
	for _, sw := range e.switches() {
		if sw.pass == 0 && !sw.due.IsZero() && !now.Before(sw.due) {
			e.startPass(sw, now)
		}
	}
	e.attr.expire(now)
}

// lift removes a block's flows everywhere and its stored record, and lets the detector start
// afresh for the source. The caller has removed it from e.blocks, so no pass or later install
// sends its flows again.
func (e *Engine) lift(r *BlockRecord, t event.Type, why string) {
	b := r.Block
	for _, sw := range e.switches() {
		e.rd.Sends = append(e.rd.Sends, Send{DPID: sw.dpid, Epoch: sw.epoch, Msgs: UnblockFlows(b), Lift: b.ID})
		delete(sw.flows, b.ID)
	}
	e.rd.Writes = append(e.rd.Writes, Write{Kind: DeleteBlock, Key: b.ID})
	e.rd.Forget = append(e.rd.Forget, detect.Source{DPID: b.Source.DPID, Port: b.Source.Port, MAC: b.Source.MAC})
	e.publish(event.Event{Type: t, DPID: b.Source.DPID, Port: b.Source.Port, MAC: eventMAC(b.Source.MAC),
		IP: firstIP(r.AllIPs), BlockID: b.ID, Kind: b.Kind, Reason: why,
		Message: fmt.Sprintf("block %s of %s lifted: %s", b.ID, blockWho(b), why)})
	e.log("info", "block lifted", "block", b.ID, "mac", eventMAC(b.Source.MAC), "why", why)
}

// PortDown handles stations whose home port on switch dpid went down: they may have moved, on
// that switch or to another one. On every other switch where such a MAC lives behind a port
// shared by several stations (the uplink toward dpid), its home is released so that its next
// frame learns it where it now is; and the mac-spoof blocks (not port-wide ones) of those MACs
// are lifted: what looked like a spoof was a move (a virtual machine migrating before its old
// port was removed).
func (e *Engine) PortDown(now time.Time, dpid uint64, macs [][6]byte) {
	v := e.view()
	for _, sw := range e.switches() {
		if sw.dpid == dpid {
			continue
		}
		hosts := v.Hosts(sw.dpid)
		for _, m := range macs {
			if port, ok := v.PortOf(sw.dpid, m); ok && stationsAt(hosts, port) > 1 {
				e.release(Release{DPID: sw.dpid, MAC: m, At: port})
			}
		}
	}
	for _, id := range e.blockIDs() {
		r := e.blocks[id]
		b := r.Block
		if b.Kind != string(detect.KindMACSpoof) || b.PortWide || !slices.Contains(macs, b.Source.MAC) {
			continue
		}
		delete(e.blocks, id)
		e.lift(r, event.Unblocked, "the MAC's home port went down: a move, not a spoof")
	}
}

func (e *Engine) release(r Release) {
	e.rd.Release = append(e.rd.Release, r)
	e.released = append(e.released, r)
}

// locateMAC finds the switch and port a MAC was learned on.
func (e *Engine) locateMAC(mac [6]byte) (dpid uint64, port uint32, ok bool) {
	v := e.view()
	for _, sw := range e.switches() {
		if p, found := v.PortOf(sw.dpid, mac); found {
			return sw.dpid, p, true
		}
	}
	return 0, 0, false
}

// locateIP finds where an address is known to live (seen from exactly one port and MAC).
func (e *Engine) locateIP(ip netip.Addr) (dpid uint64, port uint32, mac [6]byte, ok bool) {
	v := e.view()
	for _, sw := range e.switches() {
		if p, m, found := v.IPLivesAt(sw.dpid, ip); found {
			return sw.dpid, p, m, true
		}
	}
	return 0, 0, mac, false
}
