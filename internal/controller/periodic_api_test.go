package controller

import (
	"testing"

	"portcullis/internal/api"
	"portcullis/internal/store"
)

// The status counts are those of the lists they stand for, and the hosts
// route selects a switch and a page: what the dashboard of a large network
// asks for instead of the lists (periodic_api.go).
func TestCountsAndHostFilter(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	s2 := h.connect(2, 3)
	s1 := h.connect(1, 3)
	s1.learn(hostA)
	s1.learn(hostB)
	c := newHost(20, 1)
	s2.learn(c)

	var st api.Status
	h.get("/api/v1/status", &st)
	if st.Switches != 2 || st.Hosts != 3 || st.Hosts != len(h.hosts()) || st.ActiveBlocks != 0 {
		t.Errorf("status %+v, want 2 switches and the 3 hosts listed", st)
	}
	if n := h.c.Counts(); n.Switches != len(h.c.Switches()) || n.Hosts != len(h.c.Hosts()) ||
		n.Suspects != len(h.c.Suspects()) || n.Allowlist != len(h.c.Allowlist()) || n.LastEventID != h.c.bus.LastID() {
		t.Errorf("counts %+v do not match the lists", n)
	}

	var one api.HostList
	h.get("/api/v1/hosts?dpid=0000000000000002", &one)
	if len(one.Hosts) != 1 || one.Hosts[0].MAC != c.macString() || one.Total != 1 || one.More {
		t.Errorf("hosts of switch 2: %+v, want %s alone", one, c.macString())
	}
	var page api.HostList
	h.get("/api/v1/hosts?limit=2", &page)
	if len(page.Hosts) != 2 || page.Total != 3 || !page.More {
		t.Errorf("a page of 2: %+v, want 2 of 3", page)
	}
	for _, x := range page.Hosts {
		if x.DPID != api.FormatDPID(1) {
			t.Errorf("a page of 2 holds %s of %s: switches come by datapath id", x.MAC, x.DPID)
		}
	}
	var none api.HostList
	h.get("/api/v1/hosts?dpid=0000000000000009", &none)
	if len(none.Hosts) != 0 || none.Total != 0 {
		t.Errorf("hosts of an unknown switch: %+v", none)
	}
	// Without a query the list is the whole one, switches by datapath id.
	all := h.hosts()
	if len(all) != 3 || all[2].DPID != api.FormatDPID(2) {
		t.Errorf("all hosts: %+v", all)
	}
}
