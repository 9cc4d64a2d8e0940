package api_test

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"portcullis/internal/allow"
	"portcullis/internal/api"
)

// Issue 12: the allowlist shows an entry as configured. A range is a range on the wire, not the
// first 64 of its ports, and reads back as the same entry.
func TestAllowlistShowsRanges(t *testing.T) {
	f, h := newAPI(t)
	cfg, err := allow.Parse("[2001:db8::/32]:22,1024-65535")
	if err != nil {
		t.Fatal(err)
	}
	f.SetAllowlist([]api.AllowEntry{{ID: "cfg-1", CIDR: cfg.Prefix, Ports: cfg.Ports, Comment: "from config"}})
	rec := do(h, loop, "GET", "/api/v1/allowlist", "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ports":[22,"1024-65535"]`) {
		t.Fatalf("GET: %d %s; want ports [22,\"1024-65535\"]", rec.Code, rec.Body.String())
	}
	l := decode[api.AllowList](t, rec)
	if len(l.Allowlist) != 1 || allow.FormatPorts(l.Allowlist[0].Ports) != "22,1024-65535" {
		t.Fatalf("GET decoded: %+v", l)
	}

	// A run-time entry may hold ranges too, and comes back as it went in.
	rec = do(h, loop, "POST", "/api/v1/allowlist", token, `{"cidr":"192.0.2.0/24","ports":[53,"8000-8100"," 443 "]}`)
	if rec.Code != 201 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body.String())
	}
	want := api.PortRanges{{Lo: 53, Hi: 53}, {Lo: 8000, Hi: 8100}, {Lo: 443, Hi: 443}}
	if e := decode[api.AllowEntry](t, rec); !reflect.DeepEqual(e.Ports, want) || e.CIDR != netip.MustParsePrefix("192.0.2.0/24") {
		t.Fatalf("POST answered %+v; want ports %v", e, want)
	}
}

func TestPortRangesJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // marshalled back; "" for an error
	}{
		{`[53,123]`, `[53,123]`},
		{`[22,"8000-8100"]`, `[22,"8000-8100"]`},
		{`["443"]`, `[443]`},
		{`[1,65535,"1-65535"]`, `[1,65535,"1-65535"]`},
		{`[]`, `[]`},
		{`[0]`, ""},
		{`["0-5"]`, ""},
		{`["8100-8000"]`, ""},
		{`[65536]`, ""},
		{`[-1]`, ""},
		{`[1e3]`, ""},
		{`[true]`, ""},
		{`{"lo":1}`, ""},
		{`[` + strings.Repeat(`1,`, api.MaxAllowPorts) + `1]`, ""},
	} {
		var p api.PortRanges
		err := json.Unmarshal([]byte(c.in), &p)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s accepted as %v", c.in, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if b, _ := json.Marshal(p); string(b) != c.want {
			t.Errorf("%s -> %v -> %s, want %s", c.in, p, b, c.want)
		}
	}
}
