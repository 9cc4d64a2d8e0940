package controller

import (
	"slices"
	"sync"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/forward"
)

// What the API asks often, at the cost of what it shows rather than of
// the network's size (issue 9, item 4; BenchmarkPeriodicAt1000): the
// status counts from what the controller keeps, hosts by switch and page,
// and the suspects list from one detector walk however many dashboards
// poll it.

var (
	_ api.Counter     = (*Controller)(nil)
	_ api.HostQuerier = (*Controller)(nil)
)

// Counts are the status counts: each switch's station count (its lock for
// a counter, not a copy of its table), the engine's block count as of
// its last Ready, the suspects of the last detector walk (suspectsFresh).
func (c *Controller) Counts() api.Counts {
	n := api.Counts{ActiveBlocks: int(c.activeN.Load()), Suspects: len(c.suspects()), LastEventID: c.bus.LastID()}
	c.mu.Lock()
	n.Allowlist = len(c.allow)
	c.mu.Unlock()
	sws := c.sessionsSnapshot()
	n.Switches = len(sws)
	for _, sw := range sws {
		sw.mu.Lock()
		n.Hosts += sw.fwd.Stats().Hosts
		sw.mu.Unlock()
	}
	return n
}

// HostsFiltered returns the hosts of the switches f selects, by datapath id
// and within a switch most recently seen first, at most f.Limit of them,
// and how many there are in all. A switch's table is copied (under its
// lock) only while the page has room; the others are counted.
func (c *Controller) HostsFiltered(f api.HostFilter) ([]api.Host, int) {
	var sws []*switchState
	if f.HasDPID {
		if sw := c.switchByDPID(f.DPID); sw != nil {
			sws = []*switchState{sw}
		}
	} else {
		sws = c.sessionsSnapshot()
		slices.SortFunc(sws, func(a, b *switchState) int { return cmpU64(a.dpid, b.dpid) })
	}
	out := []api.Host{}
	total := 0
	for _, sw := range sws {
		var hs []forward.Host
		room := f.Limit == 0 || len(out) < f.Limit
		sw.mu.Lock()
		total += sw.fwd.Stats().Hosts
		if room {
			hs = sw.fwd.Hosts()
		}
		sw.mu.Unlock()
		out = appendHosts(out, sw.dpid, hs, f.Limit)
	}
	return out, total
}

// appendHosts appends the API's form of a switch's hosts to out, up to
// limit hosts in out (0: all).
func appendHosts(out []api.Host, dpid uint64, hs []forward.Host, limit int) []api.Host {
	if len(hs) == 0 {
		return out
	}
	d := fmtDPID(dpid)
	for _, h := range hs {
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, api.Host{MAC: macString(h.MAC), IPs: addrStrings(h.IPs), DPID: d, Port: h.Port, LastSeen: h.LastSeen})
	}
	return out
}

// suspectsFresh is how long a detector walk for the suspects list serves
// every caller: the walk holds the lock watch copies take, over up to
// MaxActors actors, and a dashboard asks twice a poll (status, suspects).
const suspectsFresh = 250 * time.Millisecond

// suspectMemo is the last suspects list and when it was made (wall clock:
// it bounds work, not what detection decides).
type suspectMemo struct {
	mu   sync.Mutex
	at   time.Time
	list []api.Suspect
}

// suspects returns the suspects list, walking the detector at most once
// per suspectsFresh; callers must not modify it.
func (c *Controller) suspects() []api.Suspect {
	m := &c.sus
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.list != nil && time.Since(m.at) < suspectsFresh {
		return m.list
	}
	ss := c.det.Suspects(c.now())
	out := make([]api.Suspect, 0, len(ss))
	for _, s := range ss {
		out = append(out, api.Suspect{DPID: fmtDPID(s.Source.DPID), Port: s.Source.Port, MAC: macString(s.Source.MAC),
			IPs: addrStrings(s.IPs), Score: s.Score, Kind: string(s.Kind), Failures: s.Failures,
			Successes: s.Successes, Probes: s.Probes, LastSeen: s.LastSeen})
	}
	m.list, m.at = out, time.Now()
	return out
}
