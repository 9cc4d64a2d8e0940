package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
)

// events returns the controller's recorded events of type typ for dpid.
func events(t testing.TB, c *Controller, typ string, dpid uint64) []api.Event {
	t.Helper()
	var page api.EventPage
	GetJSON(t, c, "/api/v1/events", &page)
	var out []api.Event
	for _, e := range page.Events {
		// ParseDPID: events carry the dpid as 16 hex digits, switches
		// with colons.
		if id, err := api.ParseDPID(e.DPID); e.Type == typ && err == nil && id == dpid {
			out = append(out, e)
		}
	}
	return out
}

// switchCount counts the entries of /api/v1/switches for dpid.
func switchCount(t testing.TB, c *Controller, dpid uint64) int {
	t.Helper()
	n := 0
	for _, s := range Switches(t, c) {
		if s.DatapathID == dpid {
			n++
		}
	}
	return n
}

// The controller restarts with the same state directory: the switch
// (max_backoff 1 s) connects to the new process, forwarding works for
// conversations the new process sets up, and a block made before the restart
// is back in the switch (read from the state directory, re-installed by the
// reconcile on connect).
func TestReconnectControllerRestart(t *testing.T) {
	RequireLab(t)
	stateDir := t.TempDir()
	const token = "e2e-token-0123456789abcdef"
	args := []string{"--state-dir", stateDir, "--grace", "0", "--api-token", token}
	c := StartController(t, args...)
	cfg := LabConfig(3)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	WaitConnected(t, l, true)
	dpid := DPID(t, l)
	WaitSwitch(t, c, dpid)
	if err := Ping(t.Context(), l, 1, 2, false, 5); err != nil {
		t.Fatal(err)
	}

	// A manual block of a MAC no host uses: a drop flow on every switch.
	const blockedMAC = "02:00:00:00:00:99"
	body, _ := json.Marshal(map[string]string{"mac": blockedMAC, "duration": "1h", "reason": "e2e restart"})
	req, _ := http.NewRequest("POST", c.APIURL+"/api/v1/blocks", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /api/v1/blocks: %s", resp.Status)
	}
	hasBlockFlow := func() bool {
		flows, _ := l.DumpFlows()
		for _, f := range flows {
			// ovs-ofctl leaves out "table=0".
			if strings.Contains(f, "dl_src="+blockedMAC) && strings.Contains(f, "actions=drop") && !strings.Contains(f, "table=") {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, "the block's drop flow in the switch", hasBlockFlow)

	c.Stop()
	WaitConnected(t, l, false)
	// In fail_mode=secure OVS keeps its flows while the controller is away;
	// remove the block's, so only the new process can bring it back.
	if _, err := l.Ofctl("del-flows", "dl_src="+blockedMAC); err != nil {
		t.Fatal(err)
	}
	if hasBlockFlow() {
		t.Fatal("del-flows left the block's flow")
	}
	c2 := RestartController(t, c, args...)
	start := time.Now()
	sw := WaitSwitch(t, c2, dpid)
	t.Logf("switch listed %v after the new process answered /healthz", time.Since(start).Round(10*time.Millisecond))
	CheckPorts(t, sw, l)

	var blocks api.BlockList
	GetJSON(t, c2, "/api/v1/blocks", &blocks)
	if len(blocks.Blocks) != 1 || blocks.Blocks[0].MAC != blockedMAC {
		t.Errorf("blocks after restart: %+v, want the one on %s", blocks.Blocks, blockedMAC)
	}
	waitFor(t, 10*time.Second, "the block's drop flow after the restart", hasBlockFlow)

	// h3 has not sent anything yet: reaching it needs the new process.
	PingAll(t, l)
	if n := Stats(t, c2).PacketIns; n == 0 {
		t.Error("the restarted controller got no packet-in: who set up forwarding?")
	}
}

// waitFor polls cond every 100 ms for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var reconnectLog = regexp.MustCompile(`msg="switch connected".*reconnect=true`)

// OVS drops its controller connection (ovs-vsctl del-controller) and gets
// it back (set-controller): the controller sees the switch go down, then
// come back as a reconnect of the same datapath, lists it once, and
// forwarding works.
func TestReconnectDelController(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t)
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	WaitConnected(t, l, true)
	dpid := DPID(t, l)
	before := WaitSwitch(t, c, dpid)
	if err := Ping(t.Context(), l, 1, 2, false, 5); err != nil {
		t.Fatal(err)
	}

	if err := l.SetController(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the switch to leave /api/v1/switches", func() bool { return switchCount(t, c, dpid) == 0 })
	waitFor(t, 10*time.Second, "a switch_down event", func() bool { return len(events(t, c, "switch_down", dpid)) == 1 })

	if err := l.SetController(c.Target); err != nil {
		t.Fatal(err)
	}
	WaitConnected(t, l, true)
	after := WaitSwitch(t, c, dpid)
	if !after.ConnectedSince.After(before.ConnectedSince) {
		t.Errorf("connected_since %v after the reconnect, before %v", after.ConnectedSince, before.ConnectedSince)
	}
	if n := switchCount(t, c, dpid); n != 1 {
		t.Errorf("switch listed %d times", n)
	}
	waitFor(t, 10*time.Second, "a second switch_up event", func() bool { return len(events(t, c, "switch_up", dpid)) == 2 })
	if !reconnectLog.MatchString(c.Logs()) {
		t.Error(`no "switch connected ... reconnect=true" log line`)
	}
	CheckPorts(t, after, l)
	PingAll(t, l)
}

// Two switches (two labs, each its own OVS) on one controller at once: both
// forward, and /api/v1/switches lists both with their ports.
func TestReconnectTwoSwitches(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t)
	var labs []*lab.Lab
	for i, dp := range []string{"00000000000e2e01", "00000000000e2e02"} {
		cfg := LabConfig(2 + i)
		cfg.Controllers = []string{c.Target}
		cfg.DatapathID = dp
		labs = append(labs, StartLab(t, cfg))
	}
	for _, l := range labs {
		WaitConnected(t, l, true)
		CheckPorts(t, WaitSwitch(t, c, DPID(t, l)), l)
	}
	if got := Switches(t, c); len(got) != 2 {
		t.Errorf("/api/v1/switches lists %d switches, want 2: %+v", len(got), got)
	}
	for _, l := range labs {
		PingAll(t, l)
	}
	if r := Iperf(t, labs[1], 1, 3, "-t", "1"); r.Bytes == 0 {
		t.Error("iperf3 moved nothing")
	}
	PingAll(t, labs[0]) // still fine after the other one's bulk transfer
}
