package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

const cliToken = "t0ken"

// cliServer starts the real API over a demo fake and points the CLI at it
// through the environment.
func cliServer(t *testing.T) (*apitest.Fake, *httptest.Server) {
	t.Helper()
	f := apitest.Demo()
	srv := httptest.NewServer(api.New(f, api.Options{Tokens: []string{cliToken}, OpenReadsOnLoopback: true, Version: "v9"}))
	t.Cleanup(srv.Close)
	t.Setenv("PORTCULLIS_API", srv.URL)
	t.Setenv("PORTCULLIS_TOKEN", "")
	t.Setenv("PORTCULLIS_CACERT", "")
	return f, srv
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = dispatch(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCLIListTables(t *testing.T) {
	cliServer(t)
	tests := []struct {
		args []string
		want []string // substrings of stdout
	}{
		{[]string{"switch", "list"}, []string{"DPID", "0000000000000001", "127.0.0.1:40000", "1:h1-eth 2:h2-eth 3:h3-eth"}},
		{[]string{"host", "list"}, []string{"MAC", "02:00:00:00:00:01", "10.0.0.1", "10.0.0.3"}},
		{[]string{"block", "list"}, []string{"ID", "b1", "02:00:00:00:00:03", "10.0.0.3", "tcp_syn", "port scan", "in 9m",
			"CONFIRMED", "0000000000000001 0000000000000002(pending)"}},
		{[]string{"block", "ls"}, []string{"b1"}},
		{[]string{"allow", "list"}, []string{"CIDR", "a1", "10.0.0.254/32", "all", "gateway"}},
		{[]string{"status"}, []string{"version:", "v9", "switches:", "active blocks:", "1234"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := run(tc.args...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCLIJSON(t *testing.T) {
	f, _ := cliServer(t)
	check := func(args []string, v any) {
		t.Helper()
		code, out, errs := run(append(args, "--json")...)
		if code != 0 || errs != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%v: --json output does not parse: %v\n%s", args, err, out)
		}
	}
	var sw api.SwitchList
	check([]string{"switch", "list"}, &sw)
	if len(sw.Switches) != 1 || sw.Switches[0].DatapathID != 1 {
		t.Errorf("switches %+v", sw)
	}
	var hl api.HostList
	check([]string{"host", "list"}, &hl)
	if len(hl.Hosts) != 3 {
		t.Errorf("hosts %+v", hl)
	}
	var bl api.BlockList
	check([]string{"block", "list"}, &bl)
	if len(bl.Blocks) != 1 || bl.Blocks[0].ID != "b1" {
		t.Errorf("blocks %+v", bl)
	}
	var al api.AllowList
	check([]string{"allow", "list"}, &al)
	if len(al.Allowlist) != 1 {
		t.Errorf("allowlist %+v", al)
	}
	var st api.Status
	check([]string{"status"}, &st)
	if st.Version != "v9" || st.Hosts != 3 {
		t.Errorf("status %+v", st)
	}
	// Flags may come before the verb's arguments or after them.
	var b api.Block
	check([]string{"block", "add", "--token", cliToken, "10.0.0.9", "--duration", "2h"}, &b)
	if b.ID == "" || len(b.IPs) != 1 || b.IPs[0] != "10.0.0.9" || b.Expires.Sub(b.Created) != 2*time.Hour {
		t.Errorf("block %+v", b)
	}
	f.Publish(api.Event{Type: "scan_detected", IP: "10.0.0.2"})
	code, out, _ := run("events", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("events --json: exit %d, %q", code, out)
	}
	for _, l := range lines {
		var e api.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.ID == 0 || e.Type == "" {
			t.Errorf("event line %q: %v", l, err)
		}
	}
}

func TestCLIBlockAddRemove(t *testing.T) {
	f, srv := cliServer(t)
	// The token comes from the environment here, the API from --api.
	t.Setenv("PORTCULLIS_API", "http://127.0.0.1:1")
	t.Setenv("PORTCULLIS_TOKEN", cliToken)
	code, out, errs := run("block", "add", "--api", srv.URL, "10.0.0.7", "02:00:00:00:00:07", "--reason", "manual test")
	if code != 0 {
		t.Fatalf("add: exit %d, stderr %q", code, errs)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0] != `AddBlock ip=10.0.0.7 mac=02:00:00:00:00:07 duration=0s reason="manual test"` {
		t.Fatalf("calls %q", calls)
	}
	id := ""
	for _, b := range f.Blocks() {
		if b.Reason == "manual test" {
			id = b.ID
		}
	}
	if id == "" || !strings.Contains(out, id) || !strings.Contains(out, "manual test") {
		t.Fatalf("add output %q (id %q)", out, id)
	}
	code, out, errs = run("block", "rm", "--api", srv.URL, id)
	if code != 0 || !strings.Contains(out, "removed block "+id) {
		t.Fatalf("rm: exit %d, %q %q", code, out, errs)
	}
	if len(f.Blocks()) != 1 {
		t.Fatalf("blocks after rm: %+v", f.Blocks())
	}
	code, _, errs = run("block", "rm", "--api", srv.URL, id)
	if code != 3 || !strings.Contains(errs, "no block") {
		t.Fatalf("rm again: exit %d, stderr %q", code, errs)
	}
}

func TestCLIAllowAddRemove(t *testing.T) {
	f, _ := cliServer(t)
	code, out, errs := run("allow", "add", "192.168.0.0/16", "--port", "53,123", "--port", "5353", "--comment", "dns", "--token", cliToken)
	if code != 0 {
		t.Fatalf("add: exit %d %q", code, errs)
	}
	if c := f.Calls(); len(c) != 1 || c[0] != `AddAllow cidr=192.168.0.0/16 ports=53,123,5353 comment="dns"` {
		t.Fatalf("calls %q", c)
	}
	if !strings.Contains(out, "53,123,5353") {
		t.Errorf("add output %q", out)
	}
	al := f.Allowlist()
	id := al[len(al)-1].ID
	if code, _, errs = run("allow", "rm", id, "--token", cliToken); code != 0 {
		t.Fatalf("rm: %d %q", code, errs)
	}
	if len(f.Allowlist()) != 1 {
		t.Fatalf("allowlist after rm: %+v", f.Allowlist())
	}
	if code, _, _ = run("allow", "rm", "nope", "--token", cliToken); code != 3 {
		t.Fatalf("rm unknown: exit %d", code)
	}
}

func TestCLIAuthErrors(t *testing.T) {
	f, _ := cliServer(t)
	code, out, errs := run("block", "add", "10.0.0.7")
	if code != 1 || out != "" || !strings.Contains(errs, "bearer token") || !strings.Contains(errs, "PORTCULLIS_TOKEN") {
		t.Fatalf("no token: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run("block", "rm", "b1", "--token", "wrong")
	if code != 1 || !strings.Contains(errs, "not valid") || !strings.Contains(errs, "HTTP 401") {
		t.Fatalf("wrong token: exit %d, stderr %q", code, errs)
	}
	if len(f.Calls()) != 0 || len(f.Blocks()) != 1 {
		t.Fatal("state changed")
	}
}

func TestCLIServerRefusal(t *testing.T) {
	f, _ := cliServer(t)
	// The API rejects what the CLI lets through (a host-bits CIDR is
	// caught locally, a never-block conflict only by the controller).
	f.SetErr(errorsConflict())
	code, _, errs := run("block", "add", "10.0.0.254", "--token", cliToken)
	if code != 1 || !strings.Contains(errs, "never-block") || !strings.Contains(errs, "HTTP 409") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func errorsConflict() error {
	return &wrapErr{msg: "10.0.0.254 is on the never-block list", err: api.ErrConflict}
}

type wrapErr struct {
	msg string
	err error
}

func (e *wrapErr) Error() string { return e.msg }
func (e *wrapErr) Unwrap() error { return e.err }

func TestCLIUnreachable(t *testing.T) {
	t.Setenv("PORTCULLIS_API", "")
	for _, args := range [][]string{
		{"status", "--api", "http://127.0.0.1:1"},
		{"block", "list", "--api", "http://127.0.0.1:1"},
		{"events", "--api", "http://127.0.0.1:1"},
		{"block", "rm", "x", "y", "--api", "http://127.0.0.1:1", "--token", "t"},
	} {
		code, out, errs := run(args...)
		if code != 1 || out != "" || !strings.Contains(errs, "portcullis: cannot reach the controller at http://127.0.0.1:1: ") ||
			strings.Count(errs, "cannot reach") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	cliServer(t)
	for _, args := range [][]string{
		{"block"},
		{"block", "frobnicate"},
		{"block", "add"},
		{"block", "add", "--duration", "soon", "10.0.0.1"},
		{"block", "add", "10.0.0.300"},
		{"block", "add", "10.0.0.1", "10.0.0.2"},
		{"block", "add", "--mac", "ff:ff:ff:ff:ff:ff"},
		{"block", "rm"},
		{"block", "list", "extra"},
		{"block", "list", "--bogus"},
		{"allow", "add"},
		{"allow", "add", "10.0.0.1/24"},
		{"allow", "add", "10.0.0.0/24", "--port", "0"},
		{"allow", "add", "10.0.0.0/24:0"},
		{"allow", "add", "[10.0.0.0/24]:22"},
		{"allow", "add", "10.0.0.0/24:" + strings.Repeat("1,", api.MaxAllowPorts) + "2"}, // more ports and ranges than an entry holds
		{"allow", "add", "a", "b"},
		{"allow", "rm"},
		{"switch"},
		{"switch", "list", "x"},
		{"host", "list", "--json=maybe"},
		{"events", "--limit", "0"},
		{"events", "--since", "yesterday"},
		{"events", "--count", "-1"},
		{"events", "foo"},
		{"status", "now"},
		{"status", "--api", "ftp://x"},
	} {
		code, out, errs := run(args...)
		if code != 2 || out != "" || !strings.Contains(errs, "usage") && !strings.Contains(errs, "--help") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
		if n := strings.Count(errs, "\n"); n > 12 {
			t.Errorf("%v: usage error is not short (%d lines)", args, n)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{
		{"status", "--help"}, {"switch", "--help"}, {"switch", "list", "--help"}, {"host", "list", "-h"},
		{"block", "--help"}, {"block", "list", "--help"}, {"block", "add", "--help"}, {"block", "rm", "--help"},
		{"allow", "help"}, {"allow", "list", "--help"}, {"allow", "add", "--help"}, {"allow", "rm", "--help"},
		{"events", "--help"},
	} {
		code, out, errs := run(args...)
		if code != 0 || !strings.HasPrefix(out, "usage: portcullis ") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestCLIEvents(t *testing.T) {
	f, _ := cliServer(t)
	for i := range 30 {
		typ := "scan_detected"
		if i%10 == 0 {
			typ = "blocked"
		}
		f.Publish(api.Event{Type: typ, IP: "10.0.0.2", MAC: "02:00:00:00:00:02", DPID: api.FormatDPID(1), Port: 2, Message: "event " + string(rune('A'+i))})
	}
	code, out, errs := run("events", "--limit", "3")
	if code != 0 {
		t.Fatalf("exit %d %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[3], "30 ") {
		t.Fatalf("newest 3 events, oldest first:\n%s", out)
	}
	if !strings.Contains(lines[1], "10.0.0.2 @0000000000000001/2") {
		t.Errorf("source column: %q", lines[1])
	}
	code, out, _ = run("events", "--type", "blocked")
	if code != 0 || strings.Count(out, "blocked") != 3 || strings.Contains(out, "scan_detected") {
		t.Fatalf("type filter:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestCLIEventsFollow(t *testing.T) {
	f, _ := cliServer(t)
	f.Publish(api.Event{Type: "switch_up", DPID: api.FormatDPID(1)})
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch([]string{"events", "--follow", "--json", "--type", "blocked", "--count", "2"}, &out, &errs)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the CLI did not subscribe to the stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.Publish(api.Event{Type: "scan_detected", IP: "10.0.0.9"})
	f.Publish(api.Event{Type: "blocked", IP: "10.0.0.9", BlockID: "x1"})
	f.Publish(api.Event{Type: "blocked", IP: "10.0.0.8", BlockID: "x2"})
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("follow did not end after --count events; stdout %q", out.String())
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var e api.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e.Type+" "+e.BlockID)
	}
	if strings.Join(got, ";") != "blocked x1;blocked x2" {
		t.Fatalf("followed events %q", got)
	}
}

var _ io.Writer = (*syncBuffer)(nil)

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	defer func(f func() time.Time) { cliNow = f }(cliNow)
	cliNow = func() time.Time { return now }
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(-5 * time.Second), "5s ago"},
		{now.Add(-90 * time.Second), "1m ago"},
		{now.Add(-3*time.Hour - 7*time.Minute), "3h07m ago"},
		{now.Add(-72 * time.Hour), "3d ago"},
		{now.Add(4*time.Minute + 59*time.Second), "in 5m"},
		{now.Add(10 * time.Second), "in 10s"},
		{now.Add(24 * time.Hour), "in 24h00m"},
		{now.Add(7 * 24 * time.Hour), "in 7d"},
	} {
		if got := ago(tc.t); got != tc.want {
			t.Errorf("ago(now%+v) = %q, want %q", tc.t.Sub(now), got, tc.want)
		}
	}
}

func TestCLIHTTPSWithCACert(t *testing.T) {
	f := apitest.Demo()
	srv := httptest.NewTLSServer(api.New(f, api.Options{Tokens: []string{cliToken}, OpenReadsOnLoopback: true}))
	defer srv.Close()
	t.Setenv("PORTCULLIS_API", srv.URL)
	t.Setenv("PORTCULLIS_CACERT", "")
	// Without the CA the certificate is not trusted.
	code, _, errs := run("status")
	if code != 1 || !strings.Contains(errs, "cannot reach the controller") || !strings.Contains(errs, "certificate") {
		t.Fatalf("untrusted: exit %d, stderr %q", code, errs)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run("switch", "list", "--cacert", ca); code != 0 || !strings.Contains(out, "0000000000000001") {
		t.Fatalf("--cacert: exit %d, %q %q", code, out, errs)
	}
	t.Setenv("PORTCULLIS_CACERT", ca)
	if code, _, errs := run("status"); code != 0 {
		t.Fatalf("PORTCULLIS_CACERT: exit %d %q", code, errs)
	}
	if code, _, errs := run("status", "--cacert", filepath.Join(t.TempDir(), "missing.pem")); code != 1 || !strings.Contains(errs, "missing.pem") {
		t.Fatalf("missing CA file: exit %d %q", code, errs)
	}
}
