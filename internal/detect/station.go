package detect

import "time"

// Answers come from where the asked station lives (issue 8, item 2).
//
// A probe sent to a unicast MAC can be answered only by the station behind
// that MAC, or by one sharing its port (a router's other MAC, a host behind
// the same downstream switch): a frame sent to h2's MAC goes to h2's port
// and nowhere else. An "answer" that entered at another port of the switch
// was not sent by anyone the probe reached; it is forged, whatever the
// address it claims. Attribution (forward.Switch.Attribute) catches a forged
// answer from an address that lives elsewhere, but not one from an address
// nobody holds: the forger's first packet with that address makes it its
// own. So an accomplice on another port could answer a sweep for every
// empty address it sweeps (zmap through a gateway MAC sends its probes to
// one MAC, which never answers for them), and the sweep would look
// answered: never judged, and each forged echo reply opening an echo
// bypass.
//
// The detector therefore keeps, per switch, the port where each station
// (MAC) was last seen sending, and an attempt remembers the MAC its probe
// was sent to: an answer from another MAC that entered at a port other than
// that station's answers nothing (the attempt stays pending: the real
// answer may still come). A probe to a group MAC (an ARP request, a
// neighbour solicitation) or to a MAC never seen sending can be answered
// from anywhere. Limits: a station's position moves only once it was not
// seen at the old one for stationMove (a real move makes answers from the
// new port count only after that); the table is direct-mapped
// (stationSlots), so a station evicted by a colliding one can be answered
// for from anywhere until it sends again; and a router whose answers come
// back through another router on another port (asymmetric routing) has
// its answers ignored, as forward's attribution already does when the two
// share addresses.

const (
	// stationSlots is the size of the direct-mapped station table.
	stationSlots = 4096
	// stationMove is how long a station must be silent at its port before
	// a frame of it at another port moves it there.
	stationMove = 30 * time.Second
)

type stationEntry struct {
	mac   [6]byte
	dpid  uint64
	port  uint32
	seen  time.Time
	first time.Time // when it was first seen at port (rotation.go)
}

func stationSlot(dpid uint64, mac [6]byte) int {
	h := dpid * 0x9e3779b97f4a7c15
	for _, b := range mac {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(h % stationSlots)
}

// noteStation records that src sent the packet being observed (not for
// spoofed packets: a MAC seen away from its home does not move it here).
func (d *Detector) noteStation(now time.Time, src Source) {
	if d.spoofed || src.MAC[0]&1 != 0 || src.MAC == ([6]byte{}) {
		return
	}
	e := &d.stations[stationSlot(src.DPID, src.MAC)]
	if e.mac == src.MAC && e.dpid == src.DPID {
		switch {
		case e.port == src.Port:
			e.seen = now
			return
		case now.Sub(e.seen) < stationMove:
			return // seen at its port lately: this frame does not move it
		}
	}
	*e = stationEntry{mac: src.MAC, dpid: src.DPID, port: src.Port, seen: now, first: now}
}

// answersFromElsewhere reports whether the packet being observed, as an
// answer to an attempt whose probe went to the MAC to, entered at a port
// of its switch other than the one where to was last seen sending.
func (d *Detector) answersFromElsewhere(to [6]byte) bool {
	cur := d.cur
	if to[0]&1 != 0 || to == ([6]byte{}) || to == cur.MAC {
		return false
	}
	e := &d.stations[stationSlot(cur.DPID, to)]
	return e.mac == to && e.dpid == cur.DPID && e.port != cur.Port
}

// stationSince returns when src was first seen at its port (zero when the
// table does not know it there).
func (d *Detector) stationSince(src Source) time.Time {
	e := &d.stations[stationSlot(src.DPID, src.MAC)]
	if e.mac != src.MAC || e.dpid != src.DPID || e.port != src.Port {
		return time.Time{}
	}
	return e.first
}
