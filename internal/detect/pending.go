package detect

import (
	"time"
)

// Pending attempts.

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
	pe.to = d.curTo
	d.pend[k] = pe
	d.ring[(d.ringHead+d.ringLen)%len(d.ring)] = ringItem{key: k, seq: pe.seq}
	d.ringLen++
}

// takePending returns and removes the attempt that the packet being
// observed answers. A spoofed packet answers nothing (ObserveSpoofed), and
// neither does a packet from the attempt's own Source: no station answers
// itself through the switch, so such an "answer" is forged; nor does one
// that entered at another port than the station the probe was sent to
// (station.go), which stays pending.
func (d *Detector) takePending(k flowKey) (pending, bool) {
	if d.spoofed {
		return pending{}, false
	}
	k = attemptKey(k)
	pe, ok := d.pend[k]
	if !ok || (pe.act != nil && pe.act.key.src == d.cur && d.cur.DPID != 0) {
		return pending{}, false
	}
	if d.answersFromElsewhere(pe.to) {
		d.stats.AnswersElsewhere++
		return pending{}, false
	}
	delete(d.pend, k)
	return pe, true
}
