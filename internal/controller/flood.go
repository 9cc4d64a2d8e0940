package controller

import (
	"context"
	"time"

	"portcullis/internal/policy"
	"portcullis/ofp"
)

// SYN-flood detection: the switch counts each port's TCP SYNs in TableAdmission
// (policy.SYNCountFlows, added and removed with the port under sw.mu);
// pollSYNCounters reads the counters every second and hands each switch's
// reading, with the time it was read, to the block engine, which decides who
// is behind a flooding port and what to do (policy/engine_flood.go): a
// verdict, a report, or station counters to install (Ready.Flows, sent by
// do in block.go).

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
	// The engine forgets the port's counter when its next reading lacks it.
	return policy.SYNCountDelete(port)
}

// pollSYNCounters reads every switch's SYN counters, one request per switch
// in flight at most, and posts each reading to the engine.
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
			stats, ok := flowStats(reply)
			if err != nil || !ok {
				return
			}
			at := c.now() // the reading's time, not the blocker's when it gets to it
			c.post(func(time.Time) {
				top := c.eng.SYNCounters(at, sw.dpid, sw.epoch, stats)
				if c.session(sw.dpid, sw.epoch) == sw {
					c.m.PortSYNRateMax.Set(c.synTop.set(sw.dpid, top))
				}
			})
		}()
	}
}
