package controller

import (
	"context"
	"time"
)

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

// periodicState is the blocker's bookkeeping of its periodic work.
type periodicState struct {
	lastPoll, lastExempt, lastSYN time.Time
	lastEvicted                   uint64
}

// periodic is the blocker's half-second tick: silence judged up to the
// evidence horizon, the engine's timers, the stats series, and the polls
// due (SYN counters every second, the never-block exemption walk every 2
// seconds, the meters every tick). Blocker goroutine.
func (c *Controller) periodic(ctx context.Context, now time.Time, p *periodicState) {
	c.tick(now)
	if now.Sub(p.lastSYN) >= 900*time.Millisecond {
		p.lastSYN = now
		c.pollSYNCounters(ctx)
	}
	if now.Sub(p.lastExempt) >= 2*time.Second {
		p.lastExempt = now
		c.exemptProtectedPorts()
	}
	c.pollMeters() // every tick: answer meters' drops must reach detection before silence counts
	if now.Sub(p.lastPoll) >= 10*time.Second {
		p.lastPoll = now
		st := c.det.Stats()
		c.m.Sources.Set(float64(st.Actors))
		c.m.Evictions.Add(float64(st.ActorsEvicted - p.lastEvicted))
		p.lastEvicted = st.ActorsEvicted
	}
}

// tick is the part of periodic that is the blocker's own work. Blocker
// goroutine.
func (c *Controller) tick(now time.Time) {
	vs := c.det.Tick(c.evidenceHorizon(now))
	for _, v := range vs {
		c.onVerdict(v)
	}
	c.eng.SetSettings(c.engineSettings())
	c.eng.Tick(now)
	c.series.tick(now, c.m.PacketIns.Total(), c.m.probes.Total(), c.blocksN.Load())
}
