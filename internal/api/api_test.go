package api_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

const token = "s3cret-token"

// do sends a request to h as if from remote and returns the recorder.
func do(h http.Handler, remote, method, path, tok, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.RemoteAddr = remote
	// The client names the address it connects to, as curl would.
	req.Host = "192.0.2.1:6680"
	if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().IsLoopback() {
		req.Host = "127.0.0.1:6680"
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const (
	loop   = "127.0.0.1:5555"
	remote = "192.0.2.7:5555"
)

func newAPI(t *testing.T) (*apitest.Fake, http.Handler) {
	t.Helper()
	f := apitest.Demo()
	return f, api.New(f, api.Options{Tokens: []string{"other", token}, OpenReadsOnLoopback: true, Version: "v-test"})
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, rec.Body.String(), err)
	}
	return v
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) api.ErrorDetail {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error response Content-Type %q, body %q", ct, rec.Body.String())
	}
	e := decode[api.ErrorBody](t, rec)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error object without code or message: %+v", e)
	}
	return e.Error
}

func TestReadRoutes(t *testing.T) {
	f, h := newAPI(t)
	f.Publish(api.Event{Type: "switch_up", DPID: api.FormatDPID(1)})

	t.Run("healthz", func(t *testing.T) {
		rec := do(h, remote, "GET", "/healthz", "", "")
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "ok" {
			t.Fatalf("healthz: %d %q", rec.Code, rec.Body.String())
		}
	})
	t.Run("switches", func(t *testing.T) {
		rec := do(h, loop, "GET", "/api/v1/switches", "", "")
		got := decode[api.SwitchList](t, rec)
		if rec.Code != 200 || !reflect.DeepEqual(jsonRound(t, f.Switches()), jsonRound(t, got.Switches)) {
			t.Fatalf("switches: %d %+v", rec.Code, got)
		}
		if got.Switches[0].DPID != "0000000000000001" || got.Switches[0].DatapathID != 1 || len(got.Switches[0].Ports) != 3 {
			t.Fatalf("switch fields: %+v", got.Switches[0])
		}
	})
	t.Run("hosts", func(t *testing.T) {
		got := decode[api.HostList](t, do(h, loop, "GET", "/api/v1/hosts", "", ""))
		if len(got.Hosts) != 3 || got.Hosts[0].IPs[0] != "10.0.0.1" {
			t.Fatalf("hosts: %+v", got)
		}
	})
	t.Run("suspects", func(t *testing.T) {
		got := decode[api.SuspectList](t, do(h, loop, "GET", "/api/v1/suspects", "", ""))
		if len(got.Suspects) != 1 || got.Suspects[0].Score != 0.5 {
			t.Fatalf("suspects: %+v", got)
		}
	})
	t.Run("blocks", func(t *testing.T) {
		got := decode[api.BlockList](t, do(h, loop, "GET", "/api/v1/blocks", "", ""))
		if len(got.Blocks) != 1 || got.Blocks[0].ID != "b1" || got.Blocks[0].Evidence[0] == "" {
			t.Fatalf("blocks: %+v", got)
		}
	})
	t.Run("allowlist", func(t *testing.T) {
		got := decode[api.AllowList](t, do(h, loop, "GET", "/api/v1/allowlist", "", ""))
		if len(got.Allowlist) != 1 || got.Allowlist[0].CIDR.String() != "10.0.0.254/32" {
			t.Fatalf("allowlist: %+v", got)
		}
	})
	t.Run("stats", func(t *testing.T) {
		got := decode[api.Stats](t, do(h, loop, "GET", "/api/v1/stats", "", ""))
		if got.PacketIns != 1234 || len(got.Series) != 10 || got.ActiveBlocks != 1 {
			t.Fatalf("stats: %+v", got)
		}
	})
	t.Run("status", func(t *testing.T) {
		got := decode[api.Status](t, do(h, loop, "GET", "/api/v1/status", "", ""))
		want := api.Status{Version: "v-test", Uptime: 3600, Switches: 1, Hosts: 3, Suspects: 1, ActiveBlocks: 1,
			Allowlist: 1, PacketIns: 1234, Probes: 56, Detections: 1, Blocks: 1, LastEventID: 1}
		if got != want {
			t.Fatalf("status:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("empty lists are [] not null", func(t *testing.T) {
		h := api.New(apitest.New(), api.Options{OpenReadsOnLoopback: true})
		for _, p := range []string{"switches", "hosts", "suspects", "blocks", "allowlist", "events"} {
			rec := do(h, loop, "GET", "/api/v1/"+p, "", "")
			if !strings.Contains(rec.Body.String(), `"`+p+`":[]`) {
				t.Errorf("%s: %s", p, rec.Body.String())
			}
		}
	})
}

func jsonRound(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

func TestReadAuthorization(t *testing.T) {
	_, h := newAPI(t)
	closed := api.New(apitest.Demo(), api.Options{Tokens: []string{token}})
	noTokens := api.New(apitest.Demo(), api.Options{})
	tests := []struct {
		name   string
		h      http.Handler
		remote string
		tok    string
		want   int
	}{
		{"loopback open", h, loop, "", 200},
		{"loopback v6 open", h, "[::1]:5555", "", 200},
		{"remote without token", h, remote, "", 401},
		{"remote wrong token", h, remote, "nope", 401},
		{"remote with token", h, remote, token, 200},
		{"remote with second token", h, remote, "other", 200},
		{"reads closed on loopback", closed, loop, "", 401},
		{"reads closed, token", closed, loop, token, 200},
		{"no tokens configured", noTokens, remote, "x", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(tc.h, tc.remote, "GET", "/api/v1/blocks", tc.tok, "")
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			if tc.want >= 400 {
				e := errorOf(t, rec)
				if tc.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if tc.want == 403 && !strings.Contains(e.Message, "api.tokens") {
					t.Errorf("403 message does not say how to configure tokens: %q", e.Message)
				}
			}
		})
	}
	// healthz is always open.
	if rec := do(closed, remote, "GET", "/healthz", "", ""); rec.Code != 200 {
		t.Errorf("healthz closed: %d", rec.Code)
	}
}

func TestBlockAddRemove(t *testing.T) {
	f, h := newAPI(t)
	rec := do(h, loop, "POST", "/api/v1/blocks", token,
		`{"ip":"10.0.0.9","mac":"AA-BB-CC-DD-EE-01","duration":"1h","reason":"ids alert"}`)
	if rec.Code != 201 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body.String())
	}
	b := decode[api.Block](t, rec)
	if b.ID == "" || rec.Header().Get("Location") != "/api/v1/blocks/"+b.ID {
		t.Fatalf("block %+v, Location %q", b, rec.Header().Get("Location"))
	}
	if got := f.Calls(); len(got) != 1 || got[0] != `AddBlock ip=10.0.0.9 mac=aa:bb:cc:dd:ee:01 duration=1h0m0s reason="ids alert"` {
		t.Fatalf("backend calls %q", got)
	}
	if n := len(f.Blocks()); n != 2 {
		t.Fatalf("%d blocks after add", n)
	}
	// IPv4-mapped IPv6 is unmapped; mac alone is fine; no duration means default.
	rec = do(h, loop, "POST", "/api/v1/blocks", token, `{"ip":"::ffff:10.0.0.8"}`)
	if rec.Code != 201 || f.Calls()[1] != `AddBlock ip=10.0.0.8 mac= duration=0s reason=""` {
		t.Fatalf("mapped: %d %q", rec.Code, f.Calls())
	}
	rec = do(h, loop, "DELETE", "/api/v1/blocks/"+b.ID, token, "")
	if rec.Code != 204 || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q", rec.Code, rec.Body.String())
	}
	for _, x := range f.Blocks() {
		if x.ID == b.ID {
			t.Fatal("block still there after DELETE")
		}
	}
	rec = do(h, loop, "DELETE", "/api/v1/blocks/"+b.ID, token, "")
	if rec.Code != 404 || errorOf(t, rec).Code != api.CodeNotFound {
		t.Fatalf("second DELETE: %d %s", rec.Code, rec.Body.String())
	}
}

func TestAllowAddRemove(t *testing.T) {
	f, h := newAPI(t)
	rec := do(h, loop, "POST", "/api/v1/allowlist", token, `{"cidr":"2001:db8::/64","ports":[53,123],"comment":"resolvers"}`)
	if rec.Code != 201 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body.String())
	}
	e := decode[api.AllowEntry](t, rec)
	if e.ID == "" || e.CIDR.String() != "2001:db8::/64" || !reflect.DeepEqual(e.Ports, api.Ports(53, 123)) {
		t.Fatalf("entry %+v", e)
	}
	rec = do(h, loop, "POST", "/api/v1/allowlist", token, `{"cidr":"10.1.2.3"}`)
	if e2 := decode[api.AllowEntry](t, rec); rec.Code != 201 || e2.CIDR.String() != "10.1.2.3/32" {
		t.Fatalf("bare address: %d %+v", rec.Code, e2)
	}
	if rec = do(h, loop, "DELETE", "/api/v1/allowlist/"+e.ID, token, ""); rec.Code != 204 {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body.String())
	}
	if len(f.Allowlist()) != 2 {
		t.Fatalf("allowlist after delete: %+v", f.Allowlist())
	}
	if rec = do(h, loop, "DELETE", "/api/v1/allowlist/nope", token, ""); rec.Code != 404 {
		t.Fatalf("DELETE unknown: %d", rec.Code)
	}
}

// TestBadInputChangesNothing sends every class of bad change request and
// checks the status, that the error object is there, and that the backend
// was not called.
func TestBadInputChangesNothing(t *testing.T) {
	big := `{"ip":"10.0.0.1","reason":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, tok, body string
		status                        int
		code, msgHas                  string
	}{
		{"no token", "POST", "/api/v1/blocks", "", `{"ip":"10.0.0.1"}`, 401, "unauthorized", "bearer"},
		{"wrong token", "POST", "/api/v1/blocks", "s3cret-tokeN", `{"ip":"10.0.0.1"}`, 401, "unauthorized", "not valid"},
		{"token prefix", "POST", "/api/v1/blocks", "s3cret", `{"ip":"10.0.0.1"}`, 401, "unauthorized", ""},
		{"no token delete", "DELETE", "/api/v1/blocks/b1", "", "", 401, "unauthorized", ""},
		{"no token allow", "POST", "/api/v1/allowlist", "", `{"cidr":"10.0.0.0/8"}`, 401, "unauthorized", ""},
		{"no token allow delete", "DELETE", "/api/v1/allowlist/a1", "", "", 401, "unauthorized", ""},
		{"malformed json", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1"`, 400, "bad_request", "malformed JSON"},
		{"not an object", "POST", "/api/v1/blocks", token, `["10.0.0.1"]`, 400, "bad_request", "JSON object"},
		{"trailing data", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1"} {}`, 400, "bad_request", "after the object"},
		{"empty body", "POST", "/api/v1/blocks", token, ``, 400, "bad_request", "empty"},
		{"unknown field", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1","ttl":5}`, 400, "bad_request", `"ttl"`},
		{"wrong type", "POST", "/api/v1/blocks", token, `{"ip":10}`, 400, "bad_request", `"ip"`},
		{"no target", "POST", "/api/v1/blocks", token, `{"reason":"x"}`, 400, "bad_request", "ip and/or mac"},
		{"bad ip", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.256"}`, 400, "bad_request", "ip:"},
		{"cidr as ip", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.0/24"}`, 400, "bad_request", "ip:"},
		{"multicast ip", "POST", "/api/v1/blocks", token, `{"ip":"224.0.0.1"}`, 400, "bad_request", "unicast"},
		{"unspecified ip", "POST", "/api/v1/blocks", token, `{"ip":"::"}`, 400, "bad_request", "unicast"},
		{"zoned ip", "POST", "/api/v1/blocks", token, `{"ip":"fe80::1%eth0"}`, 400, "bad_request", "zone"},
		{"bad mac", "POST", "/api/v1/blocks", token, `{"mac":"aa:bb:cc:dd:ee"}`, 400, "bad_request", "mac:"},
		{"broadcast mac", "POST", "/api/v1/blocks", token, `{"mac":"ff:ff:ff:ff:ff:ff"}`, 400, "bad_request", "unicast"},
		{"zero mac", "POST", "/api/v1/blocks", token, `{"mac":"00:00:00:00:00:00"}`, 400, "bad_request", "unicast"},
		{"bad duration", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1","duration":"forever"}`, 400, "bad_request", "duration"},
		{"negative duration", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1","duration":"-5m"}`, 400, "bad_request", "duration"},
		{"huge duration", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1","duration":"10000h"}`, 400, "bad_request", "duration"},
		{"control chars", "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1","reason":"a\nb"}`, 400, "bad_request", "reason"},
		{"huge body", "POST", "/api/v1/blocks", token, big, 413, "request_too_large", "larger than"},
		{"bad cidr", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/33"}`, 400, "bad_request", "cidr"},
		{"cidr host bits", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.5/24"}`, 400, "bad_request", "10.0.0.0/24"},
		{"cidr missing", "POST", "/api/v1/allowlist", token, `{"comment":"x"}`, 400, "bad_request", "cidr is required"},
		{"cidr garbage", "POST", "/api/v1/allowlist", token, `{"cidr":"example.com"}`, 400, "bad_request", "cidr"},
		{"bad port", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":[0]}`, 400, "bad_request", "port"},
		{"port too big", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":[65536]}`, 400, "bad_request", "port"},
		{"backwards range", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":["90-80"]}`, 400, "bad_request", "ports: port range \"90-80\" is backwards"},
		{"two ranges in one", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":["22,80"]}`, 400, "bad_request", "one port or range per element"},
		{"ports not a list", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":22}`, 400, "bad_request", "ports: want a list"},
		{"port fraction", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","ports":[2.5]}`, 400, "bad_request", "ports: 2.5 is not a port"},
		{"allow id given", "POST", "/api/v1/allowlist", token, `{"id":"x","cidr":"10.0.0.0/8"}`, 400, "bad_request", `"id"`},
		{"allow huge body", "POST", "/api/v1/allowlist", token, `{"cidr":"10.0.0.0/8","comment":"` + strings.Repeat("y", 70000) + `"}`, 413, "request_too_large", ""},
		{"wrong method", "PUT", "/api/v1/blocks", token, `{"ip":"10.0.0.1"}`, 405, "method_not_allowed", "PUT"},
		{"wrong method on id", "POST", "/api/v1/blocks/b1", token, `{}`, 405, "method_not_allowed", ""},
		{"wrong method switches", "DELETE", "/api/v1/switches", token, "", 405, "method_not_allowed", ""},
		{"unknown route", "GET", "/api/v1/nope", token, "", 404, "not_found", "/api/v1/nope"},
		{"long id", "DELETE", "/api/v1/blocks/" + strings.Repeat("z", 200), token, "", 400, "bad_request", "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, h := newAPI(t)
			before := snapshot(f)
			rec := do(h, loop, tc.method, tc.path, tc.tok, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			e := errorOf(t, rec)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			if !strings.Contains(e.Message, tc.msgHas) {
				t.Errorf("message %q does not contain %q", e.Message, tc.msgHas)
			}
			if tc.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("backend was called: %q", calls)
			}
			if after := snapshot(f); after != before {
				t.Errorf("state changed:\n%s\n%s", before, after)
			}
		})
	}
}

func snapshot(f *apitest.Fake) string {
	b, _ := json.Marshal([]any{f.Blocks(), f.Allowlist(), f.Events(api.EventFilter{})})
	return string(b)
}

func TestChangesRefusedWithoutTokens(t *testing.T) {
	f := apitest.Demo()
	h := api.New(f, api.Options{OpenReadsOnLoopback: true})
	rec := do(h, loop, "POST", "/api/v1/blocks", "anything", `{"ip":"10.0.0.1"}`)
	if rec.Code != 403 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	if e := errorOf(t, rec); !strings.Contains(e.Message, "no API tokens are configured") {
		t.Errorf("message %q", e.Message)
	}
	if len(f.Calls()) != 0 {
		t.Error("backend called")
	}
	// Reads on loopback still work.
	if rec := do(h, loop, "GET", "/api/v1/blocks", "", ""); rec.Code != 200 {
		t.Errorf("read: %d", rec.Code)
	}
}

func TestBackendErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
		shown  bool
	}{
		{fmt.Errorf("10.0.0.1 is on the never-block list: %w", api.ErrConflict), 409, "conflict", true},
		{fmt.Errorf("scope: %w", api.ErrInvalid), 400, "bad_request", true},
		{fmt.Errorf("no switch connected: %w", api.ErrUnavailable), 503, "unavailable", true},
		{errors.New("bolt: disk on fire at /var/lib/x"), 500, "internal", false},
	}
	for _, tc := range tests {
		f, h := newAPI(t)
		f.SetErr(tc.err)
		rec := do(h, loop, "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.1"}`)
		if rec.Code != tc.status {
			t.Errorf("%v: status %d want %d", tc.err, rec.Code, tc.status)
			continue
		}
		e := errorOf(t, rec)
		if e.Code != tc.code || strings.Contains(e.Message, tc.err.Error()) != tc.shown {
			t.Errorf("%v: got %+v", tc.err, e)
		}
	}
}

func TestEventsPaging(t *testing.T) {
	f, h := newAPI(t)
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for i := range 25 {
		typ := "scan_detected"
		if i%5 == 0 {
			typ = "blocked"
		}
		f.Publish(api.Event{Type: typ, Time: base.Add(time.Duration(i) * time.Minute)})
	}
	get := func(q string) api.EventPage {
		t.Helper()
		rec := do(h, loop, "GET", "/api/v1/events"+q, "", "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
		return decode[api.EventPage](t, rec)
	}
	ids := func(p api.EventPage) []uint64 {
		var out []uint64
		for _, e := range p.Events {
			out = append(out, e.ID)
		}
		return out
	}
	p := get("?limit=10")
	if !reflect.DeepEqual(ids(p), []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) || !p.More || p.NextAfterID != 10 {
		t.Fatalf("page 1: %v more=%v next=%d", ids(p), p.More, p.NextAfterID)
	}
	p = get("?limit=10&after_id=20")
	if !reflect.DeepEqual(ids(p), []uint64{21, 22, 23, 24, 25}) || p.More || p.NextAfterID != 25 {
		t.Fatalf("last page: %v more=%v next=%d", ids(p), p.More, p.NextAfterID)
	}
	p = get("?limit=10&after_id=25")
	if len(p.Events) != 0 || p.More || p.NextAfterID != 25 {
		t.Fatalf("past the end: %+v", p)
	}
	p = get("?limit=3&newest=true")
	if !reflect.DeepEqual(ids(p), []uint64{23, 24, 25}) || p.More || p.NextAfterID != 25 {
		t.Fatalf("newest: %v more=%v next=%d", ids(p), p.More, p.NextAfterID)
	}
	p = get("?limit=2&newest=1&type=blocked")
	if !reflect.DeepEqual(ids(p), []uint64{16, 21}) {
		t.Fatalf("newest blocked: %v", ids(p))
	}
	p = get("?type=blocked")
	if !reflect.DeepEqual(ids(p), []uint64{1, 6, 11, 16, 21}) {
		t.Fatalf("type filter: %v", ids(p))
	}
	p = get("?type=blocked,scan_detected&limit=3")
	if !reflect.DeepEqual(ids(p), []uint64{1, 2, 3}) {
		t.Fatalf("two types: %v", ids(p))
	}
	p = get("?since=" + base.Add(10*time.Minute).Format(time.RFC3339) + "&until=" + base.Add(13*time.Minute).Format(time.RFC3339))
	if !reflect.DeepEqual(ids(p), []uint64{11, 12, 13}) {
		t.Fatalf("time window: %v", ids(p))
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?after_id=-1", "?since=yesterday",
		"?type=a%20b", "?newest=maybe", "?since=2026-01-02T04:00:00Z&until=2026-01-02T03:00:00Z"} {
		rec := do(h, loop, "GET", "/api/v1/events"+q, "", "")
		if rec.Code != 400 {
			t.Errorf("%s: status %d", q, rec.Code)
			continue
		}
		errorOf(t, rec)
	}
}

func TestMetricsAndDashboardMounts(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "portcullis_up 1\n") })
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard "+r.URL.Path) })
	h := api.New(apitest.Demo(), api.Options{Tokens: []string{token}, OpenReadsOnLoopback: true, MetricsHandler: metrics, Dashboard: dash})
	if rec := do(h, loop, "GET", "/metrics", "", ""); rec.Code != 200 || rec.Body.String() != "portcullis_up 1\n" {
		t.Errorf("metrics: %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(h, remote, "GET", "/metrics", "", ""); rec.Code != 401 {
		t.Errorf("metrics from remote without token: %d", rec.Code)
	}
	if rec := do(h, remote, "GET", "/", "", ""); rec.Code != 200 || rec.Body.String() != "dashboard /" {
		t.Errorf("dashboard: %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(h, loop, "GET", "/app.js", "", ""); rec.Body.String() != "dashboard /app.js" {
		t.Errorf("dashboard asset: %q", rec.Body.String())
	}
	if rec := do(h, loop, "POST", "/", token, "{}"); rec.Code != 405 {
		t.Errorf("POST /: %d", rec.Code)
	}
	if rec := do(h, loop, "GET", "/api/v1/nope", "", ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), "not_found") {
		t.Errorf("unknown api route with a dashboard: %d %q", rec.Code, rec.Body.String())
	}
	// Without a metrics handler, /metrics is not found.
	_, h2 := newAPI(t)
	if rec := do(h2, loop, "GET", "/metrics", "", ""); rec.Code != 404 {
		t.Errorf("metrics without handler: %d", rec.Code)
	}
}

func TestStreamDeliversEvents(t *testing.T) {
	f, h := newAPI(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	old := f.Publish(api.Event{Type: "switch_up", DPID: api.FormatDPID(1)})

	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v1/events/stream?type=blocked,unblocked", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	waitFor(t, func() bool { return f.Subscribers() == 1 })
	f.Publish(api.Event{Type: "scan_detected", IP: "10.0.0.2"}) // filtered out
	want := f.Publish(api.Event{Type: "blocked", IP: "10.0.0.2", BlockID: "b9", Evidence: []string{"x"}})

	got, id := readSSE(t, bufio.NewReader(resp.Body))
	if id != fmt.Sprint(want.ID) || got.ID != want.ID || got.Type != "blocked" || got.BlockID != "b9" || got.IP != "10.0.0.2" {
		t.Fatalf("got %+v (id %q), want %+v", got, id, want)
	}
	_ = old

	// Reconnect with Last-Event-ID: the recorded events after it are replayed.
	req2, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/api/v1/events/stream", nil)
	req2.Header.Set("Last-Event-ID", fmt.Sprint(old.ID))
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	br := bufio.NewReader(resp2.Body)
	e1, _ := readSSE(t, br)
	e2, _ := readSSE(t, br)
	if e1.Type != "scan_detected" || e2.Type != "blocked" {
		t.Fatalf("replay: %+v %+v", e1, e2)
	}

	// The subscription ends when the client goes away.
	resp.Body.Close()
	resp2.Body.Close()
	waitFor(t, func() bool { return f.Subscribers() == 0 })
}

func TestStreamNeedsAuthFromRemote(t *testing.T) {
	_, h := newAPI(t)
	rec := do(h, remote, "GET", "/api/v1/events/stream", "", "")
	if rec.Code != 401 {
		t.Fatalf("status %d", rec.Code)
	}
	if rec := do(h, loop, "GET", "/api/v1/events/stream?type=bad%20type", "", ""); rec.Code != 400 {
		t.Fatalf("bad filter: %d", rec.Code)
	}
}

// readSSE reads one data event (skipping comments and retry lines).
func readSSE(t *testing.T, br *bufio.Reader) (api.Event, string) {
	t.Helper()
	var id, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && data != "":
			var e api.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			return e, id
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDPID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"00:00:00:00:00:00:00:01", 1, true},
		{"00:00:aa:bb:cc:dd:ee:ff", 0xaabbccddeeff, true},
		{"0000aabbccddeeff", 0xaabbccddeeff, true},
		{"42", 0, false}, // decimal is ambiguous
		{"0x2a", 0, false},
		{"00:00:00:00:00:00:01", 0, false},
		{"00:00:00:00:00:00:00:1", 0, false},
		{"zz", 0, false},
	} {
		got, err := api.ParseDPID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDPID(%q) = %d, %v", tc.in, got, err)
		}
		if tc.ok && !strings.Contains(tc.in, ":") && api.FormatDPID(got) != tc.in {
			t.Errorf("FormatDPID(%d) = %q", got, api.FormatDPID(got))
		}
	}
}

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"02:00:00:00:00:01", "02:00:00:00:00:01"},
		{"AA-BB-CC-DD-EE-FE", "aa:bb:cc:dd:ee:fe"},
		{"aabb.ccdd.eefe", "aa:bb:cc:dd:ee:fe"},
		{"01:00:5e:00:00:01", ""},
		{"02:00:00:00:00:0g", ""},
		{"02:00:00-00:00:01", ""},
		{"", ""},
	} {
		got, err := api.ParseMAC(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseMAC(%q) = %q, %v", tc.in, got, err)
		}
	}
}
