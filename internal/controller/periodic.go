package controller

// The highest port SYN rate of all switches (the port_syn_rate_max gauge),
// kept without walking every switch's reading on each switch's reading:
// with a thousand switches polled once a second that walk was a million
// map steps a second on the blocker goroutine.
type synMax struct {
	top  map[uint64]float64 // highest port SYN rate per switch at its last reading
	max  float64
	dpid uint64 // a switch whose reading is max
}

func newSynMax() synMax { return synMax{top: map[uint64]float64{}} }

// set records switch dpid's reading and returns the highest of all. It
// walks the readings only when the switch holding the maximum reads lower.
// Blocker goroutine.
func (m *synMax) set(dpid uint64, top float64) float64 {
	m.top[dpid] = top
	switch {
	case top >= m.max:
		m.max, m.dpid = top, dpid
	case dpid == m.dpid:
		m.recompute()
	}
	return m.max
}

// forget drops switch dpid's reading. Blocker goroutine.
func (m *synMax) forget(dpid uint64) {
	delete(m.top, dpid)
	if dpid == m.dpid {
		m.recompute()
	}
}

func (m *synMax) recompute() {
	m.max, m.dpid = 0, 0
	for d, r := range m.top {
		if r > m.max || m.dpid == 0 {
			m.max, m.dpid = r, d
		}
	}
}
