package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// touchAll gives every labelled metric one child so that it is gathered.
func touchAll(m *Metrics) {
	m.PacketIn("no_match", 2)
	m.Message("FLOW_MOD", DirOut)
	m.Errors.WithLabelValues("BAD_MATCH").Inc()
	m.EventsPublished.WithLabelValues("blocked").Inc()
	m.EventsDropped.WithLabelValues("webhook").Inc()
	m.SinkErrors.WithLabelValues("syslog").Inc()
	m.APIRequests.WithLabelValues("GET /api/v1/blocks", "200").Inc()
	m.APIDuration.WithLabelValues("GET /api/v1/blocks").Observe(0.01)
}

// forbiddenLabels would carry addresses: unbounded cardinality.
var forbiddenLabels = regexp.MustCompile(`(?i)^(ip|ips|ipv4|ipv6|mac|addr|address|src|dst|source|destination|host|hostname|client|peer|dpid|port)$`)

// TestLint runs promlint and our own naming rules over every metric the
// registry exposes.
func TestLint(t *testing.T) {
	m := New()
	touchAll(m)
	if err := m.GaugeFunc("detect", "pending_contacts", "First contacts waiting for an answer.", func() float64 { return 3 }); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	var ours int
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		ours++
		if !strings.HasPrefix(name, Namespace+"_") {
			t.Errorf("%s: not in the %s_ namespace", name, Namespace)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help text", name)
		}
		isCounter := mf.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: counters and only counters end in _total (type %v)", name, mf.GetType())
		}
		for _, bad := range []string{"_ms", "_milliseconds", "_count", "_sum", "_bucket"} {
			if strings.HasSuffix(name, bad) || strings.Contains(name, bad+"_") {
				t.Errorf("%s: use base units (seconds) and avoid reserved suffixes", name)
			}
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM && strings.Contains(name, "duration") && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: durations are in seconds", name)
		}
		for _, met := range mf.GetMetric() {
			for _, l := range met.GetLabel() {
				if forbiddenLabels.MatchString(l.GetName()) {
					t.Errorf("%s: label %q would carry addresses", name, l.GetName())
				}
			}
		}
	}
	if ours < 20 {
		t.Fatalf("only %d portcullis metrics gathered; touchAll misses some", ours)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := New()
	m.SetBuildInfo("v1.2.3")
	m.InitKinds([]string{"port-scan", "udp-scan"})
	m.SwitchesConnected.Set(2)
	m.Verdict("port-scan", 4)
	m.BlockInstalled("network", 3*time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"portcullis_openflow_switches_connected 2\n",
		`portcullis_detect_detections_total{kind="port-scan"} 1` + "\n",
		`portcullis_detect_detections_total{kind="udp-scan"} 0` + "\n",
		"portcullis_detect_verdict_probes_bucket{le=\"4\"} 1\n",
		"portcullis_block_install_duration_seconds_count 1\n",
		`portcullis_block_installed_total{scope="network"} 1` + "\n",
		`portcullis_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, `version="dev"`) {
		t.Error("SetBuildInfo left the old version series behind")
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestMeterDrops(t *testing.T) {
	m := New()
	for i, s := range []struct{ n, want float64 }{{100, 100}, {0, 100}, {50, 150}} {
		m.MeterDrops(uint64(s.n))
		if got := value(m.MeterDropped); got != s.want {
			t.Fatalf("step %d: meter_dropped_packets_total = %v, want %v", i, got, s.want)
		}
	}
}

func TestInstrumentAPI(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/blocks/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		io.WriteString(w, "{}")
	})
	mux.HandleFunc("DELETE /api/v1/blocks/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	h := m.InstrumentAPI(mux)
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/v1/blocks/b1"}, {"GET", "/api/v1/blocks/b2"}, {"GET", "/api/v1/blocks/missing"},
		{"DELETE", "/api/v1/blocks/b1"}, {"GET", "/nowhere/10.0.0.1"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"GET /api/v1/blocks/{id}", "200", 2},
		{"GET /api/v1/blocks/{id}", "404", 1},
		{"DELETE /api/v1/blocks/{id}", "204", 1},
		{"unmatched", "404", 1},
	} {
		if got := value(m.APIRequests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("requests_total{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := count(m.APIRequests); n != 4 {
		t.Errorf("%d request series, want 4 (raw paths must not become labels)", n)
	}
}

func TestInstrumentAPIKeepsFlusher(t *testing.T) {
	m := New()
	var flushed bool
	h := m.InstrumentAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: x\n\n")
		if err := http.NewResponseController(w).Flush(); err == nil {
			flushed = true
		}
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/events/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	h.ServeHTTP(rec, req)
	if !flushed || !rec.Flushed {
		t.Fatal("the wrapper hides http.Flusher from streaming handlers")
	}
	if n := count(m.APIDuration); n != 0 {
		t.Errorf("a stream was timed (%d series)", n)
	}
}

func TestFuncMetricNames(t *testing.T) {
	m := New()
	if err := m.GaugeFunc("detect", "pending_total", "x", func() float64 { return 0 }); err == nil {
		t.Error("a gauge ending in _total was accepted")
	}
	if err := m.CounterFunc("detect", "observed", "x", func() float64 { return 0 }); err == nil {
		t.Error("a counter without _total was accepted")
	}
	if err := m.CounterFunc("detect", "observed_packets_total", "Packets detection looked at.", func() float64 { return 42 }); err != nil {
		t.Fatal(err)
	}
	if err := m.CounterFunc("detect", "observed_packets_total", "again", func() float64 { return 1 }); err == nil {
		t.Error("registering the same name twice was accepted")
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "# HELP portcullis_detect_observed_packets_total Packets detection looked at.\n# TYPE portcullis_detect_observed_packets_total counter\nportcullis_detect_observed_packets_total 42\n"
	if !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks\n%s", want)
	}
}

// value reads a counter or gauge (what client_golang's testutil.ToFloat64
// does, without its extra dependencies).
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	panic("not a counter or gauge")
}

// count returns how many series a collector exposes.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func BenchmarkPacketIn(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.PacketIn("action", 1)
	}
}

func BenchmarkMessage(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Message("PACKET_IN", DirIn)
	}
}

// TestStripedSumsStripes: what sessions add to their own stripes is one
// counter per label values in the scrape, and a packet-in from a table
// outside the pipeline counts as table "other".
func TestStripedSumsStripes(t *testing.T) {
	m := New()
	i := PacketInIndex(1, 2) // action, table 2
	m.PacketIns.Stripe(0).Inc(i)
	m.PacketIns.Stripe(5).Add(i, 2)
	m.PacketIns.Stripe(5 + StripeCount).Inc(i) // the same stripe as 5
	m.PacketIns.Stripe(3).Inc(PacketInIndex(0, 200))
	m.PacketIn("no_such_reason", 1)
	m.Message("FLOW_MOD", DirOut)
	m.Messages.Stripe(7).Inc(MessageIndex(uint8(14), true)) // 14 is OFPT_FLOW_MOD
	m.Messages.Stripe(7).Inc(MessageIndex(200, false))
	want := map[string]float64{
		`packet_ins_total{reason="action",table="2"}`:       4,
		`packet_ins_total{reason="no_match",table="other"}`: 1,
		`packet_ins_total{reason="other",table="1"}`:        1,
		`packet_ins_total{reason="no_match",table="0"}`:     0,
		`messages_total{direction="out",type="FLOW_MOD"}`:   2,
		`messages_total{direction="in",type="UNKNOWN"}`:     1,
		`messages_total{direction="in",type="FLOW_MOD"}`:    0,
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, x := range mf.GetMetric() {
			var l []string
			for _, lp := range x.GetLabel() {
				l = append(l, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			got[strings.TrimPrefix(mf.GetName(), Namespace+"_openflow_")+"{"+strings.Join(l, ",")+"}"] = x.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := m.PacketIns.Total(); n != 6 {
		t.Errorf("PacketIns.Total() = %d, want 6", n)
	}
}

// BenchmarkCounterParallel compares one atomic counter that every
// goroutine adds to (as one prometheus.Counter for all switches was) with
// a stripe per goroutine, on every CPU at once: the ratio is what the
// stripes save per message.
func BenchmarkCounterParallel(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		m := New()
		st := m.PacketIns.Stripe(0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				st.Inc(1)
			}
		})
	})
	b.Run("striped", func(b *testing.B) {
		m := New()
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			st := m.PacketIns.Stripe(next.Add(1))
			for pb.Next() {
				st.Inc(1)
			}
		})
	})
}
