package controller

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsSet is what the controller records. TODO: move onto internal/metrics.
type metricsSet struct {
	reg             *prometheus.Registry
	switches        prometheus.Gauge
	packetIns       prometheus.Counter
	sendErrors      prometheus.Counter
	verdictsDropped prometheus.Counter
	detections      *prometheus.CounterVec
	probesToVerdict prometheus.Histogram
	activeBlocks    prometheus.Gauge
	installLatency  prometheus.Histogram
}

func newMetrics() *metricsSet {
	m := &metricsSet{reg: prometheus.NewRegistry()}
	m.switches = prometheus.NewGauge(prometheus.GaugeOpts{Name: "portcullis_openflow_switches_connected"})
	m.packetIns = prometheus.NewCounter(prometheus.CounterOpts{Name: "portcullis_openflow_packet_ins_total"})
	m.sendErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "portcullis_openflow_send_errors_total"})
	m.verdictsDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "portcullis_detect_verdicts_dropped_total"})
	m.detections = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portcullis_detect_detections_total"}, []string{"kind"})
	m.probesToVerdict = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "portcullis_detect_probes_to_verdict"})
	m.activeBlocks = prometheus.NewGauge(prometheus.GaugeOpts{Name: "portcullis_policy_active_blocks"})
	m.installLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "portcullis_policy_block_install_latency_seconds"})
	m.reg.MustRegister(m.switches, m.packetIns, m.sendErrors, m.verdictsDropped, m.detections, m.probesToVerdict, m.activeBlocks, m.installLatency)
	return m
}

func (m *metricsSet) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
