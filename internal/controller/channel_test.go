package controller

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/detect"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
)

// An impostor claims the datapath id of a connected, live switch: it is
// refused, the API keeps listing the real switch once, and the refusal is
// an event and a metric.
func TestImpostorRefused(t *testing.T) {
	h := startController(t, testConfig(t), nil)
	holder := h.connect(5, 2)

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	imp, err := ofconntest.Dial(ctx, h.ofAddr, ofconntest.Config{DPID: 5, Ports: ofconntest.Ports(7)})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	select {
	case <-imp.Done():
	case <-ctx.Done():
		t.Fatal("impostor not closed")
	}
	var ev []api.Event
	eventually(t, "a switch_refused event", func() bool { ev = h.events("switch_refused"); return len(ev) > 0 })
	e := ev[0]
	if len(ev) != 1 || e.DPID != "0000000000000005" || e.IP != "127.0.0.1" || e.Reason != "dpid-in-use" ||
		e.Severity != "warning" || !strings.Contains(e.Message, holder.Conn().LocalAddr().String()) {
		t.Errorf("switch_refused events %+v, want one for dpid 5 from 127.0.0.1 naming the holder %s", ev, holder.Conn().LocalAddr())
	}
	var sl api.SwitchList
	h.get("/api/v1/switches", &sl)
	if sws := sl.Switches; len(sws) != 1 || sws[0].DatapathID != 5 || sws[0].Address != holder.Conn().LocalAddr().String() || len(sws[0].Ports) != 2 {
		t.Errorf("switches %+v, want the holder switch 5 once", sl.Switches)
	}
	if n := len(h.events("switch_down")); n != 0 {
		t.Errorf("%d switch_down events: the holder switch was dropped", n)
	}
	code, body := h.call("GET", "/metrics", testToken, nil)
	if code != 200 || !strings.Contains(string(body), "portcullis_openflow_switches_refused_total 1\n") {
		t.Errorf("GET /metrics: %d, no portcullis_openflow_switches_refused_total 1", code)
	}
}

// Plain TCP on every address warns at start; on loopback it does not.
func TestPlaintextWarning(t *testing.T) {
	const warning = "OpenFlow is plain TCP on a non-loopback address"
	cfg := testConfig(t)
	h := startController(t, cfg, nil)
	if strings.Contains(h.logs.String(), warning) {
		t.Errorf("warning on loopback:\n%s", h.logs.String())
	}
	h.stop()

	cfg = testConfig(t)
	cfg.Listen.OpenFlow = ":0"
	h = startController(t, cfg, nil)
	log := h.logs.String()
	if !strings.Contains(log, "level=WARN msg=\"OpenFlow is plain TCP on a non-loopback address") {
		t.Errorf("no warning for plain TCP on all addresses:\n%s", log)
	}
}

// A loop of refused connections publishes at most refusalEventsPerMinute
// events a minute; the next event says how many were not published.
func TestRefusalEventsBounded(t *testing.T) {
	var r refusalEvents
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	published := 0
	for i := range 100 {
		if ok, missed := r.allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			published++
			if missed != 0 {
				t.Errorf("refusal %d: %d missed within the burst", i, missed)
			}
		}
	}
	if published != refusalEventsPerMinute {
		t.Errorf("%d of 100 refusals in 100 ms published, want %d", published, refusalEventsPerMinute)
	}
	ok, missed := r.allow(t0.Add(time.Minute / refusalEventsPerMinute))
	if !ok || missed != 100-refusalEventsPerMinute {
		t.Errorf("after a token's time: allow = %v, missed %d, want true, %d", ok, missed, 100-refusalEventsPerMinute)
	}
}

// Every detection kind (detect.Kinds, the one list) is on /metrics at zero
// from the start, so rate() works before the first verdict: the metrics
// once kept a list of their own that lacked syn-flood and mac-spoof.
func TestMetricsHaveEveryKind(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	code, body := h.call("GET", "/metrics", testToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, k := range detect.Kinds {
		if want := `portcullis_detect_detections_total{kind="` + string(k) + `"} 0`; !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
