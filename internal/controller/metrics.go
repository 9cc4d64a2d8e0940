package controller

import (
	"context"
	"net/http"
	"sync/atomic"

	"portcullis/internal/detect"
	"portcullis/internal/metrics"
	"portcullis/internal/ofconn"
	"portcullis/ofp"
)

// metricsSet is the controller's view of internal/metrics. The counters
// every packet-in moves are striped (metrics.Striped): a switch's messages
// count in its session's stripe (switchState.cnt), the rest in stripe 0.
type metricsSet struct {
	*metrics.Metrics
	probes  *metrics.Striped // copies judged by the detector (api.Stats.Probes)
	spoofed atomic.Uint64    // packets whose source lives elsewhere (forward.Attribution.Spoofed)
	losses  atomic.Uint64    // answer meter drops reported to the detector (detect.Loss)
}

// hotCounts are one session's stripes of the per-message counters.
type hotCounts struct {
	packetIns, messages, probes metrics.Stripe
}

// stripes returns the stripes of the session numbered epoch.
func (m *metricsSet) stripes(epoch uint64) hotCounts {
	return hotCounts{packetIns: m.PacketIns.Stripe(epoch), messages: m.Messages.Stripe(epoch), probes: m.probes.Stripe(epoch)}
}

const (
	dirIn  = 0
	dirOut = 1
)

func newMetrics(version string) *metricsSet {
	m := &metricsSet{Metrics: metrics.New(), probes: metrics.NewStriped(nil, [][]string{nil})}
	m.SetBuildInfo(version)
	kinds := make([]string, len(detect.Kinds))
	for i, k := range detect.Kinds {
		kinds[i] = string(k)
	}
	m.InitKinds(kinds)
	m.CounterFunc("detect", "spoofed_packets_total",
		"Copied packets whose source address or MAC lives behind another port: they count as probes of the port they entered at, never as answers.",
		func() float64 { return float64(m.spoofed.Load()) })
	m.CounterFunc("detect", "answer_losses_total",
		"Meter readings in which a port's answer meter (or the UDP watch meter) dropped copies: attempts waiting then expire as unknown, not as failures.",
		func() float64 { return float64(m.losses.Load()) })
	return m
}

// countMessage counts one OpenFlow message by type and direction, in
// stripe 0 (messages of the periodic work and the handshake; the per-switch
// path counts in its session's stripe).
func (m *metricsSet) countMessage(t ofp.Type, dir int) {
	m.Messages.Stripe(0).Inc(metrics.MessageIndex(uint8(t), dir == dirOut))
}

// request sends a request and waits for its reply, counting both.
func (c *Controller) request(ctx context.Context, s *ofconn.Session, m ofp.Message) (ofp.Message, error) {
	c.m.countMessage(m.Type(), dirOut)
	r, err := s.Request(ctx, m)
	if err == nil {
		c.m.countMessage(r.Type(), dirIn)
	}
	return r, err
}

// barrier sends a barrier and waits for its reply, counting both.
func (c *Controller) barrier(ctx context.Context, s *ofconn.Session) error {
	c.m.countMessage(ofp.TypeBarrierRequest, dirOut)
	err := s.Barrier(ctx)
	if err == nil {
		c.m.countMessage(ofp.TypeBarrierReply, dirIn)
	}
	return err
}

// sendTo sends msgs to a switch and counts them.
func (c *Controller) sendTo(s *ofconn.Session, msgs ...ofp.Message) error {
	return countSent(s, c.m.Messages.Stripe(0), msgs)
}

// countSent sends msgs and counts them in stripe st.
func countSent(s *ofconn.Session, st metrics.Stripe, msgs []ofp.Message) error {
	err := s.Send(msgs...)
	if err == nil {
		for _, m := range msgs {
			st.Inc(metrics.MessageIndex(uint8(m.Type()), true))
		}
	}
	return err
}

func (m *metricsSet) handler() http.Handler { return m.Handler() }
