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
)

// Kinds lists every Kind, for metrics and the API.
var Kinds = []Kind{KindPortScan, KindHostSweep, KindPingSweep, KindARPSweep, KindNDSweep,
	KindStealthScan, KindUDPScan, KindIPProtoScan, KindOSFingerprint, KindSYNFlood}

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
	Observed        uint64
	Probes          uint64 // first contacts and probe-shaped packets
	Successes       uint64
	Failures        uint64
	Timeouts        uint64 // pending attempts that expired unanswered
	ActorsEvicted   uint64 // actors dropped because the table was full
	ActorsExpired   uint64 // actors dropped after IdleExpiry
	PendingEvicted  uint64 // attempts dropped because the table was full
	OverflowFolded  uint64 // packets pooled in a Source's overflow actor
	Verdicts        map[Kind]uint64
	Actors, Sources int
	Pending         int
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

	StealthMinProbes int // stray FIN/ACK/Maimon targets answered by RST that decide [3]
	SignatureProbes  int // nmap-shaped SYN first contacts that decide [3]
	OSProbeMin       int // distinct nmap -O probe shapes that decide [2]

	// NoisyPorts never count, as source or destination (TCP and UDP) [67,
	// 68, 546, 547, 5353, 5355, 137, 138, 139, 1900].
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
	case c.StealthMinProbes < 1 || c.SignatureProbes < 1 || c.OSProbeMin < 1:
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
	rejects      bool // the host answered one of these probes with ICMP unreachable
}

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

	sigSport     uint16
	sigCount     int
	sigHost      netip.Addr
	sigManyHosts bool
	stray        int
	osMask       uint32

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
	alives            [aliveSlots]aliveEntry
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

func (d *Detector) isNoisy(port uint16) bool { return d.noisy[port/64]&(1<<(port%64)) != 0 }

// Observe feeds one packet that reached the controller, with where it
// entered the network. Both directions matter: probes and the targets'
// answers. It returns a verdict the first time an actor is decided to be a
// scanner (at most once per actor until Forget).
func (d *Detector) Observe(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	d.stats.Observed++
	if p.EthType == packet.EthTypeARP {
		return d.observeARP(now, src, p)
	}
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Fragment {
		return Verdict{}, false
	}
	d.noteAddr(src, p.Src)
	d.noteAlive(p.Src, now)
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

func (d *Detector) observeTCP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	f := p.TCPFlags & 0x3f
	const (
		fin, syn, rst, psh, ack, urg = packet.TCPFin, packet.TCPSyn, packet.TCPRst, packet.TCPPsh, packet.TCPAck, packet.TCPUrg
	)
	if d.isNoisy(p.SrcPort) || d.isNoisy(p.DstPort) {
		return Verdict{}, false
	}
	// nmap OS detection shapes come first: some of them (T2, T3, T7) also
	// carry impossible flags, and the verdict should name what it is.
	if shape := tcpOSShape(p); shape != 0 && unicastTarget(p, p.Dst) {
		return d.osProbe(now, src, p, shape)
	}
	impossible := f&(syn|fin) == syn|fin || f&(syn|rst) == syn|rst || f&(fin|rst) == fin|rst ||
		f == 0 || (f&(syn|ack|rst) == 0 && f&(psh|urg) != 0)
	if impossible {
		if !unicastTarget(p, p.Dst) {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.Src)
		a.probes++
		d.stats.Probes++
		d.addEvidence(a, evidence{at: now, kind: evImpossible, cls: clsTCP, port: p.DstPort, flags: p.TCPFlags, host: p.Dst})
		return d.decide(now, a, KindStealthScan, fmt.Sprintf("TCP flags %s from %s: no conforming stack sends them", flagString(p.TCPFlags), p.Src), 1)
	}
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoTCP, ap: p.DstPort, bp: p.SrcPort}
	switch {
	case f&(syn|ack) == syn:
		return d.tcpSYN(now, src, p)
	case f&(syn|ack) == syn|ack:
		d.rememberConn(p)
		rev.cls = clsTCP
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		rev.cls = clsStray
		d.takePending(rev) // the target answered a stray normally: a real conversation
		return Verdict{}, false
	case f&rst != 0:
		rev.cls = clsTCP
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, false, evFail)
		}
		rev.cls = clsStray
		if pe, ok := d.takePending(rev); ok {
			return d.strayEvidence(now, pe)
		}
		return Verdict{}, false
	}
	// ACK, FIN, FIN|ACK and data segments.
	rev.cls = clsStray
	if _, ok := d.takePending(rev); ok {
		d.rememberConn(p) // the target answered normally: a real conversation
		return Verdict{}, false
	}
	if p.PayloadLen > 0 || d.knownConn(p) || !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	if f&^(fin|ack) != 0 || f == 0 {
		return Verdict{}, false
	}
	// A stray FIN, ACK or FIN|ACK to a flow not seen starting.
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsStray, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoTCP, cls: clsStray, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendStray, cls: clsStray, port: p.DstPort, host: p.Dst})
	return Verdict{}, false
}

func (d *Detector) tcpSYN(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsTCP, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoTCP, cls: clsTCP, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsTCP, port: p.DstPort, host: p.Dst})
	if !nmapSYN(p) {
		return Verdict{}, false
	}
	if a.sigCount == 0 || a.sigSport != p.SrcPort {
		a.sigSport, a.sigCount, a.sigHost, a.sigManyHosts = p.SrcPort, 0, p.Dst, false
	}
	a.sigCount++
	if p.Dst != a.sigHost {
		a.sigManyHosts = true
	}
	d.addEvidence(a, evidence{at: now, kind: evSig, cls: clsTCP, port: p.DstPort, host: p.Dst, flags: p.TCPWindow})
	if a.sigCount >= d.cfg.SignatureProbes {
		kind := KindPortScan
		if a.sigManyHosts {
			kind = KindHostSweep
		}
		return d.decide(now, a, kind, fmt.Sprintf("%d nmap raw-SYN probes (window 1024-4096, MSS only, source port %d)", a.sigCount, a.sigSport),
			float64(a.sigCount)/float64(d.cfg.SignatureProbes))
	}
	return Verdict{}, false
}

func (d *Detector) observeUDP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoUDP, cls: clsUDP, ap: p.DstPort, bp: p.SrcPort}
	if pe, ok := d.takePending(rev); ok {
		d.rememberConn(p)
		return d.outcome(now, pe, true, evSuccess)
	}
	if d.isNoisy(p.SrcPort) || d.isNoisy(p.DstPort) || !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	if (p.SrcPort == 53 || p.SrcPort == 123 || p.SrcPort == 5353) && p.DstPort >= 1024 {
		return Verdict{}, false // a server's reply whose query we did not see
	}
	if udpOSProbe(p) {
		return d.osProbe(now, src, p, shapeU1)
	}
	if p.DstPort >= traceroutePortMin && p.DstPort <= traceroutePortMax {
		// UDP traceroute: a new port per probe, and the destination answers
		// the ones that reach it with port unreachable by design.
		return Verdict{}, false
	}
	// Who started the exchange: a packet of a flow already seen (in either
	// direction) is not a probe. This keeps a server's second or late reply
	// (to a client that has since closed its port and answers with ICMP port
	// unreachable) from counting against the server.
	if d.knownConn(p) {
		return Verdict{}, false
	}
	d.rememberConn(p)
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsUDP, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoUDP, cls: clsUDP, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendSilent, cls: clsUDP, port: p.DstPort, host: p.Dst})
	return Verdict{}, false
}

// SCTP chunk types (RFC 9260 section 3.2) that matter here.
const (
	sctpInit    = 1
	sctpInitAck = 2
	sctpAbort   = 6
)

// observeSCTP treats an SCTP INIT like a TCP SYN (nmap -sY): INIT-ACK is a
// success, ABORT or ICMP unreachable a failure, silence a failure at the
// timeout.
func (d *Detector) observeSCTP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if len(p.Payload) == 0 {
		return Verdict{}, false
	}
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoSCTP, cls: clsSCTP, ap: p.DstPort, bp: p.SrcPort}
	switch p.Payload[0] {
	case sctpInitAck:
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
	case sctpAbort:
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, false, evFail)
		}
	case sctpInit:
		if !unicastTarget(p, p.Dst) {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.Src)
		if !d.firstContact(a, p.Dst, clsSCTP, p.DstPort) {
			return Verdict{}, false
		}
		a.probes++
		d.stats.Probes++
		d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoSCTP, cls: clsSCTP, ap: p.SrcPort, bp: p.DstPort},
			pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsSCTP, port: p.DstPort, host: p.Dst})
	}
	return Verdict{}, false
}

// The destination ports of UDP traceroute (base 33434, one port per probe,
// Linux sends up to 30 hops x 3 probes; Van Jacobson's traceroute(8)).
const (
	traceroutePortMin = 33434
	traceroutePortMax = 33534
)

// observeProto handles IP protocols other than TCP, UDP and ICMP: probes of
// nmap -sO, answered by ICMP protocol unreachable when closed.
func (d *Detector) observeProto(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	rev := flowKey{a: p.Dst, b: p.Src, proto: p.Proto, cls: clsProto}
	if pe, ok := d.takePending(rev); ok {
		return d.outcome(now, pe, true, evSuccess)
	}
	if !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsProto, uint16(p.Proto)) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: p.Proto, cls: clsProto},
		pending{act: a, gen: a.gen, kind: pendSilent, cls: clsProto, port: uint16(p.Proto), host: p.Dst})
	return Verdict{}, false
}

func (d *Detector) observeICMP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	v6 := p.Proto == packet.ProtoICMPv6
	var cls uint8
	request, reply := false, false
	switch {
	case !v6 && (p.ICMPType == packet.ICMPEcho || p.ICMPType == packet.ICMPEchoReply),
		v6 && (p.ICMPType == packet.ICMPv6EchoRequest || p.ICMPType == packet.ICMPv6EchoReply):
		cls = clsEcho
		request = p.ICMPType == packet.ICMPEcho || p.ICMPType == packet.ICMPv6EchoRequest
		reply = !request
	case !v6 && (p.ICMPType == packet.ICMPTimestamp || p.ICMPType == packet.ICMPTimestampRep):
		cls, request, reply = clsTimestamp, p.ICMPType == packet.ICMPTimestamp, p.ICMPType == packet.ICMPTimestampRep
	case !v6 && (p.ICMPType == packet.ICMPAddrMask || p.ICMPType == packet.ICMPAddrMaskReply):
		cls, request, reply = clsMask, p.ICMPType == packet.ICMPAddrMask, p.ICMPType == packet.ICMPAddrMaskReply
	case v6 && p.ICMPType == packet.ICMPv6NeighborSol:
		return d.observeNS(now, src, p)
	case v6 && p.ICMPType == packet.ICMPv6NeighborAdv:
		if pe, ok := d.takePending(flowKey{a: p.Dst, b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		return Verdict{}, false
	case !v6 && p.ICMPType == packet.ICMPUnreachable, v6 && p.ICMPType == packet.ICMPv6Unreachable,
		v6 && p.ICMPType == packet.ICMPv6ParamProblem && p.ICMPCode == 1:
		return d.unreachable(now, p)
	default:
		return Verdict{}, false
	}
	if reply {
		if pe, ok := d.takePending(flowKey{a: p.Dst, b: p.Src, proto: p.Proto, cls: cls, ap: p.ICMPID}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		return Verdict{}, false
	}
	if !request || !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	if cls == clsEcho {
		if shape := icmpOSShape(p); shape != 0 {
			return d.osProbe(now, src, p, shape)
		}
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, cls, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: p.Proto, cls: cls, ap: p.ICMPID},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: cls, host: p.Dst})
	return Verdict{}, false
}

// unreachable turns an ICMP/ICMPv6 destination unreachable (or ICMPv6
// "unrecognized next header") into the failure of the attempt it quotes.
func (d *Detector) unreachable(now time.Time, p *packet.Packet) (Verdict, bool) {
	if !p.HasInner {
		return Verdict{}, false
	}
	in := &p.Inner
	k := flowKey{a: in.Src, b: in.Dst, proto: in.Proto}
	// The target itself refusing (port or protocol unreachable) is a
	// refusal; a router saying the target cannot be reached (host or net
	// unreachable, administratively prohibited) says no more than silence
	// would, and is judged like a timeout (see outcome).
	ek := evFail
	if p.Src != in.Dst {
		ek = evTimeout
	}
	switch in.Proto {
	case packet.ProtoTCP:
		k.cls, k.ap, k.bp = clsTCP, in.SrcPort, in.DstPort
	case packet.ProtoUDP:
		k.cls, k.ap, k.bp = clsUDP, in.SrcPort, in.DstPort
	case packet.ProtoSCTP:
		k.cls, k.ap, k.bp = clsSCTP, in.SrcPort, in.DstPort
	case packet.ProtoICMP, packet.ProtoICMPv6:
		// An echo, timestamp or mask request that could not be delivered.
		for _, c := range [...]uint8{clsEcho, clsTimestamp, clsMask} {
			k.cls = c
			if pe, ok := d.takePending(k); ok {
				return d.outcome(now, pe, false, ek)
			}
		}
		return Verdict{}, false
	default:
		k.cls = clsProto
	}
	if pe, ok := d.takePending(k); ok {
		return d.outcome(now, pe, false, ek)
	}
	return Verdict{}, false
}

func (d *Detector) observeARP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !p.ARPSenderIP.IsValid() || !p.ARPTargetIP.IsValid() {
		return Verdict{}, false
	}
	d.noteAddr(src, p.ARPSenderIP)
	d.noteAlive(p.ARPSenderIP, now)
	switch p.ARPOp {
	case 1:
		// Probes (sender 0.0.0.0) and gratuitous announcements are not lookups.
		if p.ARPSenderIP.IsUnspecified() || p.ARPSenderIP == p.ARPTargetIP || p.ARPTargetIP.IsUnspecified() {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.ARPSenderIP)
		if d.forwarder(src, 4) || !d.firstContact(a, p.ARPTargetIP, clsARP, 0) {
			return Verdict{}, false
		}
		a.probes++
		d.stats.Probes++
		d.addPending(now, flowKey{a: p.ARPSenderIP, b: p.ARPTargetIP, cls: clsARP},
			pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsARP, host: p.ARPTargetIP})
	case 2:
		if pe, ok := d.takePending(flowKey{a: p.ARPTargetIP, b: p.ARPSenderIP, cls: clsARP}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
	}
	return Verdict{}, false
}

func (d *Detector) observeNS(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if p.Src.IsUnspecified() || !p.NDTarget.IsValid() || p.NDTarget == p.Src || p.NDTarget.IsMulticast() {
		return Verdict{}, false // duplicate address detection, or nonsense
	}
	a := d.actorFor(now, src, p.Src)
	if d.forwarder(src, 6) || !d.firstContact(a, p.NDTarget, clsND, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsND, host: p.NDTarget})
	return Verdict{}, false
}

func (d *Detector) osProbe(now time.Time, src Source, p *packet.Packet, shape uint32) (Verdict, bool) {
	a := d.actorFor(now, src, p.Src)
	if a.osMask&shape == 0 {
		a.probes++
		d.stats.Probes++
		a.osMask |= shape
		d.addEvidence(a, evidence{at: now, kind: evOS, port: p.DstPort, host: p.Dst, flags: uint16(shapeIndex(shape))})
	}
	n := popcount(a.osMask)
	if n >= d.cfg.OSProbeMin {
		return d.decide(now, a, KindOSFingerprint, fmt.Sprintf("%d distinct nmap OS-detection probe shapes", n), float64(n)/float64(d.cfg.OSProbeMin))
	}
	return Verdict{}, false
}

// outcome applies a first contact's outcome to the actor's walks.
func (d *Detector) outcome(now time.Time, pe pending, success bool, ek evKind) (Verdict, bool) {
	a := pe.act
	if a == nil || a.gen != pe.gen {
		return Verdict{}, false // the actor was evicted meanwhile
	}
	if pe.kind == pendStray {
		return Verdict{}, false
	}
	// UDP and IP-protocol silence counts only on the host walk, and only
	// once that host has rejected one of the actor's probes with ICMP
	// unreachable (see doc.go).
	if ek == evSilence {
		w := d.findWalk(a, walkKey{dim: dimHost, cls: pe.cls, host: pe.host})
		if w == nil || !w.rejects {
			return Verdict{}, false
		}
	}
	if success {
		a.succs++
		d.stats.Successes++
	} else {
		a.fails++
		d.stats.Failures++
		d.addEvidence(a, evidence{at: now, kind: ek, cls: pe.cls, port: pe.port, host: pe.host})
	}
	var dims [2]walkKey
	n := 0
	switch {
	case ek == evSilence:
		dims[0] = walkKey{dim: dimHost, cls: pe.cls, host: pe.host}
		n = 1
	case pe.cls == clsTCP || pe.cls == clsUDP || pe.cls == clsSCTP:
		dims[0] = walkKey{dim: dimSvc, cls: pe.cls, port: pe.port}
		n = 1
		// Vertical: silence from a host that answers nobody says the host
		// is down, not that its ports are closed, and teaches a scanner
		// nothing; a monitoring poller checking the services of a dead host
		// must not look like a port scan. Silence counts against the
		// initiator only when the host has been heard from lately.
		if success || ek != evTimeout || d.alive(pe.host, now) {
			dims[1] = walkKey{dim: dimHost, cls: pe.cls, host: pe.host}
			n = 2
		}
	case pe.cls == clsProto:
		dims[0] = walkKey{dim: dimHost, cls: pe.cls, host: pe.host}
		n = 1
	default: // echo, timestamp, mask, ARP, ND: sweeps only
		dims[0] = walkKey{dim: dimSvc, cls: pe.cls}
		n = 1
	}
	best := -1.0
	var bestKey walkKey
	var bw *walk
	for _, k := range dims[:n] {
		w := d.walkFor(a, k, now)
		if success {
			w.llr += d.logSucc
			w.succs++
		} else {
			w.llr += d.logFail
			w.fails++
		}
		w.llr = max(w.llr, d.logEta0)
		w.last = now
		if ek == evFail && (pe.cls == clsUDP || pe.cls == clsProto) {
			w.rejects = true
		}
		if w.llr > best {
			best, bestKey, bw = w.llr, k, w
		}
	}
	if best < d.logEta1-1e-9 {
		return Verdict{}, false
	}
	kind := walkKind(bestKey)
	where := ""
	if bestKey.dim == dimHost {
		where = fmt.Sprintf("%s on %s", plural(int(bw.fails), clsNoun(bestKey.cls)), bestKey.host)
	} else {
		where = fmt.Sprintf("%s for %s", plural(int(bw.fails), "host"), svcName(bestKey.cls, bestKey.port))
	}
	reason := fmt.Sprintf("threshold random walk: likelihood ratio %.0f >= eta1 %.0f after %d failed and %d successful first contacts (%s)",
		math.Exp(best), math.Exp(d.logEta1), bw.fails, bw.succs, where)
	return d.decide(now, a, kind, reason, best/d.logEta1)
}

func (d *Detector) strayEvidence(now time.Time, pe pending) (Verdict, bool) {
	a := pe.act
	if a == nil || a.gen != pe.gen {
		return Verdict{}, false
	}
	a.stray++
	d.addEvidence(a, evidence{at: now, kind: evStray, cls: clsStray, port: pe.port, host: pe.host})
	if a.stray >= d.cfg.StealthMinProbes {
		return d.decide(now, a, KindStealthScan,
			fmt.Sprintf("%d stray FIN/ACK/Maimon probes to connections never opened, answered by RST", a.stray),
			float64(a.stray)/float64(d.cfg.StealthMinProbes))
	}
	return Verdict{}, false
}

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
	return v, true
}

// Tick expires unanswered attempts (turning them into failures or stealth
// evidence) and idle actors. Call it at least once a second.
func (d *Detector) Tick(now time.Time) []Verdict {
	var out []Verdict
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
// first, at most Config.MaxSuspects.
func (d *Detector) Suspects(now time.Time) []Suspect {
	var out []Suspect
	for a := d.head; a != nil; a = a.next {
		score, kind := d.actorScore(a)
		if score <= 0 && a.fails == 0 {
			continue
		}
		out = append(out, Suspect{
			Source: a.key.src, IPs: d.actorIPs(a, nil), Score: score,
			Failures: a.fails, Successes: a.succs, Probes: a.probes, Kind: kind, LastSeen: a.last,
		})
	}
	slices.SortStableFunc(out, func(x, y Suspect) int {
		switch {
		case x.Score > y.Score:
			return -1
		case x.Score < y.Score:
			return 1
		}
		return 0
	})
	if len(out) > d.cfg.MaxSuspects {
		out = out[:d.cfg.MaxSuspects]
	}
	return out
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

// ---- actors ----

func (d *Detector) actorFor(now time.Time, src Source, ip netip.Addr) *actor {
	k := actorKey{src: src, ip: ip}
	a, ok := d.actors[k]
	if !ok {
		if d.perSource[src].n >= d.cfg.MaxIPsPerSource {
			d.stats.OverflowFolded++
			k.ip = netip.Addr{}
			a, ok = d.actors[k]
		}
	}
	if !ok {
		if len(d.actors) >= d.cfg.MaxActors {
			d.stats.ActorsEvicted++
			d.release(d.tail)
		}
		a = d.free
		if a != nil {
			d.free = a.next
			gen := a.gen
			*a = actor{}
			a.gen = gen + 1
		} else {
			a = &actor{gen: 1}
		}
		a.key = k
		a.first = now
		d.actors[k] = a
		si := d.perSource[src]
		if k.ip.IsValid() {
			si.n++
		}
		d.perSource[src] = si
	} else {
		d.unlink(a)
	}
	a.last = now
	d.pushFront(a)
	if !a.key.ip.IsValid() {
		d.sampleIP(a, ip)
	}
	return a
}

// forwarder reports whether src's frames carry the traffic of other hosts
// of the given family (4 or 6): a router, or a spoofer. A router's ARP and ND
// lookups resolve next hops for traffic it forwards (in zeek_wikipedia.pcap
// the gateway asks for four silent addresses in ten seconds), so they are not
// sweep evidence. A spoofer gains little from this: the probes that follow
// discovery are still counted.
func (d *Detector) forwarder(src Source, family int) bool {
	e := &d.addrs[srcSlot(src)]
	if !e.used || e.src != src {
		return false
	}
	if family == 4 {
		return e.v4.multi
	}
	return e.v6.multi
}

// Forwarder reports whether src's frames carried a third distinct IPv4
// address or IPv6 /64: it forwards for other hosts (a router), or spoofs.
func (d *Detector) Forwarder(src Source) bool {
	return d.forwarder(src, 4) || d.forwarder(src, 6)
}

// addrSeen remembers, per Source, the distinct source addresses seen, up to
// the point where they prove the Source forwards for others. A host has one
// IPv4 address (two across a DHCP change) and its IPv6 addresses share one or
// two /64 prefixes (privacy addresses, ULA beside a global prefix), so it
// takes a third distinct IPv4 address or /64 to mark a forwarder; unspecified,
// link-local and multicast sources are ignored. The table is direct-mapped
// and fixed in size: a collision forgets the older Source, which only delays
// router detection.
type addrSeen struct {
	src    Source
	used   bool
	v4, v6 distinct2
}

// distinct2 holds up to two values and whether a third was seen.
type distinct2 struct {
	a, b  netip.Addr
	multi bool
}

func (x *distinct2) add(v netip.Addr) {
	switch {
	case x.multi || v == x.a || v == x.b:
	case !x.a.IsValid():
		x.a = v
	case !x.b.IsValid():
		x.b = v
	default:
		x.multi = true
	}
}

const addrSlots = 4096

// Hosts heard from: a direct-mapped table of source addresses and when they
// last sent anything. A collision forgets an address, which only makes a
// timeout count for less (see outcome).
const (
	aliveSlots  = 8192
	aliveWindow = 10 * time.Minute
)

type aliveEntry struct {
	ip   netip.Addr
	last time.Time
}

func addrSlot(ip netip.Addr, n int) int {
	return int(targetHash(ip, 0, 0) % uint64(n))
}

func (d *Detector) noteAlive(ip netip.Addr, now time.Time) {
	if !ip.IsValid() || ip.IsUnspecified() {
		return
	}
	e := &d.alives[addrSlot(ip, aliveSlots)]
	e.ip, e.last = ip, now
}

func (d *Detector) alive(ip netip.Addr, now time.Time) bool {
	e := &d.alives[addrSlot(ip, aliveSlots)]
	return e.ip == ip && now.Sub(e.last) <= aliveWindow
}

func srcSlot(s Source) int {
	h := s.DPID*0x9e3779b97f4a7c15 ^ uint64(s.Port)*0xbf58476d1ce4e5b9
	for _, b := range s.MAC {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(h % addrSlots)
}

func (d *Detector) noteAddr(src Source, ip netip.Addr) {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return
	}
	e := &d.addrs[srcSlot(src)]
	if !e.used || e.src != src {
		*e = addrSeen{src: src, used: true}
	}
	if ip.Is4() || ip.Is4In6() {
		e.v4.add(ip.Unmap())
		return
	}
	pfx, _ := ip.Prefix(64)
	e.v6.add(pfx.Addr())
}

func (d *Detector) sampleIP(a *actor, ip netip.Addr) {
	for _, x := range a.ips[:a.nIPs] {
		if x == ip {
			return
		}
	}
	if a.nIPs < len(a.ips) {
		a.ips[a.nIPs] = ip
		a.nIPs++
	}
}

func (d *Detector) release(a *actor) {
	d.unlink(a)
	delete(d.actors, a.key)
	if si, ok := d.perSource[a.key.src]; ok {
		if a.key.ip.IsValid() {
			si.n--
		}
		d.perSource[a.key.src] = si
		if _, pooled := d.actors[actorKey{src: a.key.src}]; si.n <= 0 && !pooled {
			delete(d.perSource, a.key.src)
		}
	}
	a.gen++ // pending attempts of this actor no longer apply
	a.next = d.free
	d.free = a
}

func (d *Detector) unlink(a *actor) {
	if a.prev != nil {
		a.prev.next = a.next
	} else if d.head == a {
		d.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else if d.tail == a {
		d.tail = a.prev
	}
	a.prev, a.next = nil, nil
}

func (d *Detector) pushFront(a *actor) {
	a.prev, a.next = nil, d.head
	if d.head != nil {
		d.head.prev = a
	}
	d.head = a
	if d.tail == nil {
		d.tail = a
	}
}

func (d *Detector) actorIPs(a *actor, buf []netip.Addr) []netip.Addr {
	if a.key.ip.IsValid() {
		return append(buf, a.key.ip)
	}
	return append(buf, a.ips[:a.nIPs]...)
}

// findWalk returns a's walk for k, or nil.
func (d *Detector) findWalk(a *actor, k walkKey) *walk {
	for i := range a.walks {
		if a.walks[i].key == k {
			return &a.walks[i]
		}
	}
	return nil
}

// walkFor returns a's walk for k. Service walks and host walks have their
// own slots (svcWalks and maxWalks-svcWalks), so many hosts cannot push out
// the walk of the one port they share. When all of a dimension's slots are
// used, the least informative walk (closest to a ratio of 1, then the
// oldest) is replaced: both a scanner's rising walk and a client's earned
// credit are kept.
func (d *Detector) walkFor(a *actor, k walkKey, now time.Time) *walk {
	lo, hi := 0, svcWalks
	if k.dim == dimHost {
		lo, hi = svcWalks, maxWalks
	}
	free := -1
	for i := lo; i < hi; i++ {
		w := &a.walks[i]
		if w.key == k {
			return w
		}
		if free < 0 && w.key.dim == 0 {
			free = i
		}
	}
	if free < 0 {
		free = lo
		for i := lo + 1; i < hi; i++ {
			w, l := &a.walks[i], &a.walks[free]
			if math.Abs(w.llr) < math.Abs(l.llr) || (math.Abs(w.llr) == math.Abs(l.llr) && w.last.Before(l.last)) {
				free = i
			}
		}
	}
	a.walks[free] = walk{key: k, last: now}
	return &a.walks[free]
}

// firstContact records (host, cls, port) as tried by a and reports whether
// it is new. Memory is fixed: two generations of targetGen hashes, the older
// dropped when the newer fills to 3/4.
func (d *Detector) firstContact(a *actor, host netip.Addr, cls uint8, port uint16) bool {
	h := targetHash(host, cls, port)
	for g := range 2 {
		for i, n := h%targetGen, 0; n < targetGen; i, n = (i+1)%targetGen, n+1 {
			switch a.seen[g][i] {
			case h:
				return false
			case 0:
				n = targetGen // not in this generation
			}
		}
	}
	if a.nSeen >= targetGen*3/4 {
		a.seen[1] = a.seen[0]
		a.seen[0] = [targetGen]uint64{}
		a.nSeen = 0
	}
	for i := h % targetGen; ; i = (i + 1) % targetGen {
		if a.seen[0][i] == 0 {
			a.seen[0][i] = h
			a.nSeen++
			return true
		}
	}
}

func targetHash(host netip.Addr, cls uint8, port uint16) uint64 {
	b := host.As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(cls)) * 1099511628211
	h = (h ^ uint64(port)) * 1099511628211
	h = (h ^ uint64(port>>8)) * 1099511628211
	if h == 0 {
		h = 1
	}
	return h
}

// ---- established-flow memory (so a handshake's own ACK and FIN are not stray) ----

func connHash(a, b netip.Addr, ap, bp uint16) uint64 {
	// order-independent: the same for both directions
	x, y := targetHash(a, 0, ap), targetHash(b, 0, bp)
	h := x ^ y
	h = h*0x9e3779b97f4a7c15 + (x + y)
	if h == 0 {
		h = 1
	}
	return h
}

func (d *Detector) rememberConn(p *packet.Packet) {
	h := connHash(p.Src, p.Dst, p.SrcPort, p.DstPort)
	if d.knownConn(p) {
		return
	}
	n := uint64(len(d.conns[0]))
	if d.nConns >= len(d.conns[0])*3/4 {
		d.conns[0], d.conns[1] = d.conns[1], d.conns[0]
		clear(d.conns[0])
		d.nConns = 0
	}
	for i := h % n; ; i = (i + 1) % n {
		if d.conns[0][i] == 0 {
			d.conns[0][i] = h
			d.nConns++
			return
		}
	}
}

func (d *Detector) knownConn(p *packet.Packet) bool {
	h := connHash(p.Src, p.Dst, p.SrcPort, p.DstPort)
	for g := range 2 {
		t := d.conns[g]
		n := uint64(len(t))
		for i, k := h%n, 0; k < len(t); i, k = (i+1)%n, k+1 {
			switch t[i] {
			case h:
				return true
			case 0:
				k = len(t)
			}
		}
	}
	return false
}

// ---- pending attempts ----

// attemptKey normalizes a pending key: an attempt is matched by initiator,
// target, protocol and target port (or ICMP kind), not by the initiator's
// port or echo id, so the answer to an application's retry from a new port
// resolves the attempt counted for the first try. A stray segment is a
// conversation's packet and keeps its full 5-tuple.
func attemptKey(k flowKey) flowKey {
	if k.cls != clsStray {
		k.ap = 0
	}
	return k
}

func (d *Detector) addPending(now time.Time, k flowKey, pe pending) {
	k = attemptKey(k)
	if old, ok := d.pend[k]; ok && old.act == pe.act && old.gen == pe.gen {
		return // same attempt again
	}
	if d.ringLen == len(d.ring) {
		it := d.ring[d.ringHead]
		d.ringHead = (d.ringHead + 1) % len(d.ring)
		d.ringLen--
		if old, ok := d.pend[it.key]; ok && old.seq == it.seq {
			delete(d.pend, it.key)
			d.stats.PendingEvicted++
		}
	}
	d.seq++
	pe.seq = d.seq
	pe.deadline = now.Add(d.cfg.NoAnswerTimeout)
	d.pend[k] = pe
	d.ring[(d.ringHead+d.ringLen)%len(d.ring)] = ringItem{key: k, seq: pe.seq}
	d.ringLen++
}

func (d *Detector) takePending(k flowKey) (pending, bool) {
	k = attemptKey(k)
	pe, ok := d.pend[k]
	if ok {
		delete(d.pend, k)
	}
	return pe, ok
}

// ---- evidence ----

func (d *Detector) addEvidence(a *actor, e evidence) {
	if a.nEv < evidenceLen {
		a.ev[a.nEv] = e
		a.nEv++
		return
	}
	copy(a.ev[:], a.ev[1:])
	a.ev[evidenceLen-1] = e
}

// maxTargets bounds Verdict.Targets.
const maxTargets = 8

// evidenceTargets lists the distinct hosts in a's evidence.
func evidenceTargets(a *actor) []netip.Addr {
	var out []netip.Addr
	add := func(ip netip.Addr) {
		if ip.IsValid() && len(out) < maxTargets && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	for _, e := range a.ev[:a.nEv] {
		add(e.host)
	}
	add(a.sigHost)
	return out
}

func (d *Detector) evidenceLines(a *actor) []string {
	out := make([]string, 0, a.nEv)
	for _, e := range a.ev[:a.nEv] {
		t := e.at.Sub(a.first).Seconds()
		var s string
		switch e.kind {
		case evFail:
			s = fmt.Sprintf("+%.3fs %s refused (RST or ICMP unreachable)", t, target(e))
		case evTimeout, evSilence:
			s = fmt.Sprintf("+%.3fs %s unanswered", t, target(e))
		case evStray:
			s = fmt.Sprintf("+%.3fs stray FIN/ACK to %s:%d on no known connection, answered by RST", t, e.host, e.port)
		case evImpossible:
			s = fmt.Sprintf("+%.3fs TCP %s to %s:%d", t, flagString(e.flags), e.host, e.port)
		case evSig:
			s = fmt.Sprintf("+%.3fs nmap raw SYN (window %d, MSS only) to %s:%d", t, e.flags, e.host, e.port)
		case evOS:
			s = fmt.Sprintf("+%.3fs nmap OS probe %s to %s", t, shapeNames[e.flags], e.host)
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

func target(e evidence) string {
	switch e.cls {
	case clsTCP:
		return fmt.Sprintf("TCP %s", netip.AddrPortFrom(e.host, e.port))
	case clsUDP:
		return fmt.Sprintf("UDP %s", netip.AddrPortFrom(e.host, e.port))
	case clsSCTP:
		return fmt.Sprintf("SCTP %s", netip.AddrPortFrom(e.host, e.port))
	case clsProto:
		return fmt.Sprintf("IP protocol %d to %s", e.port, e.host)
	}
	return fmt.Sprintf("%s to %s", clsNoun(e.cls), e.host)
}

func walkKind(k walkKey) Kind {
	switch k.cls {
	case clsTCP, clsSCTP:
		if k.dim == dimHost {
			return KindPortScan
		}
		return KindHostSweep
	case clsUDP:
		return KindUDPScan
	case clsProto:
		return KindIPProtoScan
	case clsEcho, clsTimestamp, clsMask:
		return KindPingSweep
	case clsARP:
		return KindARPSweep
	case clsND:
		return KindNDSweep
	}
	return KindPortScan
}

func clsNoun(c uint8) string {
	switch c {
	case clsTCP:
		return "TCP port"
	case clsUDP:
		return "UDP port"
	case clsSCTP:
		return "SCTP port"
	case clsProto:
		return "IP protocol"
	case clsEcho:
		return "echo request"
	case clsTimestamp:
		return "timestamp request"
	case clsMask:
		return "address mask request"
	case clsARP:
		return "ARP who-has"
	case clsND:
		return "neighbour solicitation"
	}
	return "probe"
}

func svcName(c uint8, port uint16) string {
	switch c {
	case clsTCP:
		return fmt.Sprintf("TCP port %d", port)
	case clsUDP:
		return fmt.Sprintf("UDP port %d", port)
	case clsSCTP:
		return fmt.Sprintf("SCTP port %d", port)
	}
	return clsNoun(c)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 failed " + noun
	}
	return fmt.Sprintf("%d failed %ss", n, noun)
}

func flagString(f uint16) string {
	if f&0x1ff == 0 {
		return "NULL"
	}
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	return s
}

func popcount(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}
