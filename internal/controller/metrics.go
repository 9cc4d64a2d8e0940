package controller

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
}

const (
	dirIn  = 0
	dirOut = 1
)

var packetInReasons = [3]string{"no_match", "action", "invalid_ttl"}

func newMetrics(version string) *metricsSet {
	m := &metricsSet{Metrics: metrics.New()}
	m.SetBuildInfo(version)
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

// pollMeters asks every switch for its meter statistics and feeds the drop
// bands' counts to portcullis_openflow_meter_dropped_packets_total.
func (c *Controller) pollMeters() {
	for _, sw := range c.sessionsSnapshot() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
			for _, s := range ms.Stats {
				var dropped uint64
				for _, b := range s.Bands {
					dropped += b.PacketBandCount
				}
				c.m.ObserveMeterBand(sw.dpid, s.MeterID, dropped)
			}
		}()
	}
}
