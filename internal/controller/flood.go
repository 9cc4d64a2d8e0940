package controller

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// SYN-flood detection: the switch counts each port's TCP SYNs in TableAdmission
// (policy.SYNCountFlows); pollSYNCounters reads the counters every second and
// detect.Flood decides. A decided flood from a port with exactly one station
// behind it becomes a verdict against that station, blocked like a scanner; a
// port with several stations (a downstream switch) or none known, or whose
// station forwards for other addresses (a router, a spoofer) or is a
// never-block host, is reported but not blocked (see onFlood).

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
			if err != nil {
				return
			}
			mp, ok := reply.(*ofp.MultipartReply)
			if !ok {
				return
			}
			fs, ok := mp.Body.(*ofp.FlowStatsReply)
			if !ok {
				return
			}
			c.synCounts(sw, c.now(), fs.Stats)
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
	c.synTop[sw.dpid] = top
	for _, r := range c.synTop {
		top = max(top, r)
	}
	c.m.PortSYNRateMax.Set(top)
	c.floodMu.Unlock()
	for _, d := range decided {
		c.onFlood(sw, now, d.port, d.s, d.reason)
	}
}

// onFlood attributes a decided flood to the one station behind the port and
// hands the verdict to the blocker. It does not block when the counter cannot
// name the sender: several stations behind the port (a downstream switch),
// none learned, or a station that forwards for other addresses (a router, or
// a host spoofing random sources: its flood is held by the first-contact
// meter instead, as no bypass covers spoofed pairs) or is protected.
func (c *Controller) onFlood(sw *switchState, now time.Time, port uint32, s detect.FloodSample, reason string) {
	sw.mu.Lock()
	hosts := sw.fwd.Hosts()
	sw.mu.Unlock()
	var behind []int
	for i, h := range hosts {
		if h.Port == port {
			behind = append(behind, i)
		}
	}
	report := func(why string) {
		sw.sess.Logger().Warn("SYN flood", "port", port, "rate", int(s.Rate), "note", why)
		c.bus.Publish(event.Event{Type: event.ScanDetected, DPID: sw.dpid, Port: port, Kind: string(detect.KindSYNFlood),
			Reason: "unattributed", Message: fmt.Sprintf("%s on %s (%s)", reason, fmtDPID(sw.dpid), why)})
	}
	if len(behind) != 1 {
		report(fmt.Sprintf("%d stations behind the port: not attributed, not blocked", len(behind)))
		return
	}
	h := hosts[behind[0]]
	src := detect.Source{DPID: sw.dpid, Port: port, MAC: h.MAC}
	if ip, ok := c.macProtected(policy.Source{DPID: src.DPID, Port: src.Port, MAC: src.MAC}); ok {
		report("the station behind the port is never-block host " + ip.String() + ": not blocked")
		return
	}
	c.detMu.Lock()
	forwarder := c.det.Forwarder(src)
	targets := c.det.TargetsOf(src)
	c.detMu.Unlock()
	if forwarder || routerShaped(h.IPs) {
		report("the station behind the port sends for many addresses (a router, or spoofed sources): not blocked")
		return
	}
	v := detect.Verdict{
		Source:   src,
		IPs:      h.IPs,
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
