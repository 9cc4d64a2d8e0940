// Package metrics is Portcullis's own Prometheus registry: every metric is
// named portcullis_<subsystem>_<name>, counters end in _total, durations are
// in seconds, and no label carries an address (IPs and MACs are unbounded;
// they belong in events, not in time series). The Go runtime and process
// collectors are registered too.
//
// The controller owns one *Metrics, updates its fields directly (all
// prometheus types are safe for concurrent use) and mounts Handler() at
// /metrics. Label values used here are bounded sets: OpenFlow message type
// names, packet-in reasons, table numbers, scan kinds, route patterns.
package metrics

import (
	"fmt"
	"net/http"
	"portcullis/internal/httpstatus"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"portcullis/ofp"
)

// Namespace prefixes every Portcullis metric.
const Namespace = "portcullis"

// Directions of OpenFlow messages (label "direction").
const (
	DirIn  = "in"  // switch to controller
	DirOut = "out" // controller to switch
)

// InitKinds creates detections_total at zero for each kind, so that rate()
// works from the first scrape. The kinds are detect.Kinds (the one list of
// them); others are added when first seen.
func (m *Metrics) InitKinds(kinds []string) {
	for _, k := range kinds {
		m.Detections.WithLabelValues(k)
	}
}

// Metrics holds every Portcullis metric. Fields are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	// OpenFlow (subsystem "openflow").
	PacketIns         *Striped               // packet_ins_total{reason,table}: PacketInReasons; table "0".."3" or "other" (PacketInIndex)
	MeterDropped      prometheus.Counter     // meter_dropped_packets_total: packet-ins dropped by meters (see MeterDrops)
	Messages          *Striped               // messages_total{type,direction}: type as in the spec without OFPT_ ("FLOW_MOD"), or "UNKNOWN" (MessageIndex)
	SwitchesConnected prometheus.Gauge       // switches_connected
	Errors            *prometheus.CounterVec // errors_total{type}: OFPT_ERROR received, by error type name

	// Detection (subsystem "detect").
	Detections      *prometheus.CounterVec // detections_total{kind}
	ProbesToVerdict prometheus.Histogram   // verdict_probes: probes seen from a source before its verdict
	Sources         prometheus.Gauge       // sources: sources currently tracked
	Evictions       prometheus.Counter     // evictions_total: tracked sources evicted because a table was full
	PortSYNRateMax  prometheus.Gauge       // port_syn_rate_max: highest SYNs/s of any switch port at the last counter reading

	// Blocking (subsystem "block").
	Active         prometheus.Gauge       // active: blocks in force
	Installed      *prometheus.CounterVec // installed_total{scope}
	Removed        *prometheus.CounterVec // removed_total{reason}: "operator", "expired"
	InstallLatency prometheus.Histogram   // install_duration_seconds: verdict to barrier reply

	// Events (subsystem "event").
	EventsPublished *prometheus.CounterVec // published_total{type}
	EventsDropped   *prometheus.CounterVec // dropped_total{subscriber}: lost because a subscriber was full
	SinkErrors      *prometheus.CounterVec // sink_errors_total{sink}: jsonl, syslog, webhook

	// Host notices (subsystem "notice").
	NoticesSent     prometheus.Counter // sent_total
	NoticesFailed   prometheus.Counter // failed_total
	NoticesRejected prometheus.Counter // rejected_total: bad signature, stale or replayed (agent side)

	// REST API (subsystem "api").
	APIRequests *prometheus.CounterVec   // requests_total{route,code}
	APIDuration *prometheus.HistogramVec // request_duration_seconds{route}

	buildInfo *prometheus.GaugeVec
}

// New returns a Metrics with its own registry, Go runtime and process
// collectors included.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := factory{r}
	m := &Metrics{
		reg: r,

		PacketIns: f.striped("openflow", "packet_ins_total",
			"Packet-in messages received from switches, by reason and table.", []string{"reason", "table"}, packetInValues()),
		MeterDropped: f.counter("openflow", "meter_dropped_packets_total",
			"Packets the switches' meters dropped on their way to the controller (from meter statistics)."),
		Messages: f.striped("openflow", "messages_total",
			"OpenFlow messages, by type and direction (in: from switches, out: to switches).", []string{"type", "direction"}, messageValues()),
		SwitchesConnected: f.gauge("openflow", "switches_connected",
			"Switches connected now (handshake complete)."),
		Errors: f.counterVec("openflow", "errors_total",
			"OFPT_ERROR messages received from switches, by error type.", "type"),

		Detections: f.counterVec("detect", "detections_total",
			"Scan verdicts, by scan kind.", "kind"),
		PortSYNRateMax: f.gauge("detect", "port_syn_rate_max",
			"Highest TCP SYN rate (per second) entering any one switch port, at the last reading of the switches' SYN counters."),
		ProbesToVerdict: f.histogram("detect", "verdict_probes",
			"Probes seen from a source before it was judged a scanner.",
			[]float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000}),
		Sources: f.gauge("detect", "sources",
			"Sources whose behaviour detection is tracking now."),
		Evictions: f.counter("detect", "evictions_total",
			"Tracked sources evicted because a detection table was full."),

		Active: f.gauge("block", "active",
			"Blocks in force now."),
		Installed: f.counterVec("block", "installed_total",
			"Blocks installed, by scope (network or ingress).", "scope"),
		Removed: f.counterVec("block", "removed_total",
			"Blocks removed, by reason (operator or expired).", "reason"),
		InstallLatency: f.histogram("block", "install_duration_seconds",
			"Time from a verdict to the switch confirming the drop flows with a barrier reply.",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),

		EventsPublished: f.counterVec("event", "published_total",
			"Events published, by type.", "type"),
		EventsDropped: f.counterVec("event", "dropped_total",
			"Events lost because a subscriber (sink, API stream) was not keeping up, by subscriber.", "subscriber"),
		SinkErrors: f.counterVec("event", "sink_errors_total",
			"Errors writing events to an operator sink, by sink.", "sink"),

		NoticesSent: f.counter("notice", "sent_total",
			"Signed scan notices sent to protected hosts."),
		NoticesFailed: f.counter("notice", "failed_total",
			"Scan notices that could not be sent."),
		NoticesRejected: f.counter("notice", "rejected_total",
			"Scan notices the host agent rejected (bad signature, stale, replayed or malformed)."),

		APIRequests: f.counterVec("api", "requests_total",
			"REST API requests, by route pattern and HTTP status code.", "route", "code"),
		APIDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "api", Name: "request_duration_seconds",
			Help:    "REST API request handling time, by route pattern (streams excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"route"}),

		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help: "Always 1; labels say which Portcullis build is running.",
		}, []string{"version", "goversion"}),
	}
	r.MustRegister(m.APIDuration, m.buildInfo)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []string{"network", "ingress"} {
		m.Installed.WithLabelValues(s)
	}
	for _, s := range []string{"operator", "expired"} {
		m.Removed.WithLabelValues(s)
	}
	m.SetBuildInfo("dev")
	return m
}

// factory creates and registers metrics in one registry.
type factory struct{ r *prometheus.Registry }

func (f factory) counter(sub, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) counterVec(sub, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) striped(sub, name, help string, labels []string, values [][]string) *Striped {
	s := NewStriped(prometheus.NewDesc(prometheus.BuildFQName(Namespace, sub, name), help, labels, nil), values)
	f.r.MustRegister(s)
	return s
}

func (f factory) gauge(sub, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) histogram(sub, name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help, Buckets: buckets})
	f.r.MustRegister(h)
	return h
}

// Registry returns the registry, for tests and for registering more
// collectors (prefer GaugeFunc and CounterFunc, which check the names).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when asked); mount it at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// SetBuildInfo sets portcullis_build_info{version,goversion} to 1.
func (m *Metrics) SetBuildInfo(version string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// MeterDrops adds n packets the switches' meters dropped: the growth of their
// drop bands' running totals since the last reading, which each switch's
// session keeps (controller.readMeters), so no table of every switch's
// meters lives here.
func (m *Metrics) MeterDrops(n uint64) {
	if n > 0 {
		m.MeterDropped.Add(float64(n))
	}
}

// PacketInReasons are packet_ins_total's reason values, indexed by the
// OpenFlow reason (OFPR_NO_MATCH, OFPR_ACTION, OFPR_INVALID_TTL); "other"
// for any other number a switch sends.
var PacketInReasons = []string{"no_match", "action", "invalid_ttl", "other"}

// PacketInTables is the number of tables packet_ins_total names ("0" to
// "3", Portcullis's pipeline); a packet-in from any other table counts as
// table "other", so a switch that lies cannot grow the series.
const PacketInTables = 4

// PacketInIndex is the index in PacketIns of a packet-in's reason and table.
func PacketInIndex(reason, table uint8) int {
	r := min(int(reason), len(PacketInReasons)-1)
	return r*(PacketInTables+1) + min(int(table), PacketInTables)
}

func packetInValues() [][]string {
	var v [][]string
	for _, r := range PacketInReasons {
		for t := range PacketInTables + 1 {
			table := strconv.Itoa(t)
			if t == PacketInTables {
				table = "other"
			}
			v = append(v, []string{r, table})
		}
	}
	return v
}

// MessageIndex is the index in Messages of a message of type t (its
// OpenFlow number; above OFPT_METER_MOD, "UNKNOWN") in direction DirIn (0)
// or DirOut (1).
func MessageIndex(t uint8, out bool) int {
	i := min(int(t), int(ofp.TypeMeterMod)+1)
	if out {
		i += int(ofp.TypeMeterMod) + 2
	}
	return i
}

func messageValues() [][]string {
	var v [][]string
	for _, dir := range []string{DirIn, DirOut} {
		for t := range int(ofp.TypeMeterMod) + 1 {
			v = append(v, []string{strings.TrimPrefix(ofp.Type(t).String(), "OFPT_"), dir})
		}
		v = append(v, []string{"UNKNOWN", dir})
	}
	return v
}

// PacketIn counts one packet-in (in stripe 0: the per-switch hot path adds
// to its session's stripe of PacketIns itself).
func (m *Metrics) PacketIn(reason string, table uint8) {
	r := slices.Index(PacketInReasons, reason)
	if r < 0 {
		r = len(PacketInReasons) - 1
	}
	m.PacketIns.Stripe(0).Inc(PacketInIndex(uint8(r), table))
}

// Message counts one OpenFlow message of type typ ("FLOW_MOD", or any other
// name as "UNKNOWN") in direction DirIn or DirOut, in stripe 0.
func (m *Metrics) Message(typ, direction string) {
	t := int(ofp.TypeMeterMod) + 1
	for i := range t {
		if ofp.Type(i).String() == "OFPT_"+typ {
			t = i
			break
		}
	}
	m.Messages.Stripe(0).Inc(MessageIndex(uint8(t), direction == DirOut))
}

// Verdict records a scan verdict of kind after probes probes.
func (m *Metrics) Verdict(kind string, probes int) {
	m.Detections.WithLabelValues(kind).Inc()
	m.ProbesToVerdict.Observe(float64(probes))
}

// BlockInstalled records a block confirmed after d.
func (m *Metrics) BlockInstalled(scope string, d time.Duration) {
	m.Installed.WithLabelValues(scope).Inc()
	m.InstallLatency.Observe(d.Seconds())
}

// GaugeFunc registers portcullis_<subsystem>_<name> whose value f returns
// at scrape time (e.g. a table size read from a component's Stats). It
// returns an error for names that break the naming rules.
func (m *Metrics) GaugeFunc(subsystem, name, help string, f func() float64) error {
	if strings.HasSuffix(name, "_total") {
		return fmt.Errorf("metrics: gauge %s_%s must not end in _total", subsystem, name)
	}
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, f))
}

// CounterFunc registers portcullis_<subsystem>_<name> (which must end in
// _total) whose value f returns at scrape time; f must never decrease.
func (m *Metrics) CounterFunc(subsystem, name, help string, f func() float64) error {
	if !strings.HasSuffix(name, "_total") {
		return fmt.Errorf("metrics: counter %s_%s must end in _total", subsystem, name)
	}
	return m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, f))
}

// InstrumentAPI wraps the API handler (an http.ServeMux with Go 1.22
// patterns) to count requests by route pattern and status code. The route
// label is the matched pattern ("GET /api/v1/blocks/{id}"), never the raw
// path, so it stays bounded; unmatched requests count as "unmatched".
// Requests that ask for an event stream are counted but not timed.
func (m *Metrics) InstrumentAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &httpstatus.Recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		code := rec.Status
		if code == 0 {
			code = http.StatusOK
		}
		m.APIRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			m.APIDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}
