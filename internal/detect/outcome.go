package detect

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

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
		if pe.cls == clsTCP && (ek == evFail || d.alive(pe.host, now)) {
			if v, ok := d.fanout(now, a, pe.host, pe.port, true); ok {
				return v, ok
			}
		}
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
			if k.dim == dimHost {
				if w.refused == 0 || now.Sub(w.refusedAt) > refusalWindow {
					w.refused, w.refusedAt = 0, now
				}
				w.refused++ // distinct: one first contact per port (firstContact)
			}
		}
		if w.llr > best {
			best, bestKey, bw = w.llr, k, w
		}
	}
	if best < d.logEta1-1e-9 {
		return d.refusals(now, a, dims[:n])
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

// refusals decides a host walk of UDP ports or IP protocols on the refusals
// alone (Config.RefusedPorts): a host refusing that many distinct ports of
// one actor is a port map being drawn, and each port answered in between
// (a scanner can always include the ones it knows open) would otherwise
// buy it one more refusal learned.
//
// For UDP, a poller checking a host's few services, some of them down, is
// refused as often in its first round, and never again (a port it tried
// before is no first contact). A scan goes on to new ports. So the refusals
// of UDP ports decide only once the actor has tried more than
// RefusedPorts+pollerSlack (5) distinct UDP ports of that host within the
// refusal window: at once for nmap's bursts of 10 or more, at the next new
// port for a scanner that waits for each answer, which has then learned at
// most 5 (3 refused and 2 answered, or any mix).
func (d *Detector) refusals(now time.Time, a *actor, keys []walkKey) (Verdict, bool) {
	for _, k := range keys {
		if k.dim != dimHost || (k.cls != clsUDP && k.cls != clsProto) {
			continue
		}
		w := d.findWalk(a, k)
		if w == nil || w.refused < int32(d.cfg.RefusedPorts) || now.Sub(w.refusedAt) > refusalWindow {
			continue
		}
		if k.cls == clsUDP && d.udpTried(now, a, k.host) <= int32(d.cfg.RefusedPorts+pollerSlack) {
			continue // as many ports as a poller checks: wait for a new one (udpProbe)
		}
		return d.decide(now, a, walkKind(k),
			fmt.Sprintf("%s refused with ICMP unreachable (%d answered)", plural(int(w.refused), clsNoun(k.cls))+" on "+k.host.String(), w.succs),
			float64(w.refused)/float64(d.cfg.RefusedPorts))
	}
	return Verdict{}, false
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
			fmt.Sprintf("%d stray ACK segments (ACK, FIN/ACK, PSH/ACK, data) to connections never opened, answered by RST", a.stray),
			float64(a.stray)/float64(d.cfg.StealthMinProbes))
	}
	return Verdict{}, false
}

// pollerSlack is how many ports beyond Config.RefusedPorts a UDP poller may
// check on one host without its first round's refusals deciding.
const pollerSlack = 2

// udpProbe records a first contact to a UDP port of host and decides when
// the host has refused enough of the actor's ports already (refusals).
func (d *Detector) udpProbe(now time.Time, a *actor, host netip.Addr) (Verdict, bool) {
	e := &a.ufan[0]
	for i := range a.ufan {
		if a.ufan[i].host == host {
			e = &a.ufan[i]
			break
		}
		if a.ufan[i].at.Before(e.at) {
			e = &a.ufan[i]
		}
	}
	if e.host != host || now.Sub(e.at) > refusalWindow {
		*e = fanEntry{host: host, at: now}
	}
	e.ports++
	return d.refusals(now, a, []walkKey{{dim: dimHost, cls: clsUDP, host: host}})
}

// udpTried returns the distinct UDP ports of host that a tried within the
// refusal window.
func (d *Detector) udpTried(now time.Time, a *actor, host netip.Addr) int32 {
	for i := range a.ufan {
		if e := &a.ufan[i]; e.host == host && now.Sub(e.at) <= refusalWindow {
			return e.ports
		}
	}
	return 0
}
