package controller

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"portcullis/internal/metrics"
	"portcullis/ofp"
)

// metricsSet is the controller's view of internal/metrics, with the hot-path
// counters resolved once so a packet-in costs one atomic add.
type metricsSet struct {
	*metrics.Metrics
	packetIn [3][4]prometheus.Counter // [reason][table] for our four tables
}

var packetInReasons = [3]string{"no_match", "action", "invalid_ttl"}

func newMetrics(version string) *metricsSet {
	m := &metricsSet{Metrics: metrics.New()}
	m.SetBuildInfo(version)
	for r := range m.packetIn {
		for t := range m.packetIn[r] {
			m.packetIn[r][t] = m.PacketIns.WithLabelValues(packetInReasons[r], strconv.Itoa(t))
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

func (m *metricsSet) countMessage(t ofp.Type) {
	m.Message(strings.TrimPrefix(t.String(), "OFPT_"), "in")
}

func (m *metricsSet) handler() http.Handler { return m.Handler() }

// pollMeters asks every switch for its meter statistics and feeds the drop
// bands' counts to portcullis_openflow_meter_dropped_packets_total.
func (c *Controller) pollMeters() {
	for _, sw := range c.sessionsSnapshot() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			reply, err := sw.sess.Request(ctx, &ofp.MultipartRequest{Body: &ofp.MeterStatsRequest{MeterID: ofp.MeterAll}})
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
