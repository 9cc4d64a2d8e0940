package api_test

import (
	"fmt"
	"strings"
	"testing"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

// hostsOf returns a Fake with n switches of k hosts each.
func hostsOf(n, k int) *apitest.Fake {
	f := apitest.New()
	var sws []api.Switch
	var hs []api.Host
	for s := 1; s <= n; s++ {
		sws = append(sws, api.Switch{DPID: api.FormatDPID(uint64(s)), DatapathID: uint64(s)})
		for h := 1; h <= k; h++ {
			hs = append(hs, api.Host{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", s, h), DPID: api.FormatDPID(uint64(s)), Port: uint32(h)})
		}
	}
	f.SetSwitches(sws)
	f.SetHosts(hs)
	return f
}

// GET /api/v1/hosts?dpid=&limit= selects a switch's hosts and a page, and
// says how many match; without them the answer is the whole list, as
// before (no total, no more).
func TestHostsFilter(t *testing.T) {
	h := api.New(hostsOf(3, 4), api.Options{OpenReadsOnLoopback: true})
	for _, tc := range []struct {
		query       string
		n, total    int
		more        bool
		onlySwitch  string
		plainAnswer bool
	}{
		{"", 12, 0, false, "", true},
		{"?dpid=0000000000000002", 4, 4, false, "0000000000000002", false},
		{"?dpid=00:00:00:00:00:00:00:03", 4, 4, false, "0000000000000003", false},
		{"?dpid=0000000000000009", 0, 0, false, "", false},
		{"?limit=5", 5, 12, true, "", false},
		{"?limit=12", 12, 12, false, "", false},
		{"?dpid=0000000000000001&limit=3", 3, 4, true, "0000000000000001", false},
	} {
		rec := do(h, loop, "GET", "/api/v1/hosts"+tc.query, "", "")
		body := rec.Body.String()
		got := decode[api.HostList](t, rec)
		if rec.Code != 200 || len(got.Hosts) != tc.n || got.Total != tc.total || got.More != tc.more {
			t.Errorf("%q: %d, %d hosts, total %d, more %v; want %d, %d, %v", tc.query, rec.Code, len(got.Hosts), got.Total, got.More,
				tc.n, tc.total, tc.more)
		}
		for _, x := range got.Hosts {
			if tc.onlySwitch != "" && x.DPID != tc.onlySwitch {
				t.Errorf("%q: host of %s", tc.query, x.DPID)
			}
		}
		plain := !strings.Contains(body, `"total"`) && !strings.Contains(body, `"more"`)
		if tc.plainAnswer && !plain || !tc.plainAnswer && tc.total > 0 && plain {
			t.Errorf("%q: body %s", tc.query, body)
		}
	}
	for _, q := range []string{"?dpid=zz", "?dpid=", "?dpid=1", "?limit=0", "?limit=-1", "?limit=x", fmt.Sprintf("?limit=%d", api.MaxHostLimit+1)} {
		rec := do(h, loop, "GET", "/api/v1/hosts"+q, "", "")
		if q == "?dpid=" {
			if rec.Code != 200 {
				t.Errorf("%q: %d, want 200 (empty is no filter)", q, rec.Code)
			}
			continue
		}
		if e := errorOf(t, rec); rec.Code != 400 || e.Code != api.CodeBadRequest {
			t.Errorf("%q: %d %+v, want 400", q, rec.Code, e)
		}
	}
}

// countingFake is a Fake that keeps its counts (api.Counter) and hosts by
// filter (api.HostQuerier), and records which it was asked.
type countingFake struct {
	*apitest.Fake
	asked []string
}

func (f *countingFake) Counts() api.Counts {
	f.asked = append(f.asked, "Counts")
	return api.Counts{Switches: 7, Hosts: 70, Suspects: 3, ActiveBlocks: 2, Allowlist: 1, LastEventID: 42}
}

func (f *countingFake) HostsFiltered(hf api.HostFilter) ([]api.Host, int) {
	f.asked = append(f.asked, fmt.Sprintf("HostsFiltered %d %v %d", hf.DPID, hf.HasDPID, hf.Limit))
	return []api.Host{{MAC: "02:00:00:00:00:01", DPID: api.FormatDPID(hf.DPID)}}, 10
}

func (f *countingFake) Hosts() []api.Host {
	f.asked = append(f.asked, "Hosts")
	return f.Fake.Hosts()
}

// A backend that keeps its counts answers status from them, and one that
// selects hosts answers the filtered route, without building the lists.
func TestStatusFromCounts(t *testing.T) {
	f := &countingFake{Fake: hostsOf(2, 2)}
	h := api.New(f, api.Options{OpenReadsOnLoopback: true, Version: "v"})
	got := decode[api.Status](t, do(h, loop, "GET", "/api/v1/status", "", ""))
	if got.Switches != 7 || got.Hosts != 70 || got.Suspects != 3 || got.ActiveBlocks != 2 || got.Allowlist != 1 || got.LastEventID != 42 {
		t.Errorf("status %+v, want the backend's counts", got)
	}
	l := decode[api.HostList](t, do(h, loop, "GET", "/api/v1/hosts?dpid=0000000000000005&limit=1", "", ""))
	if len(l.Hosts) != 1 || l.Total != 10 || !l.More {
		t.Errorf("hosts %+v", l)
	}
	if want := []string{"Counts", "HostsFiltered 5 true 1"}; fmt.Sprint(f.asked) != fmt.Sprint(want) {
		t.Errorf("backend asked %q, want %q", f.asked, want)
	}
}
