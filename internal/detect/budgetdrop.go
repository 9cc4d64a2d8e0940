package detect

import (
	"fmt"
	"time"
)

// Probes a budget dropped (issue 8, items 1 and 4). A port's probe budget
// (policy/budget.go) drops a burst's excess in the switch, before the copy:
// the detector never sees those probes, so they are neither attempts nor
// silence, and the controller does not report them as lost answers (no
// answer was lost: the victim never got the probe). That is right for the
// answers' evidence, but it left a sweep's verdict to the few probes the
// budget let through: zmap's ICMP sweep of a /24 at 2000/s lasts 128 ms, the
// ICMP budget (20/s, burst 8) passed 6-11 of its 253 requests, and when it
// passed 6 the walk saw too few failures to decide (1 run in 4,
// BenchmarkBudgetDrops): the sweeper learned a host or two and was never
// blocked. Those drops are the scanner's own probes, evidence against it
// like the ones that passed, though of unknown targets. So the controller
// reports a reading in which a port with one station had its ICMP or
// other-protocol budget drop at least budgetDropMin probes, and the
// station's actor is decided when, besides, at least budgetUnanswered of
// its first contacts of that class that did pass are unanswered (waiting,
// to addresses not heard from lately, or failed since the reading began).
// A benign pinger that overruns the budget (a monitoring tool's first round
// over many hosts) is judged as before unless 3 of the hosts it pinged are
// silent; such a tool with several dead hosts in its list is decided
// (allowlist it). The TCP first-contact, lookup, stray and UDP budgets are
// not reported: benign bursts overrun them (peer-to-peer dialing, a new
// conversation's handshake ACK, DNS clients).

// BudgetClass is a probe budget whose drops the controller reports.
type BudgetClass uint8

// Budget classes.
const (
	BudgetICMP  BudgetClass = iota + 1 // ICMP and ICMPv6 requests
	BudgetOther                        // other IP protocols
)

const (
	budgetDropMin    = 16
	budgetUnanswered = 3
)

// BudgetDrop is one meter reading in which the budget of class Class at
// Source's port (the port's only station) dropped Dropped probes between
// From and To.
type BudgetDrop struct {
	Source   Source
	Class    BudgetClass
	Dropped  uint64
	From, To time.Time
}

func (c BudgetClass) has(cls uint8) bool {
	switch c {
	case BudgetICMP:
		return cls == clsEcho || cls == clsTimestamp || cls == clsMask
	case BudgetOther:
		return cls == clsProto
	}
	return false
}

// BudgetDropped takes a budget drop reading (see above) and returns a
// verdict when it decides the Source's actor.
func (d *Detector) BudgetDropped(now time.Time, b BudgetDrop) (Verdict, bool) {
	if b.Dropped < budgetDropMin || b.Class == 0 {
		return Verdict{}, false
	}
	since := b.From.Add(-d.cfg.NoAnswerTimeout)
	counts := map[*actor]int{}
	for _, pe := range d.pend {
		if pe.act != nil && pe.act.key.src == b.Source && pe.act.gen == pe.gen && !pe.act.decided &&
			b.Class.has(pe.cls) && !d.alive(pe.host, now) {
			counts[pe.act]++
		}
	}
	for a := d.head; a != nil; a = a.next {
		if a.key.src != b.Source || a.decided {
			continue
		}
		for _, e := range a.ev[:a.nEv] {
			if (e.kind == evTimeout || e.kind == evSilence || e.kind == evFail) && b.Class.has(e.cls) && !e.at.Before(since) {
				counts[a]++
			}
		}
	}
	var best *actor
	for a, n := range counts {
		if n >= budgetUnanswered && (best == nil || n > counts[best]) {
			best = a
		}
	}
	if best == nil {
		return Verdict{}, false
	}
	kind, what := KindPingSweep, "ICMP requests"
	if b.Class == BudgetOther {
		kind, what = KindIPProtoScan, "IP protocol probes"
	}
	d.addEvidence(best, evidence{at: now, kind: evBudget, flags: uint16(min(b.Dropped, 0xffff))})
	return d.decide(now, best, kind, fmt.Sprintf("%d %s dropped by its port's probe budget in %v, %d of those that passed unanswered",
		b.Dropped, what, b.To.Sub(b.From).Round(time.Millisecond), counts[best]), float64(counts[best])/budgetUnanswered)
}
