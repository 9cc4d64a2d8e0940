package controller

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// SYN-flood detection: the switch counts each port's TCP SYNs in TableAdmission
// (policy.SYNCountFlows); pollSYNCounters reads the counters every second and
// detect.Flood decides. A decided flood from a port with exactly one station
// behind it becomes a verdict against that station, blocked like a scanner; a
// port with several stations gets a counter per station for a while, and the
// station whose counter shows the flood is blocked. A station that forwards
// for other addresses (a router, a spoofer) or is a never-block host, and a
// port with no station known, are reported but not blocked (see onFlood).

// synCountAdd returns the SYN counter flows of a port, unless flood detection
// is off. Must hold sw.mu.
func (c *Controller) synCountAdd(sw *switchState, port uint32) []ofp.Message {
	if c.cfg.Detect.Flood.SYNRate == 0 {
		return nil
	}
	msgs := policy.SYNCountFlows(port)
	if msgs != nil {
		sw.synPorts[port] = true
	}
	return msgs
}

// synCountDelete removes a port's SYN counter flows. Must hold sw.mu.
func (c *Controller) synCountDelete(sw *switchState, port uint32) []ofp.Message {
	if !sw.synPorts[port] {
		return nil
	}
	delete(sw.synPorts, port)
	c.floodMu.Lock()
	c.flood.Forget(detect.PortKey{DPID: sw.dpid, Port: port})
	c.floodMu.Unlock()
	return policy.SYNCountDelete(port)
}

// pollSYNCounters reads every switch's SYN counters, one request per switch
// in flight at most.
func (c *Controller) pollSYNCounters(ctx context.Context) {
	if c.cfg.Detect.Flood.SYNRate == 0 {
		return
	}
	// No readings during the start-up grace period: a flood that began
	// before its end is decided Sustain after it, not forgotten as an
	// episode already decided.
	if c.now().Before(c.started.Add(c.cfg.Detect.GracePeriod)) {
		return
	}
	for _, sw := range c.sessionsSnapshot() {
		if !sw.synPolling.CompareAndSwap(false, true) {
			continue
		}
		go func() {
			defer sw.synPolling.Store(false)
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			reply, err := c.request(ctx, sw.sess, policy.SYNCountersRequest())
			if stats, ok := flowStats(reply); err == nil && ok {
				c.synCounts(sw, c.now(), stats)
			}
		}()
	}
}

// synCounts feeds one switch's counter readings to the flood detector and
// acts on its decisions.
func (c *Controller) synCounts(sw *switchState, now time.Time, stats []ofp.FlowStats) {
	counts := make(map[uint32]uint64, len(stats)/2+1)
	policy.SYNCounts(stats, counts)
	type decision struct {
		port   uint32
		s      detect.FloodSample
		reason string
	}
	var decided []decision
	var top float64
	c.mu.Lock()
	current := c.byDPID[sw.dpid] == sw
	c.mu.Unlock()
	if !current {
		return // a reply from a session that has ended
	}
	c.floodMu.Lock()
	for port, n := range counts {
		k := detect.PortKey{DPID: sw.dpid, Port: port}
		s := c.flood.Sample(now, k, n)
		top = max(top, s.Rate)
		switch {
		case s.Decided:
			decided = append(decided, decision{port, s, c.flood.Reason(k, s, now)})
		case s.Ended:
			sw.sess.Logger().Info("SYN flood over", "port", port, "rate", int(s.Rate))
		}
	}
	c.m.PortSYNRateMax.Set(c.synTop.set(sw.dpid, top))

	// Station counters of ports shared by several stations.
	stations := map[uint32]uint64{}
	policy.SYNStationCounts(stats, stations)
	var found []stationDecision
	for id, n := range stations {
		ref, ok := c.stations[id]
		if !ok || ref.dpid != sw.dpid {
			continue
		}
		k := detect.PortKey{DPID: sw.dpid, Port: id}
		if s := c.stationFlood.Sample(now, k, n); s.Decided {
			where := fmt.Sprintf("station %s behind switch port %d", macString(ref.mac), ref.port)
			found = append(found, stationDecision{ref, s, c.stationFlood.ReasonFrom(k, s, now, where)})
		}
	}
	for id, ref := range c.stations {
		if now.After(ref.until) {
			delete(c.stations, id)
			c.stationFlood.Forget(detect.PortKey{DPID: ref.dpid, Port: id})
		}
	}
	c.floodMu.Unlock()
	for _, d := range decided {
		c.onFlood(sw, now, d.port, d.s, d.reason)
	}
	for _, d := range found {
		c.floodFrom(sw, now, d.ref.port, d.ref.mac, d.ref.ips, d.s, d.reason)
	}
}

// stationRef is a station counter: which station behind which port it counts.
type stationRef struct {
	dpid  uint64
	port  uint32
	mac   [6]byte
	ips   []netip.Addr
	until time.Time // its flows' hard timeout
}

type stationDecision struct {
	ref    stationRef
	s      detect.FloodSample
	reason string
}

// onFlood attributes a decided flood to the one station behind the port and
// hands the verdict to the blocker (floodFrom). A port with several stations
// behind it (a downstream switch, an edge network's LAN port) gets a counter
// per station for stationCountFor (refine), and a station whose own counter
// then shows the flood is blocked. A port with no station learned is
// reported, not blocked.
func (c *Controller) onFlood(sw *switchState, now time.Time, port uint32, s detect.FloodSample, reason string) {
	sw.mu.Lock()
	hosts := sw.fwd.Hosts()
	sw.mu.Unlock()
	var behind []forward.Host
	for _, h := range hosts {
		if h.Port == port {
			behind = append(behind, h)
		}
	}
	switch len(behind) {
	case 0:
		c.floodReport(sw, port, s, reason, "no station learned behind the port: not attributed, not blocked")
	case 1:
		c.floodFrom(sw, now, port, behind[0].MAC, behind[0].IPs, s, reason)
	default:
		n := c.refine(sw, now, port, behind)
		c.floodReport(sw, port, s, reason, fmt.Sprintf(
			"%d stations behind the port: counting the SYNs of %d of them separately for %v to find the sender",
			len(behind), n, stationCountFor))
	}
}

// stationCountFor is how long station counters stay (their hard timeout);
// maxStationCounters bounds them per flooding port.
const (
	stationCountFor    = 30 * time.Second
	maxStationCounters = 32
)

// refine installs station counters for the stations behind port (the most
// recently seen first, at most maxStationCounters) that have none yet, and
// returns how many stations are being counted.
func (c *Controller) refine(sw *switchState, now time.Time, port uint32, behind []forward.Host) int {
	var msgs []ofp.Message
	n := 0
	c.floodMu.Lock()
	for _, h := range behind {
		if n == maxStationCounters {
			break
		}
		n++
		counted := false
		for _, ref := range c.stations {
			if ref.dpid == sw.dpid && ref.port == port && ref.mac == h.MAC && now.Before(ref.until) {
				counted = true
				break
			}
		}
		if counted {
			continue
		}
		c.stationSeq++
		id := c.stationSeq
		c.stations[id] = stationRef{dpid: sw.dpid, port: port, mac: h.MAC, ips: h.IPs, until: now.Add(stationCountFor)}
		msgs = append(msgs, policy.SYNCountStationFlows(port, h.MAC, id, uint16(stationCountFor/time.Second))...)
	}
	c.floodMu.Unlock()
	if len(msgs) > 0 {
		if err := c.sendTo(sw.sess, msgs...); err != nil {
			c.m.Errors.WithLabelValues("send").Inc()
		}
	}
	return n
}

// floodReport publishes a flood that blocks no one.
func (c *Controller) floodReport(sw *switchState, port uint32, s detect.FloodSample, reason, why string) {
	sw.sess.Logger().Warn("SYN flood", "port", port, "rate", int(s.Rate), "note", why)
	c.bus.Publish(event.Event{Type: event.ScanDetected, DPID: sw.dpid, Port: port, Kind: string(detect.KindSYNFlood),
		Reason: "unattributed", Message: fmt.Sprintf("%s on %s (%s)", reason, fmtDPID(sw.dpid), why)})
}

// floodFrom hands the blocker a verdict against the station mac behind port,
// unless it is protected or sends for many addresses (a router forwarding
// for others, or a host spoofing random sources: its flood is held by the
// first-contact meter instead, as no bypass covers spoofed pairs).
func (c *Controller) floodFrom(sw *switchState, now time.Time, port uint32, mac [6]byte, ips []netip.Addr,
	s detect.FloodSample, reason string) {
	src := detect.Source{DPID: sw.dpid, Port: port, MAC: mac}
	if ip, ok := c.macProtected(policy.Source{DPID: src.DPID, Port: src.Port, MAC: src.MAC}); ok {
		c.floodReport(sw, port, s, reason, "the sending station is never-block host "+ip.String()+": not blocked")
		return
	}
	forwarder := c.det.Forwarder(src)
	targets := c.det.TargetsOf(src)
	if forwarder || routerShaped(ips) {
		c.floodReport(sw, port, s, reason, "the sending station sends for many addresses (a router, or spoofed sources): not blocked")
		return
	}
	v := detect.Verdict{
		Source:   src,
		IPs:      ips,
		Kind:     detect.KindSYNFlood,
		Reason:   reason,
		Evidence: []string{reason},
		Targets:  targets,
		Probes:   int(s.Rate * now.Sub(s.Since).Seconds()),
		First:    s.Since,
		At:       now,
		Score:    1,
	}
	select {
	case c.verdicts <- v:
	default:
		c.m.Errors.WithLabelValues("verdict_queue_full").Inc()
		c.floodMu.Lock()
		c.flood.Rearm(now, detect.PortKey{DPID: sw.dpid, Port: port})
		c.floodMu.Unlock()
	}
}

// routerShaped reports whether a station's addresses look like a router's
// (or a spoofer's): a third IPv4 address, or a third IPv6 address outside
// link-local. A host has one IPv4 address (two across a DHCP change).
func routerShaped(ips []netip.Addr) bool {
	var v4, v6 int
	for _, ip := range ips {
		switch {
		case ip.Is4():
			v4++
		case !ip.IsLinkLocalUnicast():
			v6++
		}
	}
	return v4 > 2 || v6 > 2
}
