package controller

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/config"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// floodConfig is testConfig with a SYN-flood rule quick to trip: 1000 SYNs/s
// for 1 s.
func floodConfig(t testing.TB) config.Config {
	cfg := testConfig(t)
	cfg.Detect.Flood.SYNRate = 1000
	cfg.Detect.Flood.Sustain = time.Second
	return cfg
}

// synRates makes fs play a switch's SYN counter flows from now on: port's
// counter grows by perSec[port] packets per second of real time.
func (fs *fakeSwitch) synRates(perSec map[uint32]int64) {
	start := time.Now()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.statsFn = func() []ofp.FlowStats {
		var out []ofp.FlowStats
		for port, rate := range perSec {
			n := uint64(float64(rate) * time.Since(start).Seconds())
			// The IPv4 and IPv6 flows of the port: the v6 one counts nothing.
			out = append(out, ofp.FlowStats{Cookie: policy.SYNCountCookie(port), PacketCount: n},
				ofp.FlowStats{Cookie: policy.SYNCountCookie(port), PacketCount: 0})
		}
		return out
	}
}

// Every port gets SYN counter flows; a port whose counter climbs faster than
// detect.flood.syn_rate for detect.flood.sustain gets its one station
// blocked (kind syn-flood), a port below the rate does not.
func TestSYNFloodBlocksTheFlooder(t *testing.T) {
	cfg := floodConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 4)
	for p := uint32(1); p <= 4; p++ {
		fs.waitFor(0, "the SYN counter flows of a port", func(r ofconntest.Received) bool {
			fm, ok := flowMod(r)
			return ok && fm.Cookie == policy.SYNCountCookie(p) && fm.Command == ofp.FlowAdd && fm.TableID == 0
		})
	}
	flooder, busy := newHost(1, 1), newHost(2, 2)
	fs.learn(flooder)
	fs.learn(busy)
	fs.synRates(map[uint32]int64{
		1: 50_000, // hping3 --flood -S
		2: 600,    // a busy client, under the threshold
	})

	eventually(t, "a block of the flooder", func() bool { return len(h.blocks()) > 0 })
	time.Sleep(2 * time.Second) // long enough for a wrong verdict against port 2
	bs := h.blocks()
	if len(bs) != 1 {
		t.Fatalf("blocks: %+v", bs)
	}
	b := bs[0]
	if b.Kind != "syn-flood" || b.MAC != flooder.macString() || b.Port != 1 {
		t.Fatalf("block %+v, want kind syn-flood for %s on port 1", b, flooder.macString())
	}
	if !strings.Contains(b.Reason, "SYN flood") {
		t.Errorf("reason %q", b.Reason)
	}
	fs.waitFor(0, "the flooder's drop flow", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && fm.TableID == 0 && fm.Command == ofp.FlowAdd && fm.Priority == 40000
	})
	// The operator can graph and alert on the highest port SYN rate.
	code, body := h.call("GET", "/metrics", testToken, nil)
	var rate float64
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "portcullis_detect_port_syn_rate_max "); ok {
			rate, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if code != 200 || rate < 1000 {
		t.Errorf("GET /metrics: %d, portcullis_detect_port_syn_rate_max %v, want the flood's rate", code, rate)
	}
}

// A port with two stations behind it (a downstream switch, an edge
// network's LAN port): the port's counter cannot say which one floods, so
// the controller counts each station's SYNs for a while and blocks the one
// whose own counter shows the flood, never the other.
func TestSYNFloodBehindSharedPortFindsTheSender(t *testing.T) {
	cfg := floodConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 4)
	quiet, flooder := newHost(1, 3), newHost(2, 3)
	fs.learn(quiet)
	fs.learn(flooder)
	fs.synRates(map[uint32]int64{3: 50_000})

	ids := map[[6]byte]uint32{}
	eventually(t, "station counters for both stations", func() bool {
		for _, r := range fs.recorded(0) {
			fm, ok := flowMod(r)
			if !ok || fm.Command != ofp.FlowAdd || fm.TableID != 0 {
				continue
			}
			id, ok := policy.SYNCountStation(fm.Cookie)
			src, has := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthSrc)
			if ok && has && fm.HardTimeout > 0 && fm.Priority == policy.PrioritySYNCountStation {
				ids[[6]byte(src.Value)] = id
			}
		}
		return len(ids) == 2
	})
	if len(h.blocks()) != 0 {
		t.Fatalf("blocked before the station counters spoke: %+v", h.blocks())
	}
	found := false
	for _, e := range h.events("scan_detected") {
		found = found || e.Kind == "syn-flood" && e.Reason == "unattributed" && strings.Contains(e.Message, "2 stations behind the port")
	}
	if !found {
		t.Errorf("no event says the port's flood is being narrowed down: %+v", h.events("scan_detected"))
	}

	// The flooder's own counter climbs; the quiet station's stays still.
	start := time.Now()
	fs.mu.Lock()
	fs.statsFn = func() []ofp.FlowStats {
		n := uint64(50_000 * time.Since(start).Seconds())
		return []ofp.FlowStats{
			{Cookie: policy.SYNCountCookie(3), PacketCount: 10},
			{Cookie: policy.SYNCountStationCookie(ids[flooder.mac]), PacketCount: n},
			{Cookie: policy.SYNCountStationCookie(ids[quiet.mac]), PacketCount: 3},
		}
	}
	fs.mu.Unlock()
	eventually(t, "a block of the flooding station", func() bool { return len(h.blocks()) > 0 })
	time.Sleep(1500 * time.Millisecond) // room for a wrong second verdict
	bs := h.blocks()
	if len(bs) != 1 || bs[0].MAC != flooder.macString() || bs[0].Kind != "syn-flood" {
		t.Fatalf("blocks %+v, want one syn-flood block of %s", bs, flooder.macString())
	}
	if !strings.Contains(bs[0].Reason, "station "+flooder.macString()+" behind switch port 3") {
		t.Errorf("reason %q does not name the station and port", bs[0].Reason)
	}
}

// A port with no station learned behind it: reported, nobody blocked.
func TestSYNFloodFromUnknownStationIsReported(t *testing.T) {
	h := startController(t, floodConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.synRates(map[uint32]int64{4: 50_000})
	eventually(t, "the unattributed flood event", func() bool {
		for _, e := range h.events("scan_detected") {
			if e.Kind == "syn-flood" && e.Reason == "unattributed" && e.Port == 4 && strings.Contains(e.Message, "no station") {
				return true
			}
		}
		return false
	})
	if bs := h.blocks(); len(bs) != 0 {
		t.Fatalf("blocked without attribution: %+v", bs)
	}
}

// A flood that starts during the start-up grace period is blocked once the
// period is over (not forgotten as an episode already decided).
func TestSYNFloodDuringGraceIsBlockedAfterIt(t *testing.T) {
	cfg := floodConfig(t)
	cfg.Detect.GracePeriod = 2 * time.Second
	h := startController(t, cfg, store.NewMemory())
	start := time.Now()
	fs := h.connect(0x1, 2)
	flooder := newHost(1, 1)
	fs.learn(flooder)
	fs.synRates(map[uint32]int64{1: 50_000})
	eventually(t, "a block of the flooder after the grace period", func() bool { return len(h.blocks()) > 0 })
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("blocked %v after start, inside the 2 s grace period", took)
	}
	if b := h.blocks()[0]; b.Kind != "syn-flood" || b.MAC != flooder.macString() {
		t.Errorf("block %+v", b)
	}
}

// A flood entering at a router's port (its frames carry many source
// addresses: an uplink, or a host spoofing random sources) is reported, and
// the router is not blocked: the counter cannot tell who behind it floods.
func TestSYNFloodThroughRouterIsNotBlocked(t *testing.T) {
	cfg := floodConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 4)
	router, server := newHost(1, 1), newHost(2, 2)
	fs.learn(router)
	fs.learn(server)
	// Connections from the Internet through the router, answered.
	for i := range 5 {
		from := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
		fs.packetIn(watchCopy(router.port, tcpFrame(router, server, from, 40000, 443, tcpSYN)))
		fs.packetIn(watchCopy(server.port, tcpFrame(server, host{mac: router.mac, ip: from}, server.ip, 443, 40000, tcpSYN|tcpACK)))
	}
	fs.synRates(map[uint32]int64{1: 50_000})
	eventually(t, "the unattributed flood event", func() bool {
		for _, e := range h.events("scan_detected") {
			if e.Kind == "syn-flood" && e.Reason == "unattributed" && e.Port == 1 && strings.Contains(e.Message, "many addresses") {
				return true
			}
		}
		return false
	})
	if bs := h.blocks(); len(bs) != 0 {
		t.Fatalf("router blocked: %+v", bs)
	}
}

// A port that goes away loses its SYN counter flows.
func TestSYNCounterRemovedWithPort(t *testing.T) {
	cfg := testConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 3)
	from := fs.count()
	if err := fs.Send(0, &ofp.PortStatus{Reason: ofp.PortReasonDelete, Port: ofconntest.Ports(3)[1]}); err != nil {
		t.Fatal(err)
	}
	fs.waitFor(from, "the SYN counter delete of port 2", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && fm.Command == ofp.FlowDelete && fm.Cookie == policy.SYNCountCookie(2) && fm.TableID == 0
	})
}
