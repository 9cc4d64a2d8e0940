package detect

import (
	"fmt"
	"math"
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
func (d *Detector) refusals(now time.Time, a *actor, keys []walkKey) (Verdict, bool) {
	for _, k := range keys {
		if k.dim != dimHost || (k.cls != clsUDP && k.cls != clsProto) {
			continue
		}
		w := d.findWalk(a, k)
		if w == nil || w.refused < int32(d.cfg.RefusedPorts) {
			continue
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
