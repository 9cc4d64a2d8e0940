package detect

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"portcullis/internal/packet"
)

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
			return d.lookupOutcome(now, pe, true)
		}
		// The answer to duplicate address detection goes to all nodes
		// (RFC 4862 section 5.4.3).
		if p.Dst.IsMulticast() {
			if pe, ok := d.takePending(flowKey{a: netip.IPv6Unspecified(), b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND}); ok {
				return d.anonAnswered(now, pe)
			}
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
	k := flowKey{a: p.Src, b: p.Dst, proto: p.Proto, cls: cls, ap: p.ICMPID}
	d.addPending(now, k, pending{act: a, gen: a.gen, kind: pendAttempt, cls: cls, host: p.Dst})
	d.noteLookup(now, k)
	return d.expireLookupsOne(now)
}

func (d *Detector) observeARP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !p.ARPSenderIP.IsValid() || !p.ARPTargetIP.IsValid() {
		return Verdict{}, false
	}
	d.noteAddr(src, p.ARPSenderIP)
	d.noteAlive(src, p.ARPSenderIP, now)
	switch p.ARPOp {
	case 1:
		// Gratuitous announcements are not lookups; probes (sender
		// 0.0.0.0) are anonymous ones.
		if p.ARPSenderIP == p.ARPTargetIP || p.ARPTargetIP.IsUnspecified() {
			return Verdict{}, false
		}
		if p.ARPSenderIP.IsUnspecified() {
			return d.anonLookup(now, src, p.ARPSenderIP, p.ARPTargetIP, 0, clsARP)
		}
		if d.answering(now, src, p.ARPSenderIP, p.ARPTargetIP) {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.ARPSenderIP)
		if d.forwarder(src, 4) || !d.firstContact(a, p.ARPTargetIP, clsARP, 0) {
			return Verdict{}, false
		}
		a.probes++
		d.stats.Probes++
		k := flowKey{a: p.ARPSenderIP, b: p.ARPTargetIP, cls: clsARP}
		d.addPending(now, k, pending{act: a, gen: a.gen, kind: pendLookup, cls: clsARP, host: p.ARPTargetIP})
		d.noteLookup(now, k)
		return d.expireLookupsOne(now)
	case 2:
		if pe, ok := d.takePending(flowKey{a: p.ARPTargetIP, b: p.ARPSenderIP, cls: clsARP}); ok {
			if pe.kind == pendAnon {
				return d.anonAnswered(now, pe)
			}
			return d.lookupOutcome(now, pe, true)
		}
	}
	return Verdict{}, false
}

func (d *Detector) observeNS(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !p.NDTarget.IsValid() || p.NDTarget == p.Src || p.NDTarget.IsMulticast() || p.NDTarget.IsUnspecified() {
		return Verdict{}, false // nonsense
	}
	if p.Src.IsUnspecified() {
		return d.anonLookup(now, src, p.Src, p.NDTarget, packet.ProtoICMPv6, clsND)
	}
	if d.answering(now, src, p.Src, p.NDTarget) {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	if d.forwarder(src, 6) || !d.firstContact(a, p.NDTarget, clsND, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	k := flowKey{a: p.Src, b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND}
	d.addPending(now, k, pending{act: a, gen: a.gen, kind: pendLookup, cls: clsND, host: p.NDTarget})
	d.noteLookup(now, k)
	return d.expireLookupsOne(now)
}

// Early failure of lookups and ICMP requests. A neighbour answers an ARP
// request or a neighbour solicitation at once (RFC 826; RFC 4861 section
// 7.2.4: within milliseconds on a link); a stack that has no answer after
// a second asks again (Linux's retrans_time, RFC 4861's RETRANS_TIMER:
// 1 s), so a lookup unanswered for half that (lookupTimeouts) has failed.
// A lookup of a burst (more than lookupBurst first-contact lookups from one
// actor within lookupBurstWindow, as a sweep makes and a host resolving its
// gateway and a few peers does not) fails after a quarter of it: the
// switch's lookup budget passes one lookup every 125 ms after its burst of
// 16, and a sweeper learns every live address among those passed before its
// first failures count (nmap -sn -PR learned 4-6 hosts of the e2e lab's /24
// at 0.5 s, 3-4 at 0.25 s): the burst's failures, counted sooner, end the
// trickle sooner. (A sweeper that paces itself at the budget's rate from
// its first lookup, four per half second, is judged at the half second, as
// before the burst queue.) A host's own few lookups keep the half second,
// for neighbours slow to answer (a Wi-Fi client in power save hears a
// broadcast only at the access point's next DTIM beacon, 100-300 ms).
// An echo, timestamp or mask request, which may cross routers, gets the
// full second (ping sends its next one then; RFC 6298's initial
// retransmission timeout is 1 s): a host that answers at all answers well
// within it. Waiting for Config.NoAnswerTimeout (3 s, TCP's) instead would
// give a sweeper three seconds of answers before the first failure counts. The lookups wait in a ring of their own, since the
// pending ring expires in arrival order with one timeout; a lookup that
// falls off the full ring is forgotten.
//
// The lookup walk. Jung et al.'s theta0 = 0.8 is the success rate of a
// benign host's connection attempts to remote servers; a host's lookups on
// its own link are for addresses it was given (its gateway, its DNS server,
// peers it learned of) and nearly all are answered, while a sweeper's
// success rate is the share of live addresses in what it sweeps (7 of 245
// in zeek_nmap-vsn, 64 of 253 in the e2e lab). With theta0 = 0.8 a sweep of
// a range that is half alive drifts toward innocence, and the switch's
// lookup budget makes it worse: a sweeper retries its dead addresses, so the
// budget lets through more live first contacts than their share. So the
// walk of the ARP and ND services uses lookupTheta0 = 0.9 and lookupTheta1
// = 0.6: a failure multiplies by 4 as in outcome (four decide from 1, seven
// from the floor eta0), a success only by 2/3 instead of 1/4, so a sweep
// whose lookups succeed less than about three times in four still rises. The walk is
// otherwise the one of outcome: per actor and service, floored at eta0,
// deciding at eta1.
const lookupRingCap = 4096

// lookupTimeouts, by queue: ARP and ND stay on the link, where a neighbour
// answers within milliseconds, so half of RETRANS_TIMER (queue 0), a
// quarter for the lookups of a burst (queue 2); ICMP requests may cross
// routers, so the full second (queue 1).
var lookupTimeouts = [3]time.Duration{500 * time.Millisecond, time.Second, 250 * time.Millisecond}

// A lookup is of a burst when its actor made more than lookupBurst
// first-contact lookups since the start of a lookupBurstWindow.
const (
	lookupBurst       = 4
	lookupBurstWindow = 500 * time.Millisecond
)

type lookupItem struct {
	key flowKey
	seq uint64
	at  time.Time
}

// lookupRing holds lookups (queue 0), ICMP requests (queue 1) and the
// lookups of bursts (queue 2) in the order they were made, each queue with
// its own timeout (allocated on first use).
type lookupRing struct {
	q [3]lookupQueue
}

type lookupQueue struct {
	items   []lookupItem
	head, n int
}

// LookupDue returns when the oldest lookup or ICMP request still waiting
// fails unless answered: the caller should read the meters whose drops
// would explain its silence as soon as that time has passed, then Tick with
// the start of that reading, rather than wait for its next periodic tick.
func (d *Detector) LookupDue() (time.Time, bool) {
	var due time.Time
	for i := range d.lookups.q {
		r := &d.lookups.q[i]
		if r.n == 0 {
			continue
		}
		t := r.items[r.head].at.Add(min(lookupTimeouts[i], d.cfg.NoAnswerTimeout))
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	return due, !due.IsZero()
}

func (d *Detector) noteLookup(now time.Time, k flowKey) {
	k = attemptKey(k)
	pe, ok := d.pend[k]
	if !ok {
		return
	}
	r := &d.lookups.q[1]
	if k.cls == clsARP || k.cls == clsND {
		r = &d.lookups.q[0]
		if a := pe.act; a != nil {
			if now.Sub(a.burstAt) >= lookupBurstWindow {
				a.burstAt, a.burstN = now, 0
			}
			if a.burstN++; a.burstN > lookupBurst {
				r = &d.lookups.q[2]
			}
		}
	}
	if r.items == nil {
		r.items = make([]lookupItem, lookupRingCap)
	}
	if r.n == len(r.items) {
		r.head = (r.head + 1) % len(r.items)
		r.n--
	}
	r.items[(r.head+r.n)%len(r.items)] = lookupItem{key: k, seq: pe.seq, at: now}
	r.n++
}

// expireLookups fails the lookups and requests unanswered for their
// timeout, appending verdicts to out; with first it stops at the first
// verdict.
func (d *Detector) expireLookups(now time.Time, out []Verdict, first bool) []Verdict {
	for i := range d.lookups.q {
		r := &d.lookups.q[i]
		timeout := min(lookupTimeouts[i], d.cfg.NoAnswerTimeout)
		for r.n > 0 {
			it := r.items[r.head]
			if now.Sub(it.at) < timeout {
				break
			}
			r.head = (r.head + 1) % len(r.items)
			r.n--
			pe, ok := d.pend[it.key]
			if !ok || pe.seq != it.seq {
				continue // answered, or expired already
			}
			delete(d.pend, it.key)
			if d.answerLost(pe, now) {
				d.stats.Unknown++ // its answer may be a copy a meter dropped
				continue
			}
			d.stats.Timeouts++
			var v Verdict
			var decided bool
			if pe.kind == pendLookup {
				v, decided = d.lookupOutcome(now, pe, false)
			} else {
				v, decided = d.outcome(now, pe, false, evTimeout)
			}
			if decided {
				out = append(out, v)
				if first {
					return out
				}
			}
		}
	}
	return out
}

// expireLookupsOne is expireLookups for Observe, which returns at most one
// verdict: the rest wait for the next lookup or Tick. Once Tick has been
// called, silence is judged only up to its clock (the evidence horizon, see
// Tick), never up to the time of the packet being observed: the answer the
// lookup waited for may be a copy a meter dropped since, which the next
// meter reading tells.
func (d *Detector) expireLookupsOne(now time.Time) (Verdict, bool) {
	if !d.horizon.IsZero() && d.horizon.Before(now) {
		now = d.horizon
	}
	var buf [1]Verdict
	if out := d.expireLookups(now, buf[:0], true); len(out) > 0 {
		return out[0], true
	}
	return Verdict{}, false
}

const lookupTheta0, lookupTheta1 = 0.9, 0.6

var (
	lookupLogSucc = math.Log(lookupTheta1 / lookupTheta0)
	lookupLogFail = math.Log((1 - lookupTheta1) / (1 - lookupTheta0))
)

// lookupOutcome applies a lookup's outcome to the lookup walk of its
// actor and service (ARP or ND).
func (d *Detector) lookupOutcome(now time.Time, pe pending, success bool) (Verdict, bool) {
	a := pe.act
	if a == nil || a.gen != pe.gen || pe.kind != pendLookup {
		return Verdict{}, false
	}
	k := walkKey{dim: dimSvc, cls: pe.cls}
	w := d.walkFor(a, k, now)
	if success {
		a.succs++
		d.stats.Successes++
		w.llr += lookupLogSucc
		w.succs++
	} else {
		a.fails++
		d.stats.Failures++
		d.addEvidence(a, evidence{at: now, kind: evTimeout, cls: pe.cls, host: pe.host})
		w.llr += lookupLogFail
		w.fails++
	}
	w.llr = max(w.llr, d.logEta0)
	w.last = now
	if w.llr < d.logEta1-1e-9 {
		return Verdict{}, false
	}
	reason := fmt.Sprintf("threshold random walk over lookups (theta0 %.1f, theta1 %.1f): likelihood ratio %.0f >= eta1 %.0f after %d unanswered and %d answered first lookups (%s)",
		lookupTheta0, lookupTheta1, math.Exp(w.llr), math.Exp(d.logEta1), w.fails, w.succs, svcName(k.cls, 0))
	return d.decide(now, a, walkKind(k), reason, w.llr/d.logEta1)
}

// Anonymous lookups. An ARP probe (sender 0.0.0.0, RFC 5227) and duplicate
// address detection (a neighbour solicitation from ::, RFC 4862 section
// 5.4) ask whether anyone holds an address, and whoever does answers: they
// are how a host checks an address before taking it, and a sweep that
// leaves no address of its own to pin it on (arp-scan --arpspa 0.0.0.0).
// For the host checking its new address silence is the normal outcome, so
// silence counts for nothing; an answer means the address is taken, which
// a host meets about once in its life and a sweeper at every live address.
// anonFoundDecide answered anonymous lookups of distinct addresses decide.
const anonFoundDecide = 3

func (d *Detector) anonLookup(now time.Time, src Source, unspec, target netip.Addr, proto, cls uint8) (Verdict, bool) {
	a := d.actorFor(now, src, unspec)
	if !d.firstContact(a, target, cls, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: unspec, b: target, proto: proto, cls: cls},
		pending{act: a, gen: a.gen, kind: pendAnon, cls: cls, host: target})
	return Verdict{}, false
}

func (d *Detector) anonAnswered(now time.Time, pe pending) (Verdict, bool) {
	a := pe.act
	if a == nil || a.gen != pe.gen || pe.kind != pendAnon {
		return Verdict{}, false
	}
	a.anonFound++
	d.addEvidence(a, evidence{at: now, kind: evSuccess, cls: pe.cls, host: pe.host})
	if a.anonFound < anonFoundDecide {
		return Verdict{}, false
	}
	kind, what := KindARPSweep, "ARP probes (sender 0.0.0.0)"
	if pe.cls == clsND {
		kind, what = KindNDSweep, "duplicate address detection solicitations (source ::)"
	}
	return d.decide(now, a, kind, fmt.Sprintf("%d %s answered: addresses already taken, found without an address of its own", a.anonFound, what),
		float64(a.anonFound)/anonFoundDecide)
}

// Answering lookups. A host sent a packet from an address it has no
// neighbour entry for looks that address up before it can answer (its ICMP
// port unreachable, RST or SYN-ACK): the lookup answers a contact, it is
// not one. An attacker who sends a few datagrams from addresses nobody
// holds would otherwise make its victim ask in vain, one failure each, and
// four of them are a sweep's walk. So a lookup by A of an address that sent
// A an IP packet within contactWindow is no first contact, provided that
// packet entered at another port than A's: A cannot send itself packets
// through the switch, so a "contact" entering at A's own port is A's lie
// to make its sweep look like answers. Kernels answer within milliseconds
// and give up a lookup after three seconds (Linux's mcast_solicit times
// retrans_time), so ten seconds cover every answer. The table is direct
// mapped (contactSlots), so memory is fixed and a flood only forgets.
const (
	contactSlots  = 4096
	contactWindow = 10 * time.Second
)

type contactEntry struct {
	key  uint64 // contactHash(to, from); 0: empty
	at   int64  // Unix nanoseconds
	dpid uint64 // where the contacting packet entered
	port uint32
}

func contactHash(to, from netip.Addr) uint64 {
	h := targetHash(to, 0, 0)
	b := from.As16()
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// noteContact records that a packet from p.Src to p.Dst entered at src.
func (d *Detector) noteContact(now time.Time, src Source, p *packet.Packet) {
	if !unicastTarget(p, p.Dst) {
		return
	}
	if d.contacts == nil {
		d.contacts = make([]contactEntry, contactSlots)
	}
	h := contactHash(p.Dst, p.Src)
	d.contacts[h%contactSlots] = contactEntry{key: h, at: now.UnixNano(), dpid: src.DPID, port: src.Port}
}

// answering reports whether a lookup of target by from, entering at src,
// answers a recent contact from target (see noteContact).
func (d *Detector) answering(now time.Time, src Source, from, target netip.Addr) bool {
	if d.contacts == nil {
		return false
	}
	h := contactHash(from, target)
	e := d.contacts[h%contactSlots]
	return e.key == h && now.UnixNano()-e.at <= int64(contactWindow) &&
		(e.dpid != src.DPID || e.port != src.Port)
}
