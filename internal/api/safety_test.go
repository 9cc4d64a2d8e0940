package api_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

// req sends GET path to h from peer with the given Host and headers.
func req(h http.Handler, peer, host, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = peer
	r.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// A page on evil.example whose name now resolves to 127.0.0.1 (DNS
// rebinding) sends Host: evil.example; the API refuses it, whatever the
// path, while IP addresses, localhost and configured names are served.
func TestHostCheck(t *testing.T) {
	h := api.New(apitest.Demo(), api.Options{Tokens: []string{token}, OpenReadsOnLoopback: true,
		AllowedHosts: []string{"Portcullis.Example.com"}, Dashboard: http.NotFoundHandler()})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example:6680", 403},
		{"evil.example", 403},
		{"127.0.0.1.evil.example", 403},
		{"", 403},
		{"127.0.0.1:6680", 200},
		{"[::1]:6680", 200},
		{"localhost:6680", 200},
		{"LOCALHOST.", 200},
		{"portcullis.example.com:6680", 200},
		{"portcullis.example.com.", 200},
	} {
		for _, path := range []string{"/api/v1/blocks", "/healthz", "/metrics", "/"} {
			rec := req(h, "127.0.0.1:4000", tc.host, path, "Authorization", "Bearer "+token)
			if (rec.Code == 403) != (tc.want == 403) {
				t.Errorf("Host %q %s: status %d, want %d: %s", tc.host, path, rec.Code, tc.want, rec.Body.String())
			}
		}
	}
	rec := req(h, "127.0.0.1:4000", "evil.example", "/api/v1/blocks")
	if !strings.Contains(rec.Body.String(), "api.allowed_hosts") {
		t.Errorf("refusal does not say what to do: %s", rec.Body.String())
	}
}

// Reads without a token: only from a loopback peer that names a loopback
// host and was not forwarded by a proxy.
func TestOpenReadsNeedLoopbackHost(t *testing.T) {
	h := api.New(apitest.Demo(), api.Options{Tokens: []string{token}, OpenReadsOnLoopback: true,
		AllowedHosts: []string{"portcullis.example.com"}})
	for _, tc := range []struct {
		name, peer, host string
		hdr              []string
		want             int
	}{
		{"loopback peer, loopback host", "127.0.0.1:4000", "127.0.0.1:6680", nil, 200},
		{"loopback peer, localhost", "[::1]:4000", "localhost:6680", nil, 200},
		{"local reverse proxy keeping the public name", "127.0.0.1:4000", "portcullis.example.com", nil, 401},
		{"local reverse proxy rewriting Host", "127.0.0.1:4000", "127.0.0.1:6680", []string{"X-Forwarded-For", "203.0.113.9"}, 401},
		{"Forwarded header", "127.0.0.1:4000", "127.0.0.1:6680", []string{"Forwarded", "for=203.0.113.9"}, 401},
		{"X-Real-IP", "127.0.0.1:4000", "127.0.0.1:6680", []string{"X-Real-IP", "203.0.113.9"}, 401},
		{"remote peer naming loopback", "192.0.2.7:4000", "127.0.0.1:6680", nil, 401},
		{"remote peer with token", "192.0.2.7:4000", "portcullis.example.com", []string{"Authorization", "Bearer " + token}, 200},
	} {
		if rec := req(h, tc.peer, tc.host, "/api/v1/status", tc.hdr...); rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body.String())
		}
	}
}

// At most Streams.max event streams are open at once; the next gets 503
// with Retry-After, and a slot frees when a stream ends. The limit is
// shared by handlers that share the StreamLimit (a reload's new handler).
func TestStreamCap(t *testing.T) {
	f := apitest.Demo()
	lim := api.NewStreamLimit(2)
	srv := httptest.NewServer(api.New(f, api.Options{OpenReadsOnLoopback: true, Streams: lim}))
	defer srv.Close()
	second := httptest.NewServer(api.New(f, api.Options{OpenReadsOnLoopback: true, Streams: lim}))
	defer second.Close()
	open := func(base string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		r, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events/stream", nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp, func() { cancel(); resp.Body.Close() }
	}
	r1, c1 := open(srv.URL)
	defer c1()
	r2, c2 := open(second.URL)
	defer c2()
	if r1.StatusCode != 200 || r2.StatusCode != 200 {
		t.Fatalf("first two streams: %d %d", r1.StatusCode, r2.StatusCode)
	}
	r3, c3 := open(srv.URL)
	if r3.StatusCode != http.StatusServiceUnavailable || r3.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d (Retry-After %q), want 503 with Retry-After", r3.StatusCode, r3.Header.Get("Retry-After"))
	}
	c3()
	c1()
	deadline := time.Now().Add(5 * time.Second)
	for lim.Open() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r4, c4 := open(srv.URL)
	defer c4()
	if r4.StatusCode != 200 {
		t.Fatalf("after one stream ended: %d, want 200", r4.StatusCode)
	}
}

// NewServer's timeouts: an idle client that sends half a request is cut
// off, while an event stream outlives the read and write timeouts. Run
// with short timeouts on a real socket.
func TestServerTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the server's timeouts")
	}
	f := apitest.Demo()
	s := api.NewServer(api.New(f, api.Options{OpenReadsOnLoopback: true, KeepAlive: 200 * time.Millisecond}), t.Context())
	if s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.ReadHeaderTimeout == 0 {
		t.Fatalf("NewServer lacks a timeout: %+v", s)
	}
	s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()

	// A slow-loris client: half a header, then nothing.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	if _, err := c.Read(buf); err == nil {
		// The server may answer 408 before closing; then it must close.
		if _, err := c.Read(buf); err == nil {
			t.Fatal("the server kept a half-sent request open past ReadHeaderTimeout")
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a half-sent request open past ReadHeaderTimeout")
	}

	// An event stream lives past all the timeouts and delivers.
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(time.Second) // three times every timeout
	f.Publish(api.Event{Type: "blocked", Message: "late-marker"})
	br := bufio.NewReader(resp.Body)
	got := make(chan bool, 1)
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				got <- false
				return
			}
			if strings.Contains(line, "late-marker") {
				got <- true
				return
			}
		}
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the event stream ended before the event published after the timeouts")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on the stream after the timeouts")
	}
}
