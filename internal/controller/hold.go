package controller

import (
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/packet"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// Holding suspects in the switch (policy/hold.go, docs/pipeline.md "Hold").
//
// When a SYN copy shows its source a suspect (detect.Detector.Suspicion:
// three ports of one host, a SYN no stack sends) or decided, the ingress
// switch gets a hold flow for that in_port and MAC: its SYNs then come to
// the controller only. Each held SYN is observed as any copy is, then
// released by packet-out to the port its destination MAC was learned at
// (FLOOD when it was not), unless its source is decided: the verdict drops
// what is held until the block lands. A retry of a port tried before is no
// new first contact and goes out; a new port counts, so the SYN that
// decides the fan-out rule never reaches the victim.

const (
	// maxHolds bounds a switch's hold table; a full table installs no new
	// hold (the source then meets the first-contact budget as before).
	maxHolds = 1024
	// holdLife is how long a hold is taken to be in the switch after its
	// source's last SYN: less than policy.HoldIdleTimeout, so a hold is
	// added again (which restarts its timeouts) before the switch forgets
	// it.
	holdLife = time.Duration(policy.HoldIdleTimeout-1) * time.Second
	// holdHard is the same for the hard timeout.
	holdHard = time.Duration(policy.HoldHardTimeout-1) * time.Second
	// holdMissed: a SYN copy that did not come through a hold this long
	// after it was sent means the switch does not have it (a lost
	// flow-mod): send it again.
	holdMissed = time.Second
	// holdSqueeze is how long the port's first-contact meter is squeezed
	// after a hold is sent (policy.FirstContactSqueeze): the hold's
	// datapath latency (2-10 ms measured on a loaded machine) with a wide
	// margin. A SYN of the port the hold does not cover (another station's)
	// meets the squeezed meter meanwhile and is retransmitted a second
	// later.
	holdSqueeze = 100 * time.Millisecond
	// holdSqueezeEvery is how often a port with several stations may be
	// squeezed (maySqueeze).
	holdSqueezeEvery = 10 * time.Second
	// holdPortLife is how long a port hold is taken to be in the switch.
	holdPortLife = time.Duration(policy.HoldPortTimeout-1) * time.Second
)

type holdKey struct {
	port uint32
	mac  [6]byte
}

type holdEntry struct {
	sent    time.Time // when the hold flows were last sent
	seen    time.Time // the source's last SYN
	decided bool
}

// holdTable is a switch's holds and the packet-out it reuses. Guarded by
// the switch's mu.
type holdTable struct {
	m        map[holdKey]holdEntry
	meters   map[uint32]bool // ports with a hold meter (policy.HoldMeter)
	squeezed map[uint32]bool // ports whose first-contact meter is squeezed
	// squeezedAt is when a shared port (several stations) was last
	// squeezed (maySqueeze).
	squeezedAt map[uint32]time.Time
	po         ofp.PacketOut
	out        ofp.ActionOutput
	acts       [1]ofp.Action
	stats      holdStats
}

// holdStats counts what the holds did.
type holdStats struct {
	Installed, Released, Dropped, Full, Truncated uint64
}

// holdSYN runs after a TCP SYN copy was observed (decided: it produced a
// verdict). It releases or drops the SYN if a hold brought it, and adds
// the hold when its source is a suspect. Must hold sw.mu.
func (c *Controller) holdSYN(sw *switchState, now time.Time, pi *ofp.PacketIn, inPort uint32, src detect.Source, decided bool) {
	p := &sw.pkt
	if p.Proto != packet.ProtoTCP || p.TCPFlags&(packet.TCPSyn|packet.TCPAck) != packet.TCPSyn {
		return
	}
	h := &sw.holds
	held := policy.IsHoldCookie(pi.Cookie)
	k := holdKey{port: inPort, mac: src.MAC}
	e, ok := h.m[k]
	live := ok && now.Sub(e.seen) < holdLife && now.Sub(e.sent) < holdHard
	s := detect.SuspicionDecided
	if !decided && !(live && e.decided) {
		s = c.det.Suspicion(now, src, p.Src)
	}
	if held {
		if s == detect.SuspicionDecided {
			h.stats.Dropped++
		} else {
			c.holdRelease(sw, pi, inPort)
		}
	}
	if s == detect.SuspicionNone && !live {
		return
	}
	if !live || !held && now.Sub(e.sent) > holdMissed {
		if !ok && len(h.m) >= maxHolds && !h.evict(now) {
			h.stats.Full++
			return
		}
		if h.m == nil {
			h.m = make(map[holdKey]holdEntry)
			h.meters = make(map[uint32]bool)
			h.squeezed = make(map[uint32]bool)
		}
		if !live {
			e = holdEntry{}
		}
		cfg := policy.HoldConfig{PlainController: c.watchCfg.PlainController}
		fc := c.cfg.Meters.FirstContactRate != 0 && sw.fcPorts[inPort] && inPort <= policy.MaxFirstContactPort
		budget := c.cfg.Meters.FirstContact()
		if fc {
			if !h.meters[inPort] {
				h.meters[inPort] = true
				sw.out = append(sw.out, policy.HoldMeter(inPort, budget)...)
			}
			cfg.Meter = policy.HoldMeterBase + inPort
		}
		sw.out = append(sw.out, policy.HoldFlows(inPort, src.MAC, cfg)...)
		if fc && !h.squeezed[inPort] && h.maySqueeze(now, inPort, sw.fwd.StationsAt(inPort)) {
			h.squeezed[inPort] = true
			sw.out = append(sw.out, policy.FirstContactSqueeze(inPort))
			time.AfterFunc(holdSqueeze, func() { c.holdUnsqueeze(sw, inPort, budget) })
		}
		c.send(sw)
		e.sent = now
		h.stats.Installed++
		sw.sess.Logger().Debug("holding a suspect's SYNs", "port", inPort, "src", src.String(), "suspicion", s.String())
	}
	e.seen = now
	e.decided = e.decided || s == detect.SuspicionDecided
	h.m[k] = e
}

// holdVerdict runs for a verdict the packet-in path produced: the ingress
// port of its source, when it is on this switch, gets a port hold
// (holdPort). The packet that decided may be another's (the victim's RST
// that completed a scan's evidence). Must hold sw.mu.
func (c *Controller) holdVerdict(sw *switchState, now time.Time, v detect.Verdict) {
	if v.Source.DPID == sw.dpid && v.Source.Port != 0 {
		c.holdPort(sw, now, v.Source.Port)
	}
}

// holdPort holds the SYNs of every station at inPort (policy.HoldPortFlows)
// after a verdict against one of them there: a machine that goes on with a
// new MAC (MAC rotation, detect/rotation.go) has its first SYN judged before
// it reaches anyone, and dropped when that decides it. Must hold sw.mu.
func (c *Controller) holdPort(sw *switchState, now time.Time, inPort uint32) {
	// Only ports with a first-contact budget: not uplinks and other exempt
	// ports, nor a never-block host's, whose SYNs a hold would take through
	// the controller wholesale.
	if c.cfg.Meters.FirstContactRate == 0 || !sw.fcPorts[inPort] || inPort > policy.MaxFirstContactPort {
		return
	}
	h := &sw.holds
	k := holdKey{port: inPort} // the zero MAC: the whole port
	if e, ok := h.m[k]; ok && now.Sub(e.sent) < holdPortLife {
		return
	}
	if _, ok := h.m[k]; !ok && len(h.m) >= maxHolds && !h.evict(now) {
		h.stats.Full++
		return
	}
	if h.m == nil {
		h.m = make(map[holdKey]holdEntry)
		h.meters = make(map[uint32]bool)
		h.squeezed = make(map[uint32]bool)
	}
	cfg := policy.HoldConfig{PlainController: c.watchCfg.PlainController, Meter: policy.HoldMeterBase + inPort}
	if !h.meters[inPort] {
		h.meters[inPort] = true
		sw.out = append(sw.out, policy.HoldMeter(inPort, policy.FirstContactConfig{Rate: c.cfg.Meters.FirstContactRate, Burst: c.cfg.Meters.FirstContactBurst})...)
	}
	sw.out = append(sw.out, policy.HoldPortFlows(inPort, cfg)...)
	c.send(sw)
	h.m[k] = holdEntry{sent: now, seen: now}
	h.stats.Installed++
	sw.sess.Logger().Debug("holding a port's SYNs after a verdict there", "port", inPort)
}

// maySqueeze reports whether a hold for a station at port may squeeze the
// port's first-contact meter (stations: how many are learned there). The
// meter is the port's, not the station's, so a squeeze delays every other
// station's new connections there by a SYN retransmission (1 s): a port
// with the suspect alone is squeezed with each hold, a shared one (a host
// behind a bridge, macvlans) at most once per holdSqueezeEvery, or a
// station there that makes itself a suspect again and again, under new
// MACs, could keep its neighbours' first SYNs dropped at will. The price:
// a second suspect at a shared port within that time has its hold land
// unsqueezed (the 2-10 ms it takes let 1-5 SYNs through at the budget's
// 500/s).
func (h *holdTable) maySqueeze(now time.Time, port uint32, stations int) bool {
	if stations <= 1 {
		return true
	}
	if h.squeezedAt == nil {
		h.squeezedAt = make(map[uint32]time.Time)
	}
	if t, ok := h.squeezedAt[port]; ok && now.Sub(t) < holdSqueezeEvery {
		return false
	}
	if len(h.squeezedAt) >= maxHolds {
		clear(h.squeezedAt)
	}
	h.squeezedAt[port] = now
	return true
}

// holdUnsqueeze gives a port's first-contact meter its budget back, once
// the hold sent with the squeeze is in the datapath.
func (c *Controller) holdUnsqueeze(sw *switchState, port uint32, budget policy.FirstContactConfig) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	delete(sw.holds.squeezed, port)
	if !sw.fcPorts[port] {
		return // the port went away or was exempted: its meter with it
	}
	sw.out = append(sw.out, policy.FirstContactRestore(port, budget))
	c.send(sw)
}

// holdExempt releases a held SYN of an allowlisted source, which is never
// observed. Must hold sw.mu.
func (c *Controller) holdExempt(sw *switchState, pi *ofp.PacketIn, inPort uint32) {
	if policy.IsHoldCookie(pi.Cookie) {
		c.holdRelease(sw, pi, inPort)
	}
}

// holdRelease sends a held frame on where the forwarding table would have:
// the port of its destination MAC, or FLOOD. Must hold sw.mu.
func (c *Controller) holdRelease(sw *switchState, pi *ofp.PacketIn, inPort uint32) {
	h := &sw.holds
	if int(pi.TotalLen) != len(pi.Data) || pi.BufferID != ofp.NoBuffer {
		h.stats.Truncated++ // the hold asks for whole frames; nothing to send on
		return
	}
	port := ofp.PortFlood
	if dst := sw.pkt.EthDst; dst[0]&1 == 0 {
		if p, ok := sw.fwd.PortOf(dst); ok {
			port = p
		}
	}
	if port == inPort {
		return // the table would not send it back either
	}
	h.out = ofp.ActionOutput{Port: port}
	h.acts[0] = &h.out
	h.po = ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: inPort, Actions: h.acts[:], Data: pi.Data}
	if err := c.sendTo(sw.sess, &h.po); err != nil {
		c.m.Errors.WithLabelValues("send").Inc()
		return
	}
	h.po.Data = nil
	h.stats.Released++
}

// evict removes expired holds and reports whether there is room.
func (h *holdTable) evict(now time.Time) bool {
	for k, e := range h.m {
		if k.mac == ([6]byte{}) {
			if now.Sub(e.sent) >= holdPortLife {
				delete(h.m, k)
			}
			continue
		}
		if now.Sub(e.seen) >= holdLife || now.Sub(e.sent) >= holdHard {
			delete(h.m, k)
		}
	}
	return len(h.m) < maxHolds
}
