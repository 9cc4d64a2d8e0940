package api

import (
	"fmt"
	"net/http"
	"strconv"
)

// What a large network asks of a Backend: counts it keeps, so that
// GET /api/v1/status does not build every list to count it, and hosts by
// switch and page, so that a dashboard of a thousand switches asks for the
// hosts it draws, not the whole network's every poll. Both are optional:
// a Backend without them is served from its lists, as before.

// Counts are the numbers GET /api/v1/status shows.
type Counts struct {
	Switches     int
	Hosts        int
	Suspects     int
	ActiveBlocks int
	Allowlist    int
	LastEventID  uint64 // the id of the last event recorded, 0 if none
}

// Counter is implemented by a Backend that keeps its counts. Counts must
// not cost what building the lists costs: it is asked on every status
// request.
type Counter interface {
	Counts() Counts
}

// HostFilter selects hosts (GET /api/v1/hosts?dpid=&limit=). Zero fields
// do not filter.
type HostFilter struct {
	DPID    uint64 // only the hosts of this switch, if HasDPID
	HasDPID bool
	Limit   int // at most Limit hosts; 0 = no limit
}

// HostQuerier is implemented by a Backend that can select hosts without
// building the whole list. HostsFiltered returns the hosts that match f (at
// most f.Limit of them) and how many match in all.
type HostQuerier interface {
	HostsFiltered(f HostFilter) (hosts []Host, total int)
}

// MaxHostLimit is the largest ?limit= of GET /api/v1/hosts.
const MaxHostLimit = 100000

// parseHostQuery reads dpid (dpid.Parse's forms) and limit.
func parseHostQuery(q map[string][]string) (HostFilter, bool, error) {
	var f HostFilter
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if v := get("dpid"); v != "" {
		id, err := ParseDPID(v)
		if err != nil {
			return f, false, fmt.Errorf("dpid: want a datapath id such as 0000000000000001, got %q", v)
		}
		f.DPID, f.HasDPID = id, true
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHostLimit {
			return f, false, fmt.Errorf("limit: want a number from 1 to %d, got %q", MaxHostLimit, v)
		}
		f.Limit = n
	}
	return f, f.HasDPID || f.Limit > 0, nil
}

func (s *server) hosts(w http.ResponseWriter, r *http.Request) {
	f, filtered, err := parseHostQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	if !filtered {
		writeJSON(w, http.StatusOK, HostList{Hosts: nonNil(s.b.Hosts())})
		return
	}
	var hs []Host
	var total int
	if hq, ok := s.b.(HostQuerier); ok {
		hs, total = hq.HostsFiltered(f)
	} else {
		hs, total = FilterHosts(s.b.Hosts(), f)
	}
	writeJSON(w, http.StatusOK, HostList{Hosts: nonNil(hs), Total: total, More: len(hs) < total})
}

// FilterHosts returns the hosts of all that match f, at most f.Limit of
// them, and how many match in all. It does not modify all.
func FilterHosts(all []Host, f HostFilter) ([]Host, int) {
	var want string
	if f.HasDPID {
		want = FormatDPID(f.DPID)
	}
	out := []Host{}
	total := 0
	for _, h := range all {
		if f.HasDPID && h.DPID != want {
			continue
		}
		total++
		if f.Limit == 0 || len(out) < f.Limit {
			out = append(out, h)
		}
	}
	return out, total
}

// counts returns the status counts: the backend's own if it keeps them,
// else the lengths of its lists.
func (s *server) counts() Counts {
	if c, ok := s.b.(Counter); ok {
		return c.Counts()
	}
	n := Counts{Switches: len(s.b.Switches()), Hosts: len(s.b.Hosts()), Suspects: len(s.b.Suspects()),
		ActiveBlocks: len(s.b.Blocks()), Allowlist: len(s.b.Allowlist())}
	if ev := s.b.Events(EventFilter{Limit: 1, Newest: true}); len(ev) > 0 {
		n.LastEventID = ev[len(ev)-1].ID
	}
	return n
}
