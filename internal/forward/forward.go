package forward

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"time"

	"portcullis/internal/packet"
	"portcullis/ofp"
)

// Config tunes one switch's pipeline and learning table. The zero value of a field means its default.
type Config struct {
	// IdleTimeout of learned flows in seconds (default 300, like a hardware switch's MAC aging).
	IdleTimeout uint16
	// HardTimeout of learned flows in seconds (default 0: none; idle expiry does the work).
	HardTimeout uint16
	// MissSendLen is how many bytes of a TableLearn miss reach the controller (default 128: enough
	// for Ethernet, VLAN, IPv6 and ARP/ND headers).
	MissSendLen uint16
	// ControllerMeterRate limits every packet-in without a meter of its own (OFPM_CONTROLLER), in
	// packets per second (default 1000). ControllerMeterBurst is its burst in packets (default
	// 100 when neither is set, else rate/2, at least 1). NoControllerMeter leaves OFPM_CONTROLLER alone.
	ControllerMeterRate  uint32
	ControllerMeterBurst uint32
	NoControllerMeter    bool
	// MaxHosts caps the MAC table (default 4096); when it is full the least recently seen host
	// of the port that holds the most (the learning port's own on a tie) is evicted
	// (tables.victim), its flows deleted, and
	// Stats().Evictions counted.
	MaxHosts int
	// Holdoff is how long after installing a host's flows further TableLearn misses for it are
	// taken as in flight and ignored (default 1s).
	Holdoff time.Duration
	// HomeHold is how long a station's home (the port where its MAC was learned) and an address's
	// home (the port and MAC it was seen behind) stay theirs after they were last seen there
	// (default 30s). Within it, a frame with that MAC on another port, or with that source address
	// behind another port or MAC, is a spoof: it moves nothing (see Attribute).
	HomeHold time.Duration
	// AddrHold is how long an address stays with its home (port and MAC) after it was last used
	// there, while that MAC is still learned on that port (default 10m). Another station using the
	// address meanwhile is a spoofer; there is no check in the switch for addresses, so the hold
	// is long: one forged frame must not move an address whose owner was merely quiet.
	AddrHold time.Duration
	// MoveCheck is the idle timeout, in seconds, of the check that decides whether a MAC seen on
	// another port after its home went quiet has moved (default 10): the home's learned flow is
	// re-added with this idle timeout and SEND_FLOW_REM; if it expires the station has stopped
	// sending there and the next frame elsewhere moves it, otherwise the home stays.
	MoveCheck uint16
}

// Defaults of Config.
const (
	DefaultIdleTimeout         = 300
	DefaultMissSendLen         = 128
	DefaultControllerMeterRate = 1000
	DefaultMaxHosts            = 4096
	DefaultHoldoff             = time.Second
	DefaultHomeHold            = 30 * time.Second
	DefaultAddrHold            = 10 * time.Minute
	DefaultMoveCheck           = 10
)

// DefaultControllerMeterBurst is ControllerMeterBurst's default.
const DefaultControllerMeterBurst = 100

// IPsPerHost is how many addresses a Host remembers: the ones it used last
// (a new address drops the one it used longest ago).
const IPsPerHost = 4

func (c Config) withDefaults() Config {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MissSendLen == 0 {
		c.MissSendLen = DefaultMissSendLen
	}
	if c.ControllerMeterRate == 0 && c.ControllerMeterBurst == 0 {
		c.ControllerMeterRate, c.ControllerMeterBurst = DefaultControllerMeterRate, DefaultControllerMeterBurst
	}
	if c.ControllerMeterRate == 0 {
		c.ControllerMeterRate = DefaultControllerMeterRate
	}
	if c.ControllerMeterBurst == 0 {
		c.ControllerMeterBurst = max(c.ControllerMeterRate/2, 1)
	}
	if c.MaxHosts <= 0 {
		c.MaxHosts = DefaultMaxHosts
	}
	if c.Holdoff <= 0 {
		c.Holdoff = DefaultHoldoff
	}
	if c.HomeHold <= 0 {
		c.HomeHold = DefaultHomeHold
	}
	if c.AddrHold <= 0 {
		c.AddrHold = DefaultAddrHold
	}
	if c.MoveCheck == 0 {
		c.MoveCheck = DefaultMoveCheck
	}
	return c
}

// Host is a learned station: its MAC, the port it was last seen on, the IP addresses it used
// (ARP sender, IPv6 ND, IP source of its packets), and when it was last seen by the controller.
type Host struct {
	MAC      [6]byte
	Port     uint32
	IPs      []netip.Addr
	LastSeen time.Time
	Learned  time.Time // when it was learned on this port
}

// Stats counts what a Switch did.
type Stats struct {
	Hosts       int    // hosts in the table now
	Learned     uint64 // hosts learned (new MAC)
	Moves       uint64 // MAC moved to another port (its old home went quiet, or down)
	MACSpoofs   uint64 // frames with a MAC whose home is another port, seen there lately
	Evictions   uint64 // hosts evicted because the table was full
	IPEvictions uint64 // IP bindings evicted because the index was full
	IPSpoofs    uint64 // packets with a source address whose home is another port or MAC
	IPTakeovers uint64 // addresses taught by use that moved to a station answering for them (see answers.go)
	Ignored     uint64 // packet-ins not learned from (multicast or zero source MAC, no in_port)
	Bound       uint64 // addresses bound to a station (new, or moved to it): a change to look at
}

// Switch is the L2 learning state of one datapath. It is pure: it takes events with the time and
// returns the messages to send. It is not safe for concurrent use: the switch's session goroutine
// owns it.
type Switch struct {
	cfg   Config
	ipCap int
	tables
	bufs []flowBuf // flow-mod slots, the first nbuf in use (flowbuf.go)
	nbuf int
	// The station and binding the last PacketIn touched, so that Attribute
	// for the same packet finds them without a probe (see station, binding).
	hintI int32
	hintB int32
	// Where recent packets were addressed, and what the last PacketIn
	// answered (answers.go).
	asks  *[askSlots]ask
	ans   answered
	stats Stats
}

// NewSwitch returns the state for one datapath.
func NewSwitch(cfg Config) *Switch {
	cfg = cfg.withDefaults()
	s := &Switch{cfg: cfg, ipCap: cfg.MaxHosts * IPsPerHost, hintI: none, hintB: none}
	s.seed = maphash.MakeSeed()
	s.tables.forgetAll()
	return s
}

// SetIdleTimeout sets the idle timeout, in seconds (0: the default), of the
// flows learned from now on; flows already installed keep theirs until they
// expire (a reload of forward.idle_timeout).
func (s *Switch) SetIdleTimeout(sec uint16) {
	if sec == 0 {
		sec = DefaultIdleTimeout
	}
	s.cfg.IdleTimeout = sec
}

// reset forgets every host. The tables start empty and grow with the
// hosts the switch has (up to MaxHosts stations and ipCap bindings), not
// with the caps: a thousand quiet switches must not hold a thousand full
// tables (tables.go).
func (s *Switch) reset() {
	s.tables.forgetAll()
	s.hintI, s.hintB = none, none
	s.stats.Hosts = 0
}

// Config returns the configuration in effect (defaults filled in).
func (s *Switch) Config() Config { return s.cfg }

// Stats returns the counters.
func (s *Switch) Stats() Stats {
	st := s.stats
	st.Hosts = s.hosts()
	return st
}

// Setup returns what to send when the switch (re)connects: delete our stale pipeline and learned
// flows (by cookie), set the OFPM_CONTROLLER meter, and install the table-miss flows of tables 0-3.
// Watch, bypass and block flows belong to policy. Setup also forgets every learned host, since their
// flows are gone.
func (s *Switch) Setup() []ofp.Message {
	s.reset()
	msgs := []ofp.Message{
		DeleteKind(KindBase),
		DeleteKind(KindLearned),
	}
	if !s.cfg.NoControllerMeter {
		msgs = append(msgs,
			// Delete then add: ADD of an existing meter fails and MODIFY of a missing one fails;
			// deleting a missing meter is accepted.
			&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: ofp.MeterController},
			&ofp.MeterMod{
				Command: ofp.MeterAdd,
				Flags:   ofp.MeterFlagPktps | ofp.MeterFlagBurst | ofp.MeterFlagStats,
				MeterID: ofp.MeterController,
				Bands:   []ofp.MeterBand{{Type: ofp.MeterBandDrop, Rate: s.cfg.ControllerMeterRate, BurstSize: s.cfg.ControllerMeterBurst}},
			})
	}
	msgs = append(msgs,
		baseFlow(TableAdmission, Goto(TableWatch)),
		baseFlow(TableWatch, Goto(TableLearn)),
		baseFlow(TableLearn, Apply(Output(ofp.PortController, s.cfg.MissSendLen)), Goto(TableForward)),
		baseFlow(TableForward, Apply(Output(ofp.PortFlood, 0))),
	)
	return msgs
}

func baseFlow(table uint8, instrs ...ofp.Instruction) *ofp.FlowMod {
	return &ofp.FlowMod{
		Cookie:       Cookie(KindBase, 0),
		TableID:      table,
		Command:      ofp.FlowAdd,
		Priority:     PriorityMiss,
		BufferID:     ofp.NoBuffer,
		OutPort:      ofp.PortAny,
		OutGroup:     ofp.GroupAny,
		Instructions: instrs,
	}
}

// IsLearnMiss reports whether a packet-in came from the TableLearn miss flow (the packets forward
// learns from), as opposed to a watch copy from TableWatch.
func IsLearnMiss(pi *ofp.PacketIn) bool {
	k, ok := CookieKind(pi.Cookie)
	return pi.TableID == TableLearn && (!ok || k == KindBase)
}

// PacketIn handles one packet-in of this switch; p is its parsed payload. A TableLearn miss learns
// the source MAC on its in_port and appends the flows that keep the host's traffic in the switch
// (the packet itself was already forwarded by the switch: TableLearn's miss continues to
// TableForward, so no PacketOut is needed). Any packet-in (watch copies too) of a host already known
// on its port refreshes the host and the IP addresses it uses. PacketIn appends to out and returns
// it; for a host already known it does not allocate.
func (s *Switch) PacketIn(tnow time.Time, pi *ofp.PacketIn, p *packet.Packet, out []ofp.Message) []ofp.Message {
	now := nanos(tnow)
	port, ok := pi.Match.InPort()
	src := p.EthSrc
	s.ans = answered{}
	if !ok || src[0]&1 == 1 || src == ([6]byte{}) {
		s.stats.Ignored++
		return out
	}
	h := s.macHash(&src)
	i, known := s.findHashed(src, h)
	if known {
		s.hintI = i
	}
	if addr, ok := s.answers(now, port, p); ok {
		s.ans = answered{port: port, mac: src, addr: keyOf(addr), ok: true}
	}
	s.noteAsk(now, port, p)
	if !IsLearnMiss(pi) {
		if known && s.ents[i].port == port {
			s.touch(i, now)
			s.observeIPs(i, p, now)
		}
		return out
	}
	switch {
	case known && s.ents[i].port == port:
		s.touch(i, now)
		s.observeIPs(i, p, now)
		e := &s.ents[i]
		if e.installed != 0 && now-e.installed < int64(s.cfg.Holdoff) {
			return out // flows in flight: this packet raced them
		}
		e.installed = now
		return s.appendInstall(out, e)
	case known:
		return s.elsewhere(now, i, port, out)
	}
	if s.hosts() >= s.cfg.MaxHosts {
		out = s.evictOldest(out, port)
	}
	i = s.learn(src, h, port, now, s.cfg.MaxHosts)
	s.hintI = i
	s.stats.Learned++
	s.observeIPs(i, p, now)
	return s.appendInstall(out, &s.ents[i])
}

// elsewhere handles a learning miss of host i's MAC on a port other than its home. The home is
// checked in the switch first, whether it was seen lately or not (a station that moves to another
// port of this switch within Config.HomeHold is a move, not a spoof): its learned flow is re-added
// with a short idle timeout (Config.MoveCheck) and SEND_FLOW_REM. If it expires, the station
// stopped sending there (FlowRemoved releases the home, and the next frame learns the new port: a
// move); if the check ends without that, the station still sends at home: the home is confirmed,
// and frames with its MAC elsewhere are a spoof for HomeHold (Attribute tells the caller). While
// the check runs the frames move nothing and are no evidence for anyone (AttrMACMoving).
func (s *Switch) elsewhere(now int64, i int32, port uint32, out []ofp.Message) []ofp.Message {
	e := &s.ents[i]
	switch {
	case s.homeConfirmed(e, now):
		s.stats.MACSpoofs++
		return out
	case e.move != moveChecking:
		e.move, e.moveAt = moveChecking, now+int64(time.Duration(s.cfg.MoveCheck)*time.Second+moveCheckGrace)
		return append(out, s.learnFlow(e, s.cfg.MoveCheck, ofp.FlowFlagSendFlowRem))
	case now < e.moveAt:
		return out // the check runs: the frame is neither a move nor (yet) a spoof
	}
	// The check ended and the home flow did not expire: the station is still at home.
	e.move, e.moveAt = moveConfirmed, now
	s.touch(i, now)
	s.stats.MACSpoofs++
	return append(out, s.learnFlow(e, s.cfg.IdleTimeout, 0))
}

// homeConfirmed reports whether a move check showed e's station still at home within HomeHold.
func (s *Switch) homeConfirmed(e *entry, now int64) bool {
	return e.move == moveConfirmed && now-e.moveAt < int64(s.cfg.HomeHold)
}

// moveCheckGrace is how long after a move check's idle timeout its FLOW_REMOVED may still arrive
// (Open vSwitch expires flows about once a second).
const moveCheckGrace = 2 * time.Second

func (s *Switch) homeFresh(e *entry, now int64) bool {
	return now-e.lastSeen < int64(s.cfg.HomeHold)
}

// learnFlow is host e's TableLearn flow ("this MAC is known on this port").
func (s *Switch) learnFlow(e *entry, idle uint16, flags uint16) *ofp.FlowMod {
	b := s.flowBuf()
	b.oxm = [2]ofp.OXM{b.inPort(e.port), b.ethField(ofp.OXMEthSrc, e.mac)}
	b.fm = ofp.FlowMod{
		Cookie:       Cookie(KindLearned, 0),
		TableID:      TableLearn,
		Command:      ofp.FlowAdd,
		IdleTimeout:  idle,
		HardTimeout:  s.cfg.HardTimeout,
		Priority:     PriorityLearned,
		BufferID:     ofp.NoBuffer,
		OutPort:      ofp.PortAny,
		OutGroup:     ofp.GroupAny,
		Flags:        flags,
		Match:        ofp.Match{Fields: b.oxm[:2]},
		Instructions: b.gotoTable(TableForward),
	}
	return &b.fm
}

// Attribution says whether a packet's source is where it entered (see Attribute).
type Attribution uint8

// Attributions.
const (
	// AttrUnknown: nothing contradicts the source, nothing confirms it (an address not seen before,
	// one whose home elsewhere was only taught by use, an answer to traffic the switch delivered
	// to its sender while the address's home is elsewhere, or a MAC whose move is being checked).
	AttrUnknown Attribution = iota
	// AttrHere: the source address lives behind the port and MAC the packet entered with.
	AttrHere
	// AttrIPElsewhere: the source address has its home behind another port or MAC, used there
	// within AddrHold and confirmed there by an answer (answers.go): the packet's source address
	// is spoofed. A home taught by use alone makes nobody a spoofer.
	AttrIPElsewhere
	// AttrMACElsewhere: the frame's MAC has its home on another port, where a move check found it
	// still sending (within HomeHold): the frame's source MAC is spoofed.
	AttrMACElsewhere
	// AttrMACMoving: the frame's MAC has its home on another port, seen there within HomeHold or
	// under a move check that has not ended: a move or a spoof, not yet known. The frame is no
	// evidence for anyone (Spoofed), but no spoof to report either.
	AttrMACMoving
)

var attrNames = [...]string{"unknown", "here", "ip-elsewhere", "mac-elsewhere", "mac-moving"}

// String returns the attribution's name ("ip-elsewhere").
func (a Attribution) String() string {
	if int(a) < len(attrNames) {
		return attrNames[a]
	}
	return "unknown"
}

// Spoofed reports whether the attribution contradicts where the packet entered (or may: a MAC
// whose move is being checked).
func (a Attribution) Spoofed() bool {
	return a == AttrIPElsewhere || a == AttrMACElsewhere || a == AttrMACMoving
}

// Attribute says whether a packet that entered at port with source MAC mac and source address ip
// (invalid: none, as for ARP without a usable sender) comes from where its sources live. Call it
// after PacketIn for the same packet. It never allocates.
func (s *Switch) Attribute(tnow time.Time, port uint32, mac [6]byte, ip netip.Addr) Attribution {
	now := nanos(tnow)
	i, known := s.station(mac)
	if known && s.ents[i].port != port {
		e := &s.ents[i]
		switch {
		case s.homeConfirmed(e, now) || (e.move == moveChecking && now >= e.moveAt):
			return AttrMACElsewhere
		case s.homeFresh(e, now) || e.move == moveChecking:
			return AttrMACMoving
		}
		return AttrUnknown
	}
	ip = ip.Unmap()
	if !usableIP(ip) {
		if known {
			return AttrHere
		}
		return AttrUnknown
	}
	j, found := s.binding(keyOf(ip))
	if !found {
		return AttrUnknown
	}
	b := &s.binds[j]
	switch {
	case b.port == port && b.mac == mac:
		return AttrHere
	case s.ans.ok && s.ans.port == port && s.ans.mac == mac && s.ans.addr == b.key:
		// It answers traffic the switch delivered to it: evidence where it entered, whoever
		// holds the address (answers.go).
		return AttrUnknown
	case s.ipHomeHeld(b, now) && b.confirmed != 0:
		return AttrIPElsewhere
	}
	// A home taught by use (an attacker's first frame can teach it) makes nobody a spoofer.
	return AttrUnknown
}

// station finds mac's entry: the hint first (a live slot holds a non-zero
// MAC, and only the slot the index names for it), then the index.
func (s *Switch) station(mac [6]byte) (int32, bool) {
	if h := s.hintI; h != none && int(h) < len(s.ents) && s.ents[h].mac == mac && mac != ([6]byte{}) {
		return h, true
	}
	return s.find(mac)
}

// binding finds address k's binding: the hint first (a live slot holds its
// key; a free one the zero key, the unspecified address, never looked up),
// then the index.
func (s *Switch) binding(k addrKey) (int32, bool) {
	if h := s.hintB; h != none && int(h) < len(s.binds) && s.binds[h].key == k && k != (addrKey{}) {
		return h, true
	}
	return s.findBind(&k, s.addrHash(&k))
}

// ipHomeHeld reports whether binding b still holds its address against other claimants: its owner
// is still learned on its port and used the address within AddrHold.
func (s *Switch) ipHomeHeld(b *ipBind, now int64) bool {
	return s.owned(b) && now-b.seen < int64(s.cfg.AddrHold)
}

// owned reports whether binding b's station is learned, with its MAC on its port (a binding is
// dropped with its station, so it always is; the check costs one line the caller reads anyway).
func (s *Switch) owned(b *ipBind) bool {
	if b.owner == none || int(b.owner) >= len(s.ents) {
		return false
	}
	o := &s.ents[b.owner]
	return o.mac == b.mac && o.port == b.port
}

// appendInstall appends the two flows of a learned host: in TableLearn, "this MAC is known on this
// port" (continue to TableForward without a copy to the controller); in TableForward, "frames to
// this MAC go out of this port" (with SEND_FLOW_REM so its expiry lets the host be relearned).
func (s *Switch) appendInstall(out []ofp.Message, e *entry) []ofp.Message {
	b := s.flowBuf()
	b.oxm[0] = b.ethField(ofp.OXMEthDst, e.mac)
	b.fm = ofp.FlowMod{
		Cookie:       Cookie(KindLearned, 0),
		TableID:      TableForward,
		Command:      ofp.FlowAdd,
		IdleTimeout:  s.cfg.IdleTimeout,
		HardTimeout:  s.cfg.HardTimeout,
		Priority:     PriorityLearned,
		BufferID:     ofp.NoBuffer,
		OutPort:      ofp.PortAny,
		OutGroup:     ofp.GroupAny,
		Flags:        ofp.FlowFlagSendFlowRem,
		Match:        ofp.Match{Fields: b.oxm[:1]},
		Instructions: b.applyOutput(e.port, 0),
	}
	return append(out, s.learnFlow(e, s.cfg.IdleTimeout, 0), &b.fm)
}

// learnFlowDelete deletes the TableLearn flow of mac on port.
func (s *Switch) learnFlowDelete(port uint32, mac [6]byte) *ofp.FlowMod {
	c, m := KindCookie(KindLearned)
	b := s.flowBuf()
	b.oxm = [2]ofp.OXM{b.inPort(port), b.ethField(ofp.OXMEthSrc, mac)}
	b.fm = ofp.FlowMod{
		Cookie: c, CookieMask: m,
		TableID:  TableLearn,
		Command:  ofp.FlowDeleteStrict,
		Priority: PriorityLearned,
		BufferID: ofp.NoBuffer,
		OutPort:  ofp.PortAny,
		OutGroup: ofp.GroupAny,
		Match:    ofp.Match{Fields: b.oxm[:2]},
	}
	return &b.fm
}

// forwardFlowDelete deletes the TableForward flow of mac.
func (s *Switch) forwardFlowDelete(mac [6]byte) *ofp.FlowMod {
	c, m := KindCookie(KindLearned)
	b := s.flowBuf()
	b.oxm[0] = b.ethField(ofp.OXMEthDst, mac)
	b.fm = ofp.FlowMod{
		Cookie: c, CookieMask: m,
		TableID:  TableForward,
		Command:  ofp.FlowDeleteStrict,
		Priority: PriorityLearned,
		BufferID: ofp.NoBuffer,
		OutPort:  ofp.PortAny,
		OutGroup: ofp.GroupAny,
		Match:    ofp.Match{Fields: b.oxm[:1]},
	}
	return &b.fm
}

// PortStatus handles a port change: a port deleted, administratively down or with its link down
// forgets the hosts learned there and deletes their flows (TableLearn by in_port, TableForward by
// out_port).
func (s *Switch) PortStatus(now time.Time, ps *ofp.PortStatus, out []ofp.Message) []ofp.Message {
	d := ps.Port
	down := ps.Reason == ofp.PortReasonDelete || d.Config&ofp.PortConfigPortDown != 0 || d.State&ofp.PortStateLinkDown != 0
	if !down || d.PortNo > ofp.PortMax {
		return out
	}
	if pr, ok := s.at(d.PortNo); ok {
		for i := pr.head; i != none; {
			next := s.ents[i].next
			s.forget(i) // the last one frees pr
			i = next
		}
	}
	c, m := KindCookie(KindLearned)
	return append(out,
		&ofp.FlowMod{
			Cookie: c, CookieMask: m,
			TableID:  TableLearn,
			Command:  ofp.FlowDelete,
			BufferID: ofp.NoBuffer,
			OutPort:  ofp.PortAny,
			OutGroup: ofp.GroupAny,
			Match:    ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(d.PortNo)}},
		},
		&ofp.FlowMod{
			Cookie: c, CookieMask: m,
			TableID:  TableForward,
			Command:  ofp.FlowDelete,
			BufferID: ofp.NoBuffer,
			OutPort:  d.PortNo,
			OutGroup: ofp.GroupAny,
		})
}

// FlowRemoved handles the expiry of a learned TableForward flow: the host's TableLearn flow is
// deleted too, so its next packet misses TableLearn and the host is learned again (otherwise a host
// that only sends would keep its TableLearn flow alive while frames to it flood forever). Removals we
// caused ourselves (reason DELETE) and removals of flows that are not ours are ignored.
func (s *Switch) FlowRemoved(now time.Time, fr *ofp.FlowRemoved, out []ofp.Message) []ofp.Message {
	if k, ok := CookieKind(fr.Cookie); !ok || k != KindLearned {
		return out
	}
	if fr.TableID == TableLearn {
		return s.checkExpired(fr, out)
	}
	if fr.TableID != TableForward {
		return out
	}
	if fr.Reason == ofp.FlowRemovedReasonDelete || fr.Reason == ofp.FlowRemovedReasonGroupDelete {
		return out
	}
	f, ok := fr.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthDst)
	if !ok || len(f.Value) != 6 || f.Mask != nil {
		return out
	}
	var mac [6]byte
	copy(mac[:], f.Value)
	i, known := s.find(mac)
	if known {
		e := &s.ents[i]
		if e.installed != 0 && nanos(now)-e.installed < int64(s.cfg.Holdoff) {
			return out // just reinstalled: the removal is of the flow we replaced
		}
		e.installed = 0
	}
	c, m := KindCookie(KindLearned)
	return append(out, &ofp.FlowMod{
		Cookie: c, CookieMask: m,
		TableID:  TableLearn,
		Command:  ofp.FlowDelete,
		BufferID: ofp.NoBuffer,
		OutPort:  ofp.PortAny,
		OutGroup: ofp.GroupAny,
		Match:    ofp.Match{Fields: []ofp.OXM{ofp.MatchEthSrc(mac[:])}},
	})
}

// checkExpired handles the expiry of a move check's TableLearn flow (see elsewhere): the station
// stopped sending at its home, so the home is released (the host forgotten, its TableForward flow
// deleted) and its next frame, wherever it enters, learns it there.
func (s *Switch) checkExpired(fr *ofp.FlowRemoved, out []ofp.Message) []ofp.Message {
	if fr.Reason != ofp.FlowRemovedReasonIdleTimeout {
		return out
	}
	f, ok := fr.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthSrc)
	port, pok := fr.Match.InPort()
	if !ok || !pok || len(f.Value) != 6 || f.Mask != nil {
		return out
	}
	var mac [6]byte
	copy(mac[:], f.Value)
	i, known := s.find(mac)
	if !known || s.ents[i].port != port || s.ents[i].move != moveChecking {
		return out
	}
	s.stats.Moves++
	s.forget(i)
	return append(out, s.forwardFlowDelete(mac))
}

// Forget releases mac's home: the station and its IP bindings are forgotten and its flows
// deleted, so its next frame, wherever it enters, learns it there. The controller calls it when
// the station's port went down on another switch (it may have moved here through this switch's
// uplink). Nothing happens for a MAC not learned.
func (s *Switch) Forget(mac [6]byte, out []ofp.Message) []ofp.Message {
	i, known := s.find(mac)
	if !known {
		return out
	}
	port := s.ents[i].port
	s.stats.Moves++
	s.forget(i)
	return append(out, s.learnFlowDelete(port, mac), s.forwardFlowDelete(mac))
}

// StationsAt returns how many stations are learned at port.
func (s *Switch) StationsAt(port uint32) int {
	if pr, ok := s.at(port); ok {
		return int(pr.n)
	}
	return 0
}

// Hosts returns the learned hosts, most recently seen first, each with its addresses in the order
// it was bound to them.
func (s *Switch) Hosts() []Host {
	hs := make([]Host, 0, s.hosts())
	for r := range s.ports {
		if s.ports[r].n == 0 {
			continue // a free record
		}
		for i := s.ports[r].head; i != none; i = s.ents[i].next {
			e := &s.ents[i]
			h := Host{MAC: e.mac, Port: e.port, LastSeen: fromNanos(e.lastSeen), Learned: fromNanos(e.learned)}
			if e.nips > 0 {
				h.IPs = make([]netip.Addr, e.nips)
				k := len(h.IPs)
				for j := e.ips; j != none && k > 0; j = s.binds[j].sib {
					k--
					h.IPs[k] = s.binds[j].key.addr()
				}
			}
			hs = append(hs, h)
		}
	}
	slices.SortStableFunc(hs, func(a, b Host) int { return b.LastSeen.Compare(a.LastSeen) })
	return hs
}

// EachAddr calls fn with the port, MAC and each address of every learned
// station, until fn returns false; a station without an address is not
// visited. It copies nothing (Hosts does), so a walk of a switch's table
// under the caller's lock allocates nothing; fn must not change the table.
func (s *Switch) EachAddr(fn func(port uint32, mac [6]byte, ip netip.Addr) bool) {
	for r := range s.ports {
		for i := s.ports[r].head; s.ports[r].n > 0 && i != none; i = s.ents[i].next {
			e := &s.ents[i]
			for j, k := e.ips, e.nips; j != none && k > 0; j, k = s.binds[j].sib, k-1 {
				if !fn(e.port, e.mac, s.binds[j].key.addr()) {
					return
				}
			}
		}
	}
}

// PortOf returns the port a MAC was learned on.
func (s *Switch) PortOf(mac [6]byte) (uint32, bool) {
	i, ok := s.find(mac)
	if !ok {
		return 0, false
	}
	return s.ents[i].port, true
}

// IPLivesAt returns the port and MAC behind which ip lives: its home, the (port, MAC) it was first
// seen behind and that kept using it, or the station that then answered for it (answers.go), as
// long as that MAC is still learned there. Another port or MAC using the address while its home
// holds it (AddrHold) is a spoofer (a scanner's decoys, an idle scan's zombie address, a forged
// answer) and changes nothing; an address whose home went quiet moves to the next one that uses it.
//
// A home taught by use that a station at another port used as well (disputed) is not vouched for
// until one of them answers for it: two stations claim the address and neither proved it, so no
// block names it as either's, no bypass names either's port for it, and neither counts as the
// address's never-block host.
func (s *Switch) IPLivesAt(ip netip.Addr) (port uint32, mac [6]byte, ok bool) {
	k := keyOf(ip.Unmap())
	j, found := s.findBind(&k, s.addrHash(&k))
	if !found {
		return 0, mac, false
	}
	b := &s.binds[j]
	if b.confirmed == 0 && b.disputed || !s.owned(b) {
		return 0, mac, false
	}
	return b.port, b.mac, true
}

// observeIPs records the addresses a packet shows its sender using.
func (s *Switch) observeIPs(i int32, p *packet.Packet, now int64) {
	switch {
	case p.EthType == 0x0806:
		if p.ARPSenderMAC == p.EthSrc {
			s.bind(i, p.ARPSenderIP, now)
		}
	case p.Src.IsValid():
		s.bind(i, p.Src, now)
		// An ICMPv6 neighbour advertisement (type 136) names the sender's address as its target.
		if p.Proto == 58 && p.ICMPType == 136 && p.NDTarget.IsValid() {
			s.bind(i, p.NDTarget, now)
		}
	}
}

func usableIP(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return false
	}
	if a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	return true
}

// bind records that host i used address a. Must not allocate when the binding is already known.
func (s *Switch) bind(i int32, a netip.Addr, now int64) {
	a = a.Unmap()
	if !usableIP(a) {
		return
	}
	k := keyOf(a)
	h := s.addrHash(&k)
	e := &s.ents[i]
	var confirmed int64
	if s.ans.ok && s.ans.addr == k && s.ans.port == e.port && s.ans.mac == e.mac {
		confirmed = now // e answers, from a, traffic the switch delivered to it (answers.go)
	}
	j, found := s.findBind(&k, h)
	if found {
		b := &s.binds[j]
		switch {
		case b.owner == i:
			b.seen = now
			b.confirmed = max(b.confirmed, confirmed)
			s.bindFront(j)
			s.frontIP(i, j)
			s.hintB = j
			return
		case s.ipHomeHeld(b, now) && (b.confirmed != 0 || confirmed == 0):
			s.stats.IPSpoofs++
			if b.confirmed == 0 && b.port != e.port {
				// A station at another port: IPLivesAt no longer vouches for it (see there). At
				// the same port the address still lives behind the port, and another MAC there
				// using it is what placement calls a spoofer (nmap --spoof-mac).
				b.disputed = true
			}
			return
		case s.ipHomeHeld(b, now):
			// A home taught by use yields to a station answering for the address.
			s.stats.IPTakeovers++
		}
		// The address's home went quiet (or its owner is gone, or it was only used there): it
		// moves here.
		s.unlistIP(j)
		b.seen, b.confirmed, b.disputed = now, confirmed, false
		s.bindFront(j)
	} else {
		if s.ipIdx.n >= s.ipCap {
			s.evictIP()
		}
		j = s.newBind(&k, h, s.ipCap)
		s.binds[j].seen, s.binds[j].confirmed = now, confirmed
	}
	s.hintB = j
	s.stats.Bound++
	s.listIP(i, j) // and drop i's oldest address past IPsPerHost
}

// evictIP makes room in the IP index: it drops the binding not seen for the
// longest time (the tail of the bindings' list: no walk, no sort), counting it.
func (s *Switch) evictIP() {
	j := s.btail
	if j == none {
		return
	}
	s.unlistIP(j)
	s.dropBind(j)
	s.stats.IPEvictions++
}

// evictOldest makes room in a full table for a station at port learner: it removes the station
// tables.victim names (the least recently seen of the port that holds the most, the learner's
// own on a tie) and appends the deletion of its flows.
func (s *Switch) evictOldest(out []ofp.Message, learner uint32) []ofp.Message {
	i := s.victim(learner)
	if i == none {
		return out
	}
	port, mac := s.ents[i].port, s.ents[i].mac
	s.stats.Evictions++
	s.forget(i)
	return append(out, s.learnFlowDelete(port, mac), s.forwardFlowDelete(mac))
}
