package detect

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"portcullis/internal/packet"
)

// Source is where traffic entered the network: the switch, its port, and
// the Ethernet source address. Replays of captures (which carry no ingress
// port) use DPID 0, Port 1 and the frame's source MAC.
type Source struct {
	DPID uint64
	Port uint32
	MAC  [6]byte
}

// String formats s for logs: dpid, port and MAC.
func (s Source) String() string {
	m := s.MAC
	return fmt.Sprintf("dpid=%#x port=%d mac=%02x:%02x:%02x:%02x:%02x:%02x", s.DPID, s.Port, m[0], m[1], m[2], m[3], m[4], m[5])
}

// Kind names what a verdict caught.
type Kind string

// Verdict kinds.
const (
	KindPortScan      Kind = "port-scan"      // vertical: many ports on one host
	KindHostSweep     Kind = "host-sweep"     // horizontal: one TCP port on many hosts
	KindPingSweep     Kind = "ping-sweep"     // ICMP/ICMPv6 echo, timestamp or mask requests to many hosts
	KindARPSweep      Kind = "arp-sweep"      // ARP who-has for many addresses
	KindNDSweep       Kind = "nd-sweep"       // IPv6 neighbour solicitations for many addresses
	KindStealthScan   Kind = "stealth-scan"   // FIN/NULL/Xmas/Maimon/ACK/window probes, impossible flags
	KindUDPScan       Kind = "udp-scan"       // UDP to many ports or hosts, answered by port unreachable
	KindIPProtoScan   Kind = "ip-proto-scan"  // many IP protocol numbers to one host
	KindOSFingerprint Kind = "os-fingerprint" // nmap -O probe shapes
	// KindMACSpoof is decided by the controller, not the detector: frames
	// with a MAC whose home is another port (forward.Switch.Attribute).
	KindMACSpoof Kind = "mac-spoof"
)

// Kinds lists every Kind, for metrics and the API.
var Kinds = []Kind{KindPortScan, KindHostSweep, KindPingSweep, KindARPSweep, KindNDSweep,
	KindStealthScan, KindUDPScan, KindIPProtoScan, KindOSFingerprint, KindSYNFlood, KindMACSpoof}

// Verdict says that a Source is scanning. IPs and Evidence are bounded.
type Verdict struct {
	Source   Source
	IPs      []netip.Addr // source addresses it used (at most maxVerdictIPs)
	Kind     Kind
	Reason   string
	Evidence []string // short human lines, oldest first (at most evidenceLen)
	// Targets are the hosts the source probed, from its evidence (at most
	// maxTargets, oldest first): the protected hosts to notify.
	Targets []netip.Addr
	Probes  int // probes (first contacts and probe-shaped packets) counted
	First   time.Time
	At      time.Time
	Score   float64 // progress toward the decision threshold; >= 1 when decided
}

// Suspect is the current state of one actor, for the API.
type Suspect struct {
	Source    Source
	IPs       []netip.Addr
	Score     float64 // log-likelihood ratio progress toward eta1 (1 = decided)
	Failures  int
	Successes int
	Probes    int
	Kind      Kind // what it would be decided as
	LastSeen  time.Time
}

// Stats are the detector's counters and table sizes.
type Stats struct {
	Observed       uint64
	Probes         uint64 // first contacts and probe-shaped packets
	Successes      uint64
	Failures       uint64
	Timeouts       uint64 // pending attempts that expired unanswered
	Unknown        uint64 // pending attempts that expired while a meter dropped answers (see ReplyLoss)
	ActorsEvicted  uint64 // actors dropped because the table was full
	ActorsExpired  uint64 // actors dropped after IdleExpiry
	PendingEvicted uint64 // attempts dropped because the table was full
	OverflowFolded uint64 // packets pooled in a Source's overflow actor
	StrayData      uint64 // stray segments with data judged as stray probes
	// AnswersElsewhere counts answers ignored because they entered at
	// another port than the station their probe was sent to (station.go).
	AnswersElsewhere uint64
	Verdicts         map[Kind]uint64
	Actors, Sources  int
	Pending          int
}

// Config tunes a Detector. Start from DefaultConfig; defaults in brackets.
type Config struct {
	// Threshold Random Walk parameters (Jung et al. 2004): alpha and beta
	// are the target false-positive and detection probabilities [0.01,
	// 0.99], theta0 and theta1 the probability that a first contact
	// succeeds for a benign host and for a scanner [0.8, 0.2].
	Alpha, Beta    float64
	Theta0, Theta1 float64

	// NoAnswerTimeout turns an unanswered TCP SYN, SCTP INIT, ICMP echo,
	// ARP or ND request into a failure [3s].
	NoAnswerTimeout time.Duration
	// IdleExpiry forgets an actor silent this long [6h].
	IdleExpiry time.Duration

	MaxActors       int // actors tracked across all Sources [8192]
	MaxIPsPerSource int // address actors per Source before pooling [256]
	MaxPending      int // attempts awaiting an answer [32768]
	MaxSuspects     int // entries returned by Suspects [100]

	StealthMinProbes int // stray ACK/Maimon targets answered by RST that decide [3]
	SignatureProbes  int // nmap-shaped SYN first contacts that decide [3]
	OSProbeMin       int // distinct nmap -O probe shapes that decide [2]
	// RefusedPorts distinct UDP ports (or IP protocols) of one host that the
	// host itself refused with ICMP port (protocol) unreachable within a
	// minute decide, whatever the answered ones [3]. The walk alone lets every answered
	// port buy one more refusal, and every refusal is a port state learned.
	RefusedPorts int
	// FanoutPorts distinct TCP ports of one host that an actor makes first
	// contact with within 10 s decide port-scan, whatever the outcomes; two
	// fewer once one of them was refused or unanswered [6] (fanout.go).
	FanoutPorts int
	// HoldPorts distinct TCP ports of one host within the fan-out window
	// make an actor a suspect whose SYNs the switch holds for the
	// controller to judge (Suspicion, hold.go); one fewer once one was
	// refused or unanswered [2]. Below FanoutPorts, or it holds nothing
	// the verdict would not already drop.
	HoldPorts int

	// NoisyPorts are UDP services whose own traffic looks like scanning
	// [67, 68, 546, 547, 5353, 5355, 137, 138, 139, 1900]. Only their own
	// exchanges never count: UDP from one listed port to the same port
	// (NetBIOS 137->137, mDNS 5353->5353, ...) and DHCP's client/server
	// pairs (68<->67, 546<->547). A TCP first contact, or UDP to any other
	// port, counts whatever its source port: nmap -g 53/67/137/5353 is seen.
	// Multicast and broadcast destinations are never first contacts anyway.
	NoisyPorts []uint16
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		Alpha: 0.01, Beta: 0.99, Theta0: 0.8, Theta1: 0.2,
		NoAnswerTimeout:  3 * time.Second,
		IdleExpiry:       6 * time.Hour,
		MaxActors:        8192,
		MaxIPsPerSource:  256,
		MaxPending:       32768,
		MaxSuspects:      100,
		StealthMinProbes: 3,
		SignatureProbes:  3,
		OSProbeMin:       2,
		RefusedPorts:     3,
		FanoutPorts:      6,
		HoldPorts:        DefaultHoldPorts,
		NoisyPorts:       []uint16{67, 68, 546, 547, 5353, 5355, 137, 138, 139, 1900},
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case !(c.Alpha > 0 && c.Alpha < c.Beta && c.Beta < 1):
		return errors.New("detect: need 0 < alpha < beta < 1")
	case !(c.Theta1 > 0 && c.Theta1 < c.Theta0 && c.Theta0 < 1):
		return errors.New("detect: need 0 < theta1 < theta0 < 1")
	case c.NoAnswerTimeout <= 0 || c.IdleExpiry <= 0:
		return errors.New("detect: timeouts must be positive")
	case c.MaxActors < 1 || c.MaxIPsPerSource < 1 || c.MaxPending < 1 || c.MaxSuspects < 1:
		return errors.New("detect: table caps must be positive")
	case c.StealthMinProbes < 1 || c.SignatureProbes < 1 || c.OSProbeMin < 1 || c.RefusedPorts < 0 || c.FanoutPorts < 0 || c.HoldPorts < 0:
		return errors.New("detect: probe thresholds must be positive")
	}
	return nil
}

const (
	maxWalks      = 16 // walk slots per actor
	svcWalks      = 8  // of which for services (the rest for hosts)
	evidenceLen   = 8  // evidence lines kept per actor
	maxVerdictIPs = 8  // addresses in a Verdict or Suspect
	targetGen     = 64
)

// Target classes: what kind of first contact an attempt is.
const (
	clsTCP uint8 = iota + 1
	clsUDP
	clsEcho // ICMP echo or ICMPv6 echo
	clsTimestamp
	clsMask
	clsARP
	clsND
	clsProto // IP protocol probe (nmap -sO), port = protocol number
	clsStray // stray FIN/ACK/Maimon (distinct-target accounting only)
	clsSCTP
)

const (
	dimHost uint8 = 1 // vertical: one walk per destination host
	dimSvc  uint8 = 2 // horizontal: one walk per (class, port)
)

type walkKey struct {
	dim, cls uint8
	port     uint16
	host     netip.Addr
}

type walk struct {
	key          walkKey
	llr          float64
	fails, succs int32
	last         time.Time
	rejects      bool      // the host answered one of these probes with ICMP unreachable
	refused      int32     // distinct ports (protocols) the host itself refused since refusedAt
	refusedAt    time.Time // the first of them (refusalWindow)
}

// refusalWindow is how long refusals add up for Config.RefusedPorts: a
// scan's come within seconds (Linux refuses about one a second), a benign
// client's odd closed port now and then over a day never adds up.
const refusalWindow = time.Minute

type evKind uint8

const (
	evFail evKind = iota + 1
	evTimeout
	evSuccess
	evSilence // a UDP or IP-protocol probe unanswered
	evStray
	evImpossible
	evSig
	evOS
	evTiny        // a tiny first fragment (fragment.go)
	evOverlap     // overlapping fragments (fragment.go)
	evBare        // a SYN without TCP options (tcp.go)
	evFanout      // first contacts to many ports of one host (fanout.go)
	evMisdirected // a unicast address sent to a group MAC (udp.go)
	evRotation    // a new MAC's first contact to a scanned host at the scanner's port (rotation.go)
	evBudget      // probes its port's budget dropped (budgetdrop.go)
)

type evidence struct {
	at    time.Time
	kind  evKind
	cls   uint8
	port  uint16
	flags uint16
	host  netip.Addr
}

type actorKey struct {
	src Source
	ip  netip.Addr // invalid for the Source's overflow actor
}

type actor struct {
	key         actorKey
	gen         uint32
	prev, next  *actor // LRU list, most recent at d.head
	first, last time.Time
	decided     bool

	probes, fails, succs int
	walks                [maxWalks]walk // unused slots have key.dim 0

	// recent targets, two generations of open-addressed hashes (0 = empty)
	seen  [2][targetGen]uint64
	nSeen int

	sigSport      uint16
	sigCount      int
	sigHost       netip.Addr
	sigManyHosts  bool
	bareCount     int // SYNs without options (bareSYN)
	bareHost      netip.Addr
	bareManyHosts bool
	fan           [fanSlots]fanEntry // TCP ports per host (fanout.go)
	ufan          [fanSlots]fanEntry // UDP ports per host within the refusal window (udpProbe)
	misdirected   int                // UDP to a group MAC with a live unicast address (udp.go)
	stray         int
	anonFound     int       // anonymous lookups (ARP probe, DAD) that found a host (discover.go)
	burstAt       time.Time // start of the lookup burst window (discover.go noteLookup)
	burstN        int       // first-contact lookups since burstAt
	osMask        uint32

	ips  [maxVerdictIPs]netip.Addr // overflow actor: a sample of addresses
	nIPs int

	ev  [evidenceLen]evidence
	nEv int
}

type flowKey struct {
	a, b   netip.Addr // initiator, target
	proto  uint8
	cls    uint8
	ap, bp uint16 // ports, or (ICMP id, 0)
}

type pendKind uint8

const (
	pendAttempt pendKind = iota + 1 // outcome feeds the walks
	pendSilent                      // UDP/IP-protocol: silence counts only on a rejecting host
	pendStray                       // stealth evidence unless the target answers normally
	pendAnon                        // anonymous lookup (ARP probe, DAD): evidence only when answered
	pendLookup                      // ARP or ND lookup: judged by the lookup walk (discover.go)
)

type pending struct {
	act      *actor
	gen      uint32
	seq      uint64
	deadline time.Time
	kind     pendKind
	cls      uint8
	port     uint16
	host     netip.Addr
	to       [6]byte // the MAC the probe was sent to (station.go)
}

// srcInfo is kept for every Source that has actors.
type srcInfo struct {
	n int // address actors (the overflow actor excluded)
}

type ringItem struct {
	key flowKey
	seq uint64
}

// Detector holds the scan-detection state. Not safe for concurrent use.
type Detector struct {
	cfg               Config
	suspectBuf        []suspectRank // Suspects' ranking, kept between calls
	logEta1, logEta0  float64
	logFail, logSucc  float64
	noisy             [65536 / 64]uint64
	actors            map[actorKey]*actor
	perSource         map[Source]srcInfo
	head, tail        *actor
	free              *actor
	pend              map[flowKey]pending
	ring              []ringItem
	ringHead, ringLen int
	seq               uint64
	conns             [2][]uint64 // recently seen TCP and UDP flows (hashes), two generations
	nConns            int
	stats             Stats
	verdicts          [16]uint64
	addrs             [addrSlots]addrSeen
	routeAsks         [routeAskSlots]routeAsk // packets to a MAC for an address it had not carried (noteRouted)
	alives            [aliveSlots]aliveEntry
	frags             [fragSlots]fragEntry // recent fragments, for overlaps (fragment.go)
	losses            lossTable
	lookups           lookupRing                 // ARP and ND first contacts, for their early failure (discover.go)
	contacts          []contactEntry             // who recently sent whom a packet, for answering lookups (discover.go)
	horizon           time.Time                  // the clock of the last Tick: silence is judged up to it (expireLookupsOne)
	stations          [stationSlots]stationEntry // where each MAC was last seen sending, per switch (station.go)
	judged            [judgedSlots]judgedPort    // the last scanner decided at each port (rotation.go)

	// The packet being observed: where it entered, and whether its source
	// address may be an answer (see ObserveSpoofed). Set by observe.
	cur     Source
	curTo   [6]byte // its destination MAC
	spoofed bool
}

// New returns a Detector. Zero fields of cfg take their defaults; call
// Config.Validate first to reject bad input.
func New(cfg Config) *Detector {
	def := DefaultConfig()
	if cfg.Alpha == 0 {
		cfg.Alpha, cfg.Beta = def.Alpha, def.Beta
	}
	if cfg.Theta0 == 0 {
		cfg.Theta0, cfg.Theta1 = def.Theta0, def.Theta1
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur(&cfg.NoAnswerTimeout, def.NoAnswerTimeout)
	setDur(&cfg.IdleExpiry, def.IdleExpiry)
	setInt(&cfg.MaxActors, def.MaxActors)
	setInt(&cfg.MaxIPsPerSource, def.MaxIPsPerSource)
	setInt(&cfg.MaxPending, def.MaxPending)
	setInt(&cfg.MaxSuspects, def.MaxSuspects)
	setInt(&cfg.StealthMinProbes, def.StealthMinProbes)
	setInt(&cfg.SignatureProbes, def.SignatureProbes)
	setInt(&cfg.OSProbeMin, def.OSProbeMin)
	setInt(&cfg.RefusedPorts, def.RefusedPorts)
	setInt(&cfg.FanoutPorts, def.FanoutPorts)
	setInt(&cfg.HoldPorts, def.HoldPorts)
	if cfg.NoisyPorts == nil {
		cfg.NoisyPorts = def.NoisyPorts
	}
	d := &Detector{
		cfg:       cfg,
		logEta1:   math.Log(cfg.Beta / cfg.Alpha),
		logEta0:   math.Log((1 - cfg.Beta) / (1 - cfg.Alpha)),
		logFail:   math.Log((1 - cfg.Theta1) / (1 - cfg.Theta0)),
		logSucc:   math.Log(cfg.Theta1 / cfg.Theta0),
		actors:    make(map[actorKey]*actor),
		perSource: make(map[Source]srcInfo),
		pend:      make(map[flowKey]pending),
		ring:      make([]ringItem, cfg.MaxPending),
	}
	d.conns[0] = make([]uint64, 4096)
	d.conns[1] = make([]uint64, 4096)
	for _, p := range cfg.NoisyPorts {
		d.noisy[p/64] |= 1 << (p % 64)
	}
	return d
}

// SetNoisyPorts replaces Config.NoisyPorts (nil: the defaults) for the
// packets observed from now on (a reload of block.noisy_ports).
func (d *Detector) SetNoisyPorts(ports []uint16) {
	if ports == nil {
		ports = DefaultConfig().NoisyPorts
	}
	d.cfg.NoisyPorts = append([]uint16(nil), ports...)
	d.noisy = [65536 / 64]uint64{}
	for _, p := range ports {
		d.noisy[p/64] |= 1 << (p % 64)
	}
}

func (d *Detector) isNoisy(port uint16) bool { return d.noisy[port/64]&(1<<(port%64)) != 0 }

// Observe feeds one packet that reached the controller, with where it
// entered the network. Both directions matter: probes and the targets'
// answers. It returns a verdict the first time an actor is decided to be a
// scanner (at most once per actor until Forget).
func (d *Detector) Observe(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	return d.observe(now, src, p, false)
}

// ObserveSpoofed feeds a packet whose source address (or MAC) does not live
// where it entered (forward.Switch.Attribute): it still counts as a probe
// of src, which sent it, but it is never an answer to anyone's attempt (a
// forged SYN-ACK, RST, UDP answer or ICMP error resolves nothing), it does
// not mark a conversation as established, and it does not make the
// address it claims look alive.
func (d *Detector) ObserveSpoofed(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	return d.observe(now, src, p, true)
}

func (d *Detector) observe(now time.Time, src Source, p *packet.Packet, spoofed bool) (Verdict, bool) {
	d.cur, d.curTo, d.spoofed = src, p.EthDst, spoofed
	d.stats.Observed++
	d.noteStation(now, src)
	if p.EthType == packet.EthTypeARP {
		return d.observeARP(now, src, p)
	}
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return Verdict{}, false
	}
	if p.Fragment || p.FirstFragment {
		// Tiny and overlapping fragments decide; a first fragment with its
		// whole transport header goes on as a whole datagram would.
		if v, ok := d.observeFragment(now, src, p); ok || p.Fragment || p.TinyFragment {
			return v, ok
		}
	}
	d.noteAddr(src, p.Src)
	d.creditRouted(now, src, p.Src)
	d.noteAlive(src, p.Src, now)
	d.noteRouted(now, src, p)
	d.noteContact(now, src, p)
	switch p.Proto {
	case packet.ProtoTCP:
		return d.observeTCP(now, src, p)
	case packet.ProtoUDP:
		return d.observeUDP(now, src, p)
	case packet.ProtoSCTP:
		return d.observeSCTP(now, src, p)
	case packet.ProtoICMP:
		if p.Src.Is4() {
			return d.observeICMP(now, src, p)
		}
	case packet.ProtoICMPv6:
		if p.Src.Is6() {
			return d.observeICMP(now, src, p)
		}
	default:
		return d.observeProto(now, src, p)
	}
	return Verdict{}, false
}

// unicastTarget reports whether dst can be a first contact.
func unicastTarget(p *packet.Packet, dst netip.Addr) bool {
	if !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast() || dst.IsLoopback() {
		return false
	}
	if dst.Is4() && dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	return p.EthDst[0]&1 == 0 // not sent to a multicast/broadcast MAC
}

// SCTP chunk types (RFC 9260 section 3.2) that matter here.
const (
	sctpInit    = 1
	sctpInitAck = 2
	sctpAbort   = 6
	// COOKIE ECHO only ever follows the peer's INIT-ACK; sent out of the
	// blue it is nmap -sZ's probe, answered by ABORT when closed.
	sctpCookieEcho = 10
)

// The destination ports of UDP traceroute (base 33434, one port per probe,
// Linux sends up to 30 hops x 3 probes; Van Jacobson's traceroute(8)).
const (
	traceroutePortMin = 33434
	traceroutePortMax = 33534
)

func (d *Detector) decide(now time.Time, a *actor, kind Kind, reason string, score float64) (Verdict, bool) {
	if a.decided {
		return Verdict{}, false
	}
	a.decided = true
	if i := slices.Index(Kinds, kind); i >= 0 {
		d.verdicts[i]++
	}
	v := Verdict{
		Source: a.key.src,
		IPs:    d.actorIPs(a, nil),
		Kind:   kind,
		Reason: reason,
		Probes: a.probes,
		First:  a.first,
		At:     now,
		Score:  score,
	}
	v.Evidence = d.evidenceLines(a)
	v.Targets = evidenceTargets(a)
	d.noteJudged(now, v.Source, v.Targets)
	return v, true
}

// Tick expires unanswered attempts (turning them into failures or stealth
// evidence) and idle actors. Call it at least once a second.
func (d *Detector) Tick(now time.Time) []Verdict {
	if now.After(d.horizon) {
		d.horizon = now
	}
	out := d.expireLookups(now, nil, false)
	for d.ringLen > 0 {
		it := d.ring[d.ringHead]
		pe, ok := d.pend[it.key]
		if ok && pe.seq == it.seq && pe.deadline.After(now) {
			break
		}
		d.ringHead = (d.ringHead + 1) % len(d.ring)
		d.ringLen--
		if !ok || pe.seq != it.seq {
			continue // answered already
		}
		delete(d.pend, it.key)
		if d.answerLost(pe, now) {
			d.stats.Unknown++
			continue
		}
		d.stats.Timeouts++
		var v Verdict
		var decided bool
		switch pe.kind {
		case pendAttempt:
			v, decided = d.outcome(now, pe, false, evTimeout)
		case pendSilent:
			v, decided = d.outcome(now, pe, false, evSilence)
		case pendStray:
			// Silence proves nothing about a stray segment: the answer to a
			// real conversation's packet may simply not be copied to the
			// controller. Only a RST counts (see doc.go).
		}
		if decided {
			out = append(out, v)
		}
	}
	for d.tail != nil && now.Sub(d.tail.last) > d.cfg.IdleExpiry {
		d.stats.ActorsExpired++
		d.release(d.tail)
	}
	return out
}

// Forget drops everything known about src (after an unblock, start fresh).
func (d *Detector) Forget(src Source) {
	for a := d.head; a != nil; {
		next := a.next
		if a.key.src == src {
			d.release(a)
		}
		a = next
	}
}

// TargetsOf returns the hosts src is known to have probed (from the evidence
// against it, at most maxTargets): the victims of a verdict made outside the
// detector, such as a SYN flood.
func (d *Detector) TargetsOf(src Source) []netip.Addr {
	var out []netip.Addr
	for a := d.head; a != nil; a = a.next {
		if a.key.src != src {
			continue
		}
		for _, ip := range evidenceTargets(a) {
			if len(out) < maxTargets && !slices.Contains(out, ip) {
				out = append(out, ip)
			}
		}
	}
	return out
}

// Suspects returns the actors with evidence against them, highest score
// first, at most Config.MaxSuspects. It ranks every actor's score in a
// buffer it keeps and builds only the suspects it returns: the controller
// calls it under the lock the packet-in path's watch copies take, with up
// to MaxActors actors.
func (d *Detector) Suspects(now time.Time) []Suspect {
	rank := d.suspectBuf[:0]
	for a := d.head; a != nil; a = a.next {
		score, kind := d.actorScore(a)
		if score <= 0 && a.fails == 0 {
			continue
		}
		rank = append(rank, suspectRank{a: a, score: score, kind: kind})
	}
	slices.SortStableFunc(rank, func(x, y suspectRank) int {
		switch {
		case x.score > y.score:
			return -1
		case x.score < y.score:
			return 1
		}
		return 0
	})
	top := rank
	if len(top) > d.cfg.MaxSuspects {
		top = top[:d.cfg.MaxSuspects]
	}
	var out []Suspect
	if len(top) > 0 {
		out = make([]Suspect, 0, len(top))
	}
	for _, r := range top {
		a := r.a
		out = append(out, Suspect{
			Source: a.key.src, IPs: d.actorIPs(a, nil), Score: r.score,
			Failures: a.fails, Successes: a.succs, Probes: a.probes, Kind: r.kind, LastSeen: a.last,
		})
	}
	clear(rank) // no actor kept alive by the buffer
	d.suspectBuf = rank[:0]
	return out
}

// suspectRank is an actor's score while Suspects ranks them.
type suspectRank struct {
	a     *actor
	score float64
	kind  Kind
}

func (d *Detector) actorScore(a *actor) (float64, Kind) {
	if a.decided {
		return 1, ""
	}
	best, kind := 0.0, Kind("")
	for i := range a.walks {
		w := &a.walks[i]
		if s := w.llr / d.logEta1; w.key.dim != 0 && s > best {
			best, kind = s, walkKind(w.key)
		}
	}
	if s := float64(a.sigCount) / float64(d.cfg.SignatureProbes); s > best {
		best, kind = s, KindPortScan
	}
	if s := float64(a.stray) / float64(d.cfg.StealthMinProbes); s > best {
		best, kind = s, KindStealthScan
	}
	if s := float64(popcount(a.osMask)) / float64(d.cfg.OSProbeMin); s > best {
		best, kind = s, KindOSFingerprint
	}
	return best, kind
}

// Stats returns the counters and table sizes.
func (d *Detector) Stats() Stats {
	s := d.stats
	s.Verdicts = make(map[Kind]uint64, len(Kinds))
	for i, k := range Kinds {
		if d.verdicts[i] > 0 {
			s.Verdicts[k] = d.verdicts[i]
		}
	}
	s.Actors = len(d.actors)
	s.Sources = len(d.perSource)
	s.Pending = len(d.pend)
	return s
}
