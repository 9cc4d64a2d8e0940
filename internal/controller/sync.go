package controller

import (
	"context"
	"time"

	"portcullis/internal/policy"
	"portcullis/ofp"
)

// Block flows on each switch: the IO of the engine's passes and confirmations
// (policy/engine_sync.go decides them). Each runs in a goroutine of its own,
// waits for the switch, and posts its outcome to the blocker; the blocker
// never waits for a switch. Flow-mods to one switch are sent only by the
// blocker, in the order the engine gives, so a pass's difference and a later
// lift reach the switch in that order.

// confirm waits for the barrier after a block's flow-mods (recording the
// install latency, verdict to barrier reply), then reads the block's flows
// back and tells the engine.
func (c *Controller) confirm(ctx context.Context, sw *switchState, s policy.Send) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var have []ofp.FlowStats
	failure := ""
	if err := c.barrier(ctx, sw.sess); err != nil {
		failure = "barrier: " + err.Error()
	} else {
		d := c.now().Sub(s.Since)
		b := s.Msgs[0].(*ofp.FlowMod)
		c.m.BlockInstalled(s.Scope.String(), d)
		reply, err := c.request(ctx, sw.sess, policy.BlockFlowRequest(policy.Block{Cookie: b.Cookie}))
		if err != nil {
			failure = "reading the flows back: " + err.Error()
		} else {
			have, _ = flowStats(reply)
		}
	}
	c.post(func(now time.Time) {
		c.eng.InstallConfirmed(now, sw.dpid, sw.epoch, s.Install, have, failure)
	})
}

// dump reads a switch's block flows for a pass.
func (c *Controller) dump(ctx context.Context, sw *switchState, d policy.Dump) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := c.request(ctx, sw.sess, policy.BlockFlowsRequest())
	var have []ofp.FlowStats
	if err == nil {
		have, _ = flowStats(reply)
	}
	c.post(func(now time.Time) {
		c.eng.PassReply(now, d.DPID, d.Epoch, d.Pass, have, err)
	})
}

// passBarrier waits for the barrier after a pass's difference.
func (c *Controller) passBarrier(ctx context.Context, sw *switchState, s policy.Send) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.barrier(ctx, sw.sess)
	c.post(func(now time.Time) {
		c.eng.PassDone(now, s.DPID, s.Epoch, s.Pass, err, false)
	})
}
