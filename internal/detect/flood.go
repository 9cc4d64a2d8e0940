package detect

import (
	"fmt"
	"time"
)

// KindSYNFlood is a station that sends TCP SYNs faster than FloodConfig.SYNRate for
// FloodConfig.Sustain: a SYN flood at one port (hping3 --flood -S) is not a scan (one port, and an
// open port answers every SYN), but it is an attack on the victim and on the switch, and benign
// clients do not open thousands of connections a second for seconds on end.
const KindSYNFlood Kind = "syn-flood"

// FloodConfig sets the SYN-flood rule.
type FloodConfig struct {
	SYNRate float64       // SYNs per second from one switch port that are a flood
	Sustain time.Duration // how long the rate must hold
	// MaxPorts bounds the ports tracked; a port not sampled for 10 s is
	// dropped first. 0 means 65536.
	MaxPorts int
}

// PortKey names a switch port.
type PortKey struct {
	DPID uint64
	Port uint32
}

// FloodSample is what Flood.Sample makes of one counter reading.
type FloodSample struct {
	Rate float64 // SYNs per second since the previous reading (0 for the first)
	// Since is when the port's rate first reached the threshold in the
	// current episode (zero when it is below).
	Since time.Time
	// Decided is true once per episode: the rate held for Sustain.
	Decided bool
	// Ended is true once when an episode that reached the threshold is
	// over (the rate fell below it).
	Ended bool
}

type floodPort struct {
	count   uint64
	at      time.Time
	since   time.Time // episode start; zero when calm
	decided bool
	peak    float64
}

// Flood turns per-port SYN counter readings (a switch's flow statistics,
// read every second or so) into flood decisions. It is a pure state machine:
// the caller passes the time of each reading. The counter is cumulative;
// a reading lower than the previous one (the flow was re-added) starts over.
type Flood struct {
	cfg   FloodConfig
	ports map[PortKey]*floodPort
}

// NewFlood returns a Flood; a zero SYNRate turns it off (Sample never decides).
func NewFlood(cfg FloodConfig) *Flood {
	if cfg.MaxPorts <= 0 {
		cfg.MaxPorts = 1 << 16
	}
	return &Flood{cfg: cfg, ports: map[PortKey]*floodPort{}}
}

// Sample records the SYN count of port k read at now.
func (f *Flood) Sample(now time.Time, k PortKey, count uint64) FloodSample {
	if f.cfg.SYNRate <= 0 {
		return FloodSample{}
	}
	p := f.ports[k]
	if p == nil {
		if len(f.ports) >= f.cfg.MaxPorts {
			f.evict(now)
		}
		f.ports[k] = &floodPort{count: count, at: now}
		return FloodSample{}
	}
	dt := now.Sub(p.at)
	if dt <= 0 {
		return FloodSample{Since: p.since}
	}
	if count < p.count { // counter restarted: so does the episode
		p.count, p.at = count, now
		p.since, p.decided, p.peak = time.Time{}, false, 0
		return FloodSample{}
	}
	rate := float64(count-p.count) / dt.Seconds()
	prev := p.at
	p.count, p.at = count, now
	var s FloodSample
	s.Rate = rate
	if rate < f.cfg.SYNRate {
		s.Ended = !p.since.IsZero()
		p.since, p.decided, p.peak = time.Time{}, false, 0
		return s
	}
	if p.since.IsZero() {
		// The interval since the previous reading was over the threshold
		// as a whole: the episode began no later than that reading.
		p.since = prev
	}
	p.peak = max(p.peak, rate)
	s.Since = p.since
	if !p.decided && now.Sub(p.since) >= f.cfg.Sustain {
		p.decided = true
		s.Decided = true
	}
	return s
}

// Reason describes a decided flood of port k for a verdict.
func (f *Flood) Reason(k PortKey, s FloodSample, now time.Time) string {
	return f.ReasonFrom(k, s, now, fmt.Sprintf("switch port %d", k.Port))
}

// ReasonFrom describes a decided flood of counter k, which counts where.
func (f *Flood) ReasonFrom(k PortKey, s FloodSample, now time.Time, where string) string {
	peak := s.Rate
	if p := f.ports[k]; p != nil {
		peak = max(peak, p.peak)
	}
	return fmt.Sprintf("SYN flood: %.0f SYNs/s (peak %.0f) from %s for %v, threshold %.0f/s for %v",
		s.Rate, peak, where, now.Sub(s.Since).Round(100*time.Millisecond), f.cfg.SYNRate, f.cfg.Sustain)
}

// Forget drops a port's state (the port went away).
func (f *Flood) Forget(k PortKey) { delete(f.ports, k) }

// ForgetSwitch drops the state of every port of a switch (it reconnected:
// its counters start again from zero).
func (f *Flood) ForgetSwitch(dpid uint64) {
	for k := range f.ports {
		if k.DPID == dpid {
			delete(f.ports, k)
		}
	}
}

// Rearm lets a port's current episode be decided again Sustain from now
// (the caller could not act on the decision).
func (f *Flood) Rearm(now time.Time, k PortKey) {
	if p := f.ports[k]; p != nil && !p.since.IsZero() {
		p.since, p.decided = now, false
	}
}

// Len is the number of ports tracked.
func (f *Flood) Len() int { return len(f.ports) }

// evict drops ports not read for 10 s, or, if none, an arbitrary calm one,
// or, if none is calm, an arbitrary one.
func (f *Flood) evict(now time.Time) {
	var calm *PortKey
	for k, p := range f.ports {
		if now.Sub(p.at) > 10*time.Second {
			delete(f.ports, k)
		} else if calm == nil && p.since.IsZero() {
			k := k
			calm = &k
		}
	}
	if len(f.ports) < f.cfg.MaxPorts {
		return
	}
	if calm != nil {
		delete(f.ports, *calm)
		return
	}
	for k := range f.ports {
		delete(f.ports, k)
		return
	}
}
