package event

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(60, 3) // one a second, bursts of 3
	var got []bool
	for _, at := range []time.Duration{0, 0, 0, 0, 500 * time.Millisecond, time.Second, time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second} {
		got = append(got, l.Allow(t0.Add(at)))
	}
	want := []bool{true, true, true, false, false, true, false, true, true, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Allow sequence = %v, want %v", got, want)
		}
	}
	if d := l.Next(t0.Add(10 * time.Second)); d != time.Second {
		t.Fatalf("Next = %v, want 1s", d)
	}
	if NewLimiter(0, 5) != nil {
		t.Fatal("rate 0 should mean no limiter")
	}
	var nl *Limiter
	if !nl.Allow(t0) || nl.Next(t0) != 0 {
		t.Fatal("nil limiter must allow everything")
	}
}

// recSink records what Run writes.
type recSink struct {
	mu     sync.Mutex
	events []Event
	at     []time.Time
	err    error
	closed bool
}

func (r *recSink) Write(_ context.Context, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.at = append(r.at, time.Now())
	return r.err
}

// snapshot returns a copy of the events written so far.
func (r *recSink) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func (r *recSink) Close() error { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }

func TestRunRateLimitSummary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		bus := NewBus(64)
		sub := bus.Sub("rec", 64)
		sink := &recSink{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { Run(ctx, sub.C, sink, RunOptions{Limiter: NewLimiter(60, 2)}); close(done) }()
		for range 10 {
			bus.Publish(Event{Type: ScanDetected})
		}
		synctest.Wait()
		if n := len(sink.snapshot()); n != 2 {
			t.Fatalf("before the limit refills the sink got %d events, want 2 (the burst)", n)
		}
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		events := sink.snapshot()
		if len(events) != 3 {
			t.Fatalf("after 1.5s the sink got %d events, want 3 (burst + summary)", len(events))
		}
		s := events[2]
		if s.Type != EventsSuppressed || s.Count != 8 || s.Message != "8 events suppressed by the alert rate limit" {
			t.Fatalf("summary = %+v", s)
		}
		sink.mu.Lock()
		at2 := sink.at[2]
		sink.mu.Unlock()
		if d := at2.Sub(start); d != time.Second {
			t.Fatalf("summary written %v after start, want 1s (when a token is earned)", d)
		}
		// Quiet again: the next event passes once a token is earned.
		time.Sleep(5 * time.Second)
		bus.Publish(Event{Type: Unblocked})
		synctest.Wait()
		events = sink.snapshot()
		if last := events[len(events)-1]; last.Type != Unblocked || len(events) != 4 {
			t.Fatalf("after a quiet spell got %d events, last %v", len(events), last.Type)
		}
		cancel()
		<-done
		if !sink.closed {
			t.Fatal("Run did not close the sink")
		}
	})
}

func TestRunReportsErrorsAndEndsOnClose(t *testing.T) {
	bus := NewBus(8)
	sub := bus.Sub("rec", 8)
	sink := &recSink{err: errors.New("boom")}
	var errs []error
	bus.Publish(Event{Type: SwitchUp})
	bus.Publish(Event{Type: SwitchDown})
	sub.Close() // Run drains what is queued, then ends
	Run(context.Background(), sub.C, sink, RunOptions{OnError: func(err error) { errs = append(errs, err) }})
	if len(sink.events) != 2 || len(errs) != 2 || !sink.closed {
		t.Fatalf("events %d errors %d closed %v", len(sink.events), len(errs), sink.closed)
	}
}

func TestJSONLinesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":0,"type":"earlier"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJSONLines(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	j.Write(ctx, Event{ID: 1, Type: Blocked, DPID: 1, IP: "10.0.0.3"})
	j.Write(ctx, Event{ID: 2, Type: Unblocked, Message: "line with\nnewline"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("file has %d lines, want 3 (appended):\n%s", len(lines), data)
	}
	var e Event
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.ID != 1 || e.DPID != 1 || e.IP != "10.0.0.3" {
		t.Fatalf("line 2 = %s (%v)", lines[1], err)
	}
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil || e.Message != "line with\nnewline" {
		t.Fatalf("line 3 = %s (%v)", lines[2], err)
	}

	newPath := filepath.Join(t.TempDir(), "new.jsonl")
	j, err = OpenJSONLines(newPath)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if fi, _ := os.Stat(newPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := OpenJSONLines(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Fatal("opening in a missing dir succeeded")
	}
}

// rfc5424 is the RFC 5424 section 6 ABNF for one message, as a regexp.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 ` +
	`(-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})) ` +
	`([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) ` +
	`(-|(\[[^ =\]"]{1,32}( [^ =\]"]{1,32}="([^"\\\]]|\\["\\\]])*")*\])+)` +
	`( .*)?$`)

func TestFormatRFC5424(t *testing.T) {
	exp := time.Date(2026, 11, 26, 13, 10, 0, 0, time.UTC)
	e := Event{
		ID: 42, Time: time.Date(2026, 11, 26, 13, 0, 0, 123456789, time.UTC), Type: Blocked,
		Severity: SeverityWarning, DPID: 1, Port: 3, MAC: "02:00:00:00:00:03", IP: "10.0.0.3",
		Kind: "port-scan", BlockID: "b-1", Reason: `say "hi" \ [x]`, Probes: 4, Expires: &exp,
		Message: "blocked 10.0.0.3\nfor port-scan",
	}
	got := string(FormatRFC5424(nil, &e, SyslogHeader{Facility: FacilityDaemon, Hostname: "host a", AppName: "portcullis", PID: 99}))
	want := `<28>1 2026-11-26T13:00:00.123456Z hosta portcullis 99 blocked [portcullis@32473 id="42" ` +
		`dpid="0000000000000001" port="3" mac="02:00:00:00:00:03" ip="10.0.0.3" kind="port-scan" ` +
		`block_id="b-1" reason="say \"hi\" \\ [x\]" probes="4" expires="2026-11-26T13:10:00Z"] blocked 10.0.0.3 for port-scan`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	cases := []Event{
		e,
		{Type: SwitchUp},
		{Type: "a type that is far too long to be an RFC 5424 MSGID", Severity: SeverityEmergency},
		{Type: ConfigReloadFailed, Message: "x", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))},
	}
	for _, c := range cases {
		for _, h := range []SyslogHeader{{}, {Facility: 23, Hostname: strings.Repeat("h", 300), AppName: "ü", PID: 1}, {Facility: 99}} {
			m := FormatRFC5424(nil, &c, h)
			sm := rfc5424.FindStringSubmatch(string(m))
			if sm == nil {
				t.Errorf("not RFC 5424: %s", m)
				continue
			}
			pri, _ := strconv.Atoi(sm[1])
			if pri > 191 || pri%8 != SeverityCode(orDefault(c.Severity, DefaultSeverity(c.Type))) {
				t.Errorf("PRI %d wrong for severity %q in %s", pri, c.Severity, m)
			}
		}
	}
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := DialSyslog(SyslogConfig{Network: "udp", Address: pc.LocalAddr().String(), Hostname: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(context.Background(), Event{ID: 5, Type: ScanDetected, Kind: "host-sweep", IP: "10.0.0.9"}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	if !rfc5424.MatchString(msg) || !strings.HasPrefix(msg, "<28>1 ") || !strings.Contains(msg, " h1 portcullis ") ||
		!strings.Contains(msg, ` kind="host-sweep"`) || !strings.Contains(msg, "scan_detected [") {
		t.Fatalf("datagram = %q", msg)
	}
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var msgs []string
		for range 2 {
			lenStr, err := r.ReadString(' ')
			if err != nil {
				break
			}
			n, _ := strconv.Atoi(strings.TrimSpace(lenStr))
			m := make([]byte, n)
			if _, err := io.ReadFull(r, m); err != nil {
				break
			}
			msgs = append(msgs, string(m))
		}
		got <- msgs
	}()
	s, err := DialSyslog(SyslogConfig{Network: "tcp", Address: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(context.Background(), Event{ID: 1, Type: SwitchUp, DPID: 1})
	s.Write(context.Background(), Event{ID: 2, Type: SwitchDown, DPID: 1})
	msgs := <-got
	if len(msgs) != 2 || !rfc5424.MatchString(msgs[0]) || !strings.Contains(msgs[1], "switch_down") {
		t.Fatalf("framed messages = %q", msgs)
	}
}

func TestSyslogUnixgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := DialSyslog(SyslogConfig{Network: "unix", Address: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(context.Background(), Event{Type: Unblocked})
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil || !rfc5424.Match(buf[:n]) {
		t.Fatalf("unixgram message %q, %v", buf[:n], err)
	}
}

func TestDialSyslogErrors(t *testing.T) {
	for _, c := range []SyslogConfig{{Network: "carrier-pigeon", Address: "x"}, {Network: "udp"}, {Network: "tcp", Address: "127.0.0.1:1"}} {
		if _, err := DialSyslog(c); err == nil || !strings.HasPrefix(err.Error(), "event: ") {
			t.Errorf("DialSyslog(%+v) err = %v", c, err)
		}
	}
}

func TestWebhookSignsAndRetries(t *testing.T) {
	secret := []byte("s3cret")
	var mu sync.Mutex
	var bodies [][]byte
	var hdrs []http.Header
	status := []int{503, 429, 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
		hdrs = append(hdrs, r.Header.Clone())
		w.WriteHeader(status[min(len(bodies)-1, len(status)-1)])
	}))
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, Secret: secret, InitialBackoff: time.Millisecond})
	err := w.Write(context.Background(), Event{ID: 9, Type: Blocked, IP: "10.0.0.3", DPID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("server saw %d attempts, want 3 (503, 429, 200)", len(bodies))
	}
	h := hdrs[2]
	if !Verify(secret, bodies[2], h.Get(SignatureHeader)) || !strings.HasPrefix(h.Get(SignatureHeader), "sha256=") {
		t.Fatalf("signature %q does not verify", h.Get(SignatureHeader))
	}
	if Verify([]byte("other"), bodies[2], h.Get(SignatureHeader)) {
		t.Fatal("signature verifies with the wrong secret")
	}
	if h.Get("Content-Type") != "application/json" || h.Get("X-Portcullis-Event") != "blocked" || h.Get("X-Portcullis-Delivery") != "9" {
		t.Fatalf("headers = %v", h)
	}
	var e Event
	if err := json.Unmarshal(bodies[2], &e); err != nil || e.ID != 9 || e.DPID != 1 {
		t.Fatalf("body %s: %v", bodies[2], err)
	}
	if st := w.Stats(); st.Sent != 1 || st.Retries != 2 || st.Failed != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestWebhookPermanentFailureNotRetried(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, Secret: []byte("k"), InitialBackoff: time.Millisecond})
	err := w.Write(context.Background(), Event{ID: 1, Type: Blocked})
	if err == nil || n != 1 || w.Stats().Failed != 1 || !strings.Contains(err.Error(), "400") {
		t.Fatalf("err %v after %d attempts, stats %+v", err, n, w.Stats())
	}
}

// rtFunc is an http.RoundTripper from a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhookBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		client := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
			at = append(at, time.Since(start))
			return nil, errors.New("connection refused")
		})}
		w := NewWebhook(WebhookConfig{URL: "http://hook.invalid/", Secret: []byte("k"), Client: client,
			MaxAttempts: 6, InitialBackoff: time.Second, MaxBackoff: 8 * time.Second})
		err := w.Write(t.Context(), Event{ID: 1, Type: Blocked})
		if err == nil {
			t.Fatal("Write succeeded against a dead hook")
		}
		want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 23 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("attempts at %v, want %v (doubling, capped at 8s)", at, want)
			}
		}
		if st := w.Stats(); st.Failed != 1 || st.Retries != 5 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestWebhookStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
			return nil, errors.New("refused")
		})}
		w := NewWebhook(WebhookConfig{URL: "http://hook.invalid/", Client: client, InitialBackoff: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		start := time.Now()
		if err := w.Write(ctx, Event{Type: Blocked}); err == nil {
			t.Fatal("no error")
		}
		if d := time.Since(start); d != 90*time.Second {
			t.Fatalf("Write returned after %v, want when ctx ended (90s)", d)
		}
	})
}

// TestWebhookNeverBlocksPublish: a hook that hangs must not slow the bus;
// the subscription queue overflows and the drops are counted.
func TestWebhookNeverBlocksPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
		bus := NewBus(16)
		sub := bus.Sub("webhook", 4)
		w := NewWebhook(WebhookConfig{URL: "http://hook.invalid/", Client: client, Timeout: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { Run(ctx, sub.C, w, RunOptions{}); close(done) }()
		for range 100 {
			bus.Publish(Event{Type: ScanDetected})
		}
		synctest.Wait()
		if sub.Dropped() < 90 {
			t.Fatalf("dropped %d, want most of 100 (queue of 4 behind a hung hook)", sub.Dropped())
		}
		cancel()
		<-done
	})
}
