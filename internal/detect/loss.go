package detect

import "time"

// Meter-aware silence (issue 8, item 4). The copies of answers reach the
// controller through meters; a copy a meter dropped is an answer the
// detector never sees, and an attempt whose answer was dropped must not
// count as unanswered. The controller reads the meters' drop counters and
// reports each rise as a Loss; an attempt whose wait overlaps a Loss on the
// path of its answer expires as unknown (Stats.Unknown), neither success
// nor failure.
//
// The path of an answer is the port where the target was last heard from
// (every switch port copies its answers through a meter of its own, so one
// station flooding answers starves only its own evidence). A target never
// heard from is covered by a Loss on any port but the initiator's own: a
// scanner cannot hide its sweep of empty addresses by flooding its own
// port's meter.

// Loss says that a meter dropped copies of answers between From and To.
type Loss struct {
	DPID uint64 // the switch; 0 for every switch
	Port uint32 // the port whose answer meter dropped them; 0 for a meter shared by every port
	// UDP is set when the meter is the UDP watch meter, shared by UDP probes
	// and answers: only UDP attempts lose their answers.
	UDP      bool
	From, To time.Time
}

type lossKey struct {
	dpid uint64
	port uint32
	udp  bool
}

type lossSpan struct{ from, to time.Time }

func (s lossSpan) overlaps(from, to time.Time) bool {
	return !s.from.IsZero() && !s.to.Before(from) && !to.Before(s.from)
}

// lossMax bounds the loss table; past it the table starts over with one
// loss for everything (answers may then count as unknown a little too
// often, never as failures).
const lossMax = 1024

// lossTable holds the most recent loss span per meter and the last two
// ports with a loss (for targets never heard from).
type lossTable struct {
	spans  map[lossKey]lossSpan
	recent [2]struct {
		key  lossKey
		span lossSpan
	}
}

// ReplyLoss records that answers may have been lost (see Loss).
func (d *Detector) ReplyLoss(l Loss) {
	if l.To.Before(l.From) {
		l.From, l.To = l.To, l.From
	}
	t := &d.losses
	if t.spans == nil {
		t.spans = make(map[lossKey]lossSpan, 16)
	}
	k := lossKey{l.DPID, l.Port, l.UDP}
	if l.DPID == 0 {
		k.port = 0
	}
	if _, ok := t.spans[k]; !ok && len(t.spans) >= lossMax {
		keep := l.To.Add(-2 * d.cfg.NoAnswerTimeout)
		for kk, s := range t.spans {
			if s.to.Before(keep) {
				delete(t.spans, kk)
			}
		}
		if len(t.spans) >= lossMax {
			clear(t.spans)
			k = lossKey{}
		}
	}
	s := t.spans[k]
	if s.from.IsZero() || l.From.After(s.to.Add(d.cfg.NoAnswerTimeout)) {
		s = lossSpan{l.From, l.To} // a new episode
	} else {
		s.from, s.to = minTime(s.from, l.From), maxTime(s.to, l.To)
	}
	t.spans[k] = s
	if k.port != 0 && !k.udp {
		if t.recent[0].key != k {
			t.recent[1] = t.recent[0]
		}
		t.recent[0].key, t.recent[0].span = k, s
	}
}

// answerLost reports whether the answer to attempt pe, expiring now, may
// have been dropped by a meter while it waited.
func (d *Detector) answerLost(pe pending, now time.Time) bool {
	t := &d.losses
	if len(t.spans) == 0 {
		return false
	}
	to := pe.deadline
	from := to.Add(-d.cfg.NoAnswerTimeout)
	hit := func(k lossKey) bool {
		s, ok := t.spans[k]
		return ok && s.overlaps(from, to)
	}
	udp := pe.cls == clsUDP
	if hit(lossKey{}) || (udp && hit(lossKey{udp: true})) {
		return true
	}
	dpid, port, heard := d.heardAt(pe.host)
	if heard {
		return hit(lossKey{dpid, port, false}) || hit(lossKey{dpid, 0, false}) ||
			(udp && (hit(lossKey{dpid, 0, true}) || hit(lossKey{dpid, port, true})))
	}
	var own Source
	if pe.act != nil {
		own = pe.act.key.src
	}
	for _, r := range t.recent {
		if r.span.overlaps(from, to) && !(r.key.dpid == own.DPID && r.key.port == own.Port) {
			return true
		}
	}
	if udp {
		for k, s := range t.spans {
			if k.udp && s.overlaps(from, to) {
				return true
			}
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
