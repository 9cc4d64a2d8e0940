package controller

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"portcullis/internal/detect"
	"portcullis/internal/metrics"
	"portcullis/internal/ofconn"
	"portcullis/ofp"
)

// metricsSet is the controller's view of internal/metrics, with the hot-path
// counters resolved once so a packet-in costs one atomic add.
type metricsSet struct {
	*metrics.Metrics
	packetIn [3][4]prometheus.Counter // [reason][table] for our four tables
	messages [2][int(ofp.TypeMeterMod) + 1]prometheus.Counter
	spoofed  atomic.Uint64 // packets whose source lives elsewhere (forward.Attribution.Spoofed)
	losses   atomic.Uint64 // answer meter drops reported to the detector (detect.Loss)
}

const (
	dirIn  = 0
	dirOut = 1
)

var packetInReasons = [3]string{"no_match", "action", "invalid_ttl"}

func newMetrics(version string) *metricsSet {
	m := &metricsSet{Metrics: metrics.New()}
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
	for r := range m.packetIn {
		for t := range m.packetIn[r] {
			m.packetIn[r][t] = m.PacketIns.WithLabelValues(packetInReasons[r], strconv.Itoa(t))
		}
	}
	for d, dir := range [2]string{"in", "out"} {
		for t := range m.messages[d] {
			m.messages[d][t] = m.Messages.WithLabelValues(strings.TrimPrefix(ofp.Type(t).String(), "OFPT_"), dir)
		}
	}
	return m
}

func (m *metricsSet) countPacketIn(reason, table uint8) {
	if int(reason) < len(m.packetIn) && int(table) < len(m.packetIn[0]) {
		m.packetIn[reason][table].Inc()
		return
	}
	m.PacketIn("other", table)
}

// countMessage counts one OpenFlow message by type and direction.
func (m *metricsSet) countMessage(t ofp.Type, dir int) {
	if int(t) < len(m.messages[dir]) {
		m.messages[dir][t].Inc()
		return
	}
	m.Message("UNKNOWN", [2]string{"in", "out"}[dir])
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
	err := s.Send(msgs...)
	if err == nil {
		for _, m := range msgs {
			c.m.countMessage(m.Type(), dirOut)
		}
	}
	return err
}

func (m *metricsSet) handler() http.Handler { return m.Handler() }
