package controller

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// Attribution one frame cannot abuse (issue 8, item 3; docs/pipeline.md
// "Learning events" and "IP attribution"). forward.Switch keeps each
// station's and each address's home; a frame that contradicts it is a spoof
// of the port it entered at. A MAC spoof is blocked where it entered
// (in_port + MAC, kind mac-spoof), and the port itself once a port spoofs
// again while it has at most one real station. A scan verdict whose source
// used addresses or a MAC that live elsewhere (nmap -S, -D, --spoof-mac, an
// idle scan's zombie) blocks the machine that sent it: its port, at an
// access port with at most one real station. A spoofer's block never leaves
// the ingress switch, so whoever it impersonated loses nothing anywhere.

// spoofReportEvery is how often one (port, MAC) spoof is reported.
const spoofReportEvery = 5 * time.Second

// spoofReportsMax bounds the reports remembered per switch.
const spoofReportsMax = 256

type spoofKey struct {
	port uint32
	mac  [6]byte
}

// spoofReports remembers when each spoof was last reported. Guarded by the
// switch's mutex.
type spoofReports struct {
	seen map[spoofKey]time.Time
}

// macSpoof reports a frame whose MAC has its home on another port of this
// switch as a mac-spoof verdict against the port it entered at. Must hold
// sw.mu.
func (c *Controller) macSpoof(sw *switchState, now time.Time, port uint32, mac [6]byte) {
	r := &sw.spoofs
	if r.seen == nil {
		r.seen = make(map[spoofKey]time.Time, 8)
	}
	k := spoofKey{port, mac}
	if t, ok := r.seen[k]; ok && now.Sub(t) < spoofReportEvery {
		return
	}
	if len(r.seen) >= spoofReportsMax {
		clear(r.seen)
	}
	r.seen[k] = now
	home, _ := sw.fwd.PortOf(mac)
	reason := fmt.Sprintf("frames with MAC %s entered at port %d; that MAC lives at port %d", macString(mac), port, home)
	v := detect.Verdict{Source: detect.Source{DPID: sw.dpid, Port: port, MAC: mac}, Kind: detect.KindMACSpoof,
		Reason: reason, Evidence: []string{reason}, Probes: 1, First: now, At: now, Score: 1}
	if !c.vq.push(v) {
		// No room: the next frame of this spoof reports it again.
		c.m.Errors.WithLabelValues("verdict_queue_full").Inc()
		delete(r.seen, k)
	}
}

// placement decides where a verdict's block goes: spoofed when the source
// used a MAC or addresses that live elsewhere (the block then stays at the
// ingress switch), portWide when the machine behind the port is the
// spoofer and the port is an access port with at most one real station
// (a station with an address of its own there).
//
// probes is the verdict's count: a mac-spoof verdict that folded in more
// (another report of the spoof, or the scan it carried) is a repeat.
func (c *Controller) placement(src policy.Source, ips []netip.Addr, kind detect.Kind, probes int) (spoofed, portWide bool) {
	c.mu.Lock()
	sw := c.byDPID[src.DPID]
	c.mu.Unlock()
	if sw == nil {
		return kind == detect.KindMACSpoof, false
	}
	sw.mu.Lock()
	home, learned := sw.fwd.PortOf(src.MAC)
	spoofed = kind == detect.KindMACSpoof || (learned && home != src.Port)
	for _, ip := range ips {
		if p, m, ok := sw.fwd.IPLivesAt(ip); ok && (p != src.Port || m != src.MAC) {
			spoofed = true
		}
	}
	var macs [][6]byte
	real := 0
	for _, h := range sw.fwd.Hosts() {
		if h.Port != src.Port {
			continue
		}
		macs = append(macs, h.MAC)
		for _, ip := range h.IPs {
			if p, m, ok := sw.fwd.IPLivesAt(ip); ok && p == src.Port && m == h.MAC {
				real++
				break
			}
		}
	}
	sw.mu.Unlock()
	if !spoofed && c.macHomeElsewhere(src) {
		spoofed = true
	}
	repeat := spoofed && kind != detect.KindMACSpoof
	if kind == detect.KindMACSpoof {
		repeat = c.spoofStrike(src) >= 2 || probes > 1
	}
	return spoofed, repeat && real <= 1 && c.accessPort(src.DPID, macs)
}

// accessPort reports whether the port where macs are learned on switch dpid
// is an access port rather than a link toward another switch: every one of
// its stations that another switch knows sits there behind a port shared by
// more stations (that switch's uplink toward this one). A link whose far
// side has a single station looks the same from both ends and counts as a
// link: never blocked whole.
func (c *Controller) accessPort(dpid uint64, macs [][6]byte) bool {
	for _, sw := range c.sessionsSnapshot() {
		if sw.dpid == dpid {
			continue
		}
		sw.mu.Lock()
		ok := true
		for _, m := range macs {
			if p, learned := sw.fwd.PortOf(m); learned && sw.fwd.StationsAt(p) <= len(macs) {
				ok = false
				break
			}
		}
		sw.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// stolenHome turns around a mac-spoof seen at a link between switches: the
// MAC's home on this switch is an access port, but the MAC lives at an
// access port of another switch and now comes in through the link. Then the
// home here was taken by a spoofer before the real station's traffic ever
// reached this switch (one frame on a switch that had not seen the MAC):
// the verdict is against that access port, and the MAC's home here is
// released so the real station is learned behind the link.
func (c *Controller) stolenHome(v detect.Verdict) detect.Verdict {
	src := v.Source
	c.mu.Lock()
	sw := c.byDPID[src.DPID]
	c.mu.Unlock()
	if sw == nil {
		return v
	}
	sw.mu.Lock()
	home, ok := sw.fwd.PortOf(src.MAC)
	var atLink, atHome [][6]byte
	if ok && home != src.Port {
		atLink = macsAt(sw, src.Port)
		for _, m := range macsAt(sw, home) {
			if m != src.MAC {
				atHome = append(atHome, m)
			}
		}
	}
	sw.mu.Unlock()
	if !ok || home == src.Port || len(atLink) == 0 || c.accessPort(src.DPID, atLink) ||
		!c.accessPort(src.DPID, atHome) || !c.macHomeElsewhere(policy.Source{DPID: src.DPID, Port: src.Port, MAC: src.MAC}) {
		return v
	}
	sw.mu.Lock()
	if p, still := sw.fwd.PortOf(src.MAC); still && p == home {
		sw.out = sw.fwd.Forget(src.MAC, sw.out[:0])
		c.send(sw)
	}
	sw.mu.Unlock()
	v.Source.Port = home
	v.Reason = fmt.Sprintf("frames with MAC %s, which lives on another switch, took it over at port %d; the station itself comes in at port %d",
		macString(src.MAC), home, src.Port)
	v.Evidence = []string{v.Reason}
	return v
}

// spoofStrike counts a mac-spoof verdict against src's port and returns the
// port's count (distinct spoofed MACs and repeats alike).
func (c *Controller) spoofStrike(src policy.Source) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.strikes == nil || len(c.strikes) >= spoofReportsMax {
		c.strikes = make(map[spoofPort]int, 8)
	}
	k := spoofPort{src.DPID, src.Port}
	c.strikes[k]++
	return c.strikes[k]
}

type spoofPort struct {
	dpid uint64
	port uint32
}

// macHomeElsewhere reports whether src's MAC lives at an access port (a
// port with that station alone) of another switch: then the source is a
// spoofer wherever else the MAC shows up, and its block must not follow
// the MAC to the switch where it lives.
func (c *Controller) macHomeElsewhere(src policy.Source) bool {
	for _, sw := range c.sessionsSnapshot() {
		if sw.dpid == src.DPID {
			continue
		}
		sw.mu.Lock()
		port, ok := sw.fwd.PortOf(src.MAC)
		n := 0
		if ok {
			for _, h := range sw.fwd.Hosts() {
				if h.Port == port {
					n++
				}
			}
		}
		sw.mu.Unlock()
		if ok && n == 1 {
			return true
		}
	}
	return false
}

// releaseMoved handles stations whose home port on switch dpid went down:
// they may have moved, on that switch or to another one. On every other
// switch where such a MAC lives behind a port shared by several stations
// (the uplink toward dpid), its home is released so that its next frame
// learns it where it now is; and the mac-spoof blocks of those MACs are
// lifted: what looked like a spoof was a move (a virtual machine migrating
// before its old port was removed).
func (c *Controller) releaseMoved(dpid uint64, macs [][6]byte) {
	for _, sw := range c.sessionsSnapshot() {
		if sw.dpid == dpid {
			continue
		}
		sw.mu.Lock()
		sw.out = sw.out[:0]
		for _, m := range macs {
			if port, ok := sw.fwd.PortOf(m); ok && sw.fwd.StationsAt(port) > 1 {
				sw.out = sw.fwd.Forget(m, sw.out)
			}
		}
		c.send(sw)
		sw.mu.Unlock()
	}
	c.releaseSpoofBlocks(macs)
}

// releaseSpoofBlocks lifts the mac-spoof blocks (not port-wide ones) of macs.
func (c *Controller) releaseSpoofBlocks(macs [][6]byte) {
	var gone []*blockRecord
	c.mu.Lock()
	for id, r := range c.blocks {
		b := r.Block
		if b.Kind != string(detect.KindMACSpoof) || b.PortWide {
			continue
		}
		for _, m := range macs {
			if b.Source.MAC == m {
				gone = append(gone, r)
				delete(c.blocks, id)
				break
			}
		}
	}
	n := len(c.blocks)
	c.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	c.m.Active.Set(float64(n))
	for _, r := range gone {
		c.lift(r, event.Unblocked, "the MAC's home port went down: a move, not a spoof")
	}
}

// macsAt returns the MACs learned at port. Must hold sw.mu.
func macsAt(sw *switchState, port uint32) [][6]byte {
	var out [][6]byte
	for _, h := range sw.fwd.Hosts() {
		if h.Port == port {
			out = append(out, h.MAC)
		}
	}
	return out
}

// ---- meter-aware evidence ----

// replyAdd returns the per-port answer flows and meter for a port (none
// with plain controller copies, which have no per-flow meters).
func (c *Controller) replyAdd(p ofp.Port) []ofp.Message {
	if c.watchCfg.PlainController {
		return nil
	}
	return policy.ReplyFlows(p.PortNo, policy.ReplyConfig{MaxLen: c.watchCfg.MaxLen,
		Rate: c.cfg.Meters.ReplyRate, Burst: c.cfg.Meters.ReplyBurst})
}

// meterReadings is a switch's last meter reading: when it was asked for,
// and each meter's dropped packets. Touched only by the meter poll.
type meterReadings struct {
	at    time.Time
	drops map[uint32]uint64
}

// meterLag bounds how far detection's clock may trail the wall clock while
// meter readings are late (see evidenceHorizon).
const meterLag = 3 * time.Second

// evidenceHorizon is the time up to which unanswered attempts may expire:
// the last meter reading every switch answered, so that the detector learns
// of a dropped answer before it would count its silence. Without readings
// (none yet, or stalled for meterLag) it is now minus meterLag at most.
func (c *Controller) evidenceHorizon(now time.Time) time.Time {
	h := c.meterHorizon.Load()
	if h == 0 {
		return now
	}
	t := time.Unix(0, h)
	switch {
	case t.After(now):
		return now
	case now.Sub(t) > meterLag:
		return now.Add(-meterLag)
	}
	return t
}

// readMeters reads one switch's meter statistics, feeds the metrics, and
// tells the detector about every answer meter that dropped copies since the
// last reading (detect.Loss). sent is when the round was started.
func (c *Controller) readMeters(sw *switchState, sent time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reply, err := c.request(ctx, sw.sess, &ofp.MultipartRequest{Body: &ofp.MeterStatsRequest{MeterID: ofp.MeterAll}})
	if err != nil {
		return
	}
	mp, ok := reply.(*ofp.MultipartReply)
	if !ok {
		return
	}
	ms, ok := mp.Body.(*ofp.MeterStatsReply)
	if !ok {
		return
	}
	rd := &sw.meters
	from := rd.at
	if rd.drops == nil {
		rd.drops = make(map[uint32]uint64, 16)
		from = sent.Add(-time.Second)
	}
	var losses []detect.Loss
	for _, s := range ms.Stats {
		var dropped uint64
		for _, b := range s.Bands {
			dropped += b.PacketBandCount
		}
		c.m.ObserveMeterBand(sw.dpid, s.MeterID, dropped)
		prev := rd.drops[s.MeterID]
		rd.drops[s.MeterID] = dropped
		if dropped <= prev {
			continue
		}
		l := detect.Loss{DPID: sw.dpid, From: from, To: sent}
		if port, ok := policy.ReplyPort(s.MeterID); ok {
			l.Port = port
		} else if s.MeterID == forward.MeterWatchUDP {
			l.UDP = true
		} else {
			continue
		}
		losses = append(losses, l)
	}
	rd.at = sent
	if len(losses) == 0 {
		return
	}
	c.m.losses.Add(uint64(len(losses)))
	c.detMu.Lock()
	for _, l := range losses {
		c.det.ReplyLoss(l)
	}
	c.detMu.Unlock()
}

// pollMeters reads every switch's meters (at most one round at a time)
// and, once all have answered or timed out, moves the evidence horizon to
// the round's start.
func (c *Controller) pollMeters() {
	if !c.meterPolling.CompareAndSwap(false, true) {
		return
	}
	sent := c.now()
	sws := c.sessionsSnapshot()
	go func() {
		defer c.meterPolling.Store(false)
		var wg sync.WaitGroup
		for _, sw := range sws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.readMeters(sw, sent)
			}()
		}
		wg.Wait()
		c.meterHorizon.Store(sent.UnixNano())
	}()
}

func firstMAC(ms [][6]byte) [6]byte {
	if len(ms) == 0 {
		return [6]byte{}
	}
	return ms[0]
}
