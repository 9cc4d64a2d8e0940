package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// This file: issue 2's first check ("controls a bridge that someone else
// built with ovs-vsctl") and the helpers the other controller tests share
// (tls_test.go, robust_test.go, reconnect_test.go, bench_test.go).

// StartPortcullis runs the controller with a state directory of its own
// (never the machine's /var/lib/portcullis) and no start-up grace period.
func StartPortcullis(t testing.TB, args ...string) *Controller {
	t.Helper()
	return StartController(t, append([]string{"--state-dir", t.TempDir(), "--grace", "0"}, args...)...)
}

// RestartController starts a new `portcullis run` on the OpenFlow and API
// addresses of old (which must have been stopped), with args. Like
// StartController it waits for /healthz and stops the process when the test
// ends.
func RestartController(t testing.TB, old *Controller, args ...string) *Controller {
	t.Helper()
	if !old.Exited() {
		t.Fatal("RestartController: the old controller still runs")
	}
	apiAddr := strings.TrimPrefix(old.APIURL, "http://")
	c := &Controller{Addr: old.Addr, Target: old.Target, APIURL: old.APIURL,
		logs: &syncBuffer{}, done: make(chan struct{})}
	argv := append([]string{"run", "--listen", c.Addr, "--api-listen", apiAddr}, args...)
	shareWithController(t, argv)
	c.cmd = exec.Command(Binary(t), argv...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("restarted controller logs:\n%s", c.Logs())
		}
	})
	// The old process's listening sockets are gone once it exited, but a
	// port may still be in TIME_WAIT: Go's listener sets SO_REUSEADDR, so
	// the new process binds at once.
	waitHealthy(t, c)
	return c
}

// waitHealthy waits up to 15 s for GET /healthz to answer 200.
func waitHealthy(t testing.TB, c *Controller) {
	t.Helper()
	hc := c.API("")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c.Exited() {
			t.Fatalf("portcullis run exited:\n%s", c.Logs())
		}
		err := hc.Healthz(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not ready after 15s (last error %v):\n%s", err, c.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Healthy reports whether the controller process runs and GET /healthz
// answers 200.
func (c *Controller) Healthy() error {
	if c.Exited() {
		return fmt.Errorf("controller process exited")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.API("").Healthz(ctx); err != nil {
		return fmt.Errorf("/healthz: %w", err)
	}
	return nil
}

// GetJSON decodes GET c.APIURL+path into v.
func GetJSON(t testing.TB, c *Controller, path string, v any) {
	t.Helper()
	if err := c.API("").Do(t.Context(), http.MethodGet, path, nil, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// Stats is GET /api/v1/stats.
func Stats(t testing.TB, c *Controller) api.Stats {
	t.Helper()
	var s api.Stats
	GetJSON(t, c, "/api/v1/stats", &s)
	return s
}

// Switches is GET /api/v1/switches.
func Switches(t testing.TB, c *Controller) []api.Switch {
	t.Helper()
	var l api.SwitchList
	GetJSON(t, c, "/api/v1/switches", &l)
	return l.Switches
}

// DPID returns the lab bridge's datapath id as a number.
func DPID(t testing.TB, l *lab.Lab) uint64 {
	t.Helper()
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	id, err := api.ParseDPID(st.DatapathID)
	if err != nil {
		t.Fatalf("lab datapath id %q: %v", st.DatapathID, err)
	}
	return id
}

// WaitSwitch waits (up to 20 s) until the controller lists the switch dpid
// with at least one port, and returns it.
func WaitSwitch(t testing.TB, c *Controller, dpid uint64) api.Switch {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range Switches(t, c) {
			if s.DatapathID == dpid && len(s.Ports) > 0 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("switch %s not listed by /api/v1/switches after 20s: %+v", api.FormatDPID(dpid), Switches(t, c))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitConnected waits (up to 20 s) until the lab's bridge says its
// controller connection is (or is not) up.
func WaitConnected(t testing.TB, l *lab.Lab, want bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := l.Status()
		if err == nil && len(st.Controllers) > 0 && st.Controllers[0].Connected == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab %s: controller connected != %v after 20s: %+v (%v)", l.Name(), want, st.Controllers, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckPorts fails t unless sw lists every host of l with its number, name,
// MAC and state up.
func CheckPorts(t testing.TB, sw api.Switch, l *lab.Lab) {
	t.Helper()
	for _, h := range l.Hosts() {
		var found *api.Port
		for i := range sw.Ports {
			if sw.Ports[i].Number == h.Port {
				found = &sw.Ports[i]
			}
		}
		if found == nil {
			t.Errorf("switch %s: no port %d (%s) in %+v", sw.DPID, h.Port, h.Name, sw.Ports)
			continue
		}
		if found.Name != h.Name || found.State != api.PortUp {
			t.Errorf("switch %s port %d = %+v, want name %s, state %s", sw.DPID, h.Port, *found, h.Name, api.PortUp)
		}
		if _, err := net.ParseMAC(found.MAC); err != nil {
			t.Errorf("switch %s port %d MAC %q: %v", sw.DPID, h.Port, found.MAC, err)
		}
	}
}

// IperfResult is what the receiving side of an iperf3 run measured.
type IperfResult struct {
	Bytes       int64
	BitsPerSec  float64
	Seconds     float64
	Retransmits int
}

// Gbps is the rate in Gbit/s.
func (r IperfResult) Gbps() float64 { return r.BitsPerSec / 1e9 }

// Iperf runs one iperf3 TCP transfer from host client to host server (a
// one-shot server on port 5201) with extra client arguments such as
// "-t", "5" or "-n", "500M".
func Iperf(t testing.TB, l *lab.Lab, server, client int, extra ...string) IperfResult {
	t.Helper()
	testenv.Tool(t, "iperf3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := l.Host(server)
	if out, err := l.Exec(ctx, srv.Name, "iperf3", "-s", "-1", "-D").CombinedOutput(); err != nil {
		t.Fatalf("iperf3 -s in %s: %v: %s", srv.Name, err, out)
	}
	for i := 0; ; i++ {
		out, _ := l.Exec(ctx, srv.Name, "ss", "-Hltn", "sport = :5201").Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			break
		}
		if i == 100 {
			t.Fatalf("iperf3 server in %s not listening", srv.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	argv := append([]string{"iperf3", "-J", "--connect-timeout", "3000", "-c", srv.IP.String()}, extra...)
	out, err := l.Exec(ctx, l.Host(client).Name, argv...).Output()
	var res struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil || err != nil {
		t.Fatalf("iperf3 %s -> %s: %v %v: %s", l.Host(client).Name, srv.Name, err, jerr, out)
	}
	if res.Error != "" || res.End.SumReceived.Bytes == 0 {
		t.Fatalf("iperf3 %s -> %s moved no data: %s", l.Host(client).Name, srv.Name, out)
	}
	r := res.End.SumReceived
	return IperfResult{Bytes: r.Bytes, BitsPerSec: r.BitsPerSecond, Seconds: r.Seconds, Retransmits: res.End.SumSent.Retransmits}
}

// Pinger is a ping running in the background between two lab hosts.
type Pinger struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// StartPinger pings host to from host from every 200 ms until Stop.
func StartPinger(t testing.TB, l *lab.Lab, from, to int) *Pinger {
	t.Helper()
	p := &Pinger{out: &syncBuffer{}, done: make(chan struct{})}
	// ip netns exec execs ping itself, so the signal in Stop reaches it.
	p.cmd = l.Exec(context.Background(), l.Host(from).Name, "ping", "-n", "-i", "0.2", "-W", "1", l.Host(to).IP.String())
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// Stop ends the ping (SIGINT, so it prints its summary) and returns how many
// echo requests it sent and how many replies came back.
func (p *Pinger) Stop(t testing.TB) (sent, received int) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	m := pingSummary.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no ping summary in: %s", p.out.String())
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received
}

// WriteConfig writes a YAML configuration file for `portcullis run
// --config` into a temporary directory and returns its path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portcullis.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A bridge someone else built with ovs-vsctl (the lab: userspace datapath,
// fail_mode=secure, protocols=OpenFlow13, four hosts) and pointed at
// `portcullis run`: every pair pings over IPv4 and IPv6, TCP works, and a
// bulk TCP transfer stays in the switch: after its first packets the
// conversation no longer reaches the controller (issue 2, "Forwarding that
// keeps benign traffic in the switch").
func TestControllerOwnBridge(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t)
	cfg := LabConfig(4)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)

	// The bridge is what a user would have built by hand.
	for col, want := range map[string]string{"datapath_type": "netdev", "fail_mode": "secure", "protocols": "[OpenFlow13]"} {
		out, err := l.Vsctl("get", "Bridge", l.Bridge(), col)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("bridge %s = %s, want %s", col, got, want)
		}
	}
	WaitConnected(t, l, true)
	CheckPorts(t, WaitSwitch(t, c, DPID(t, l)), l)

	PingAll(t, l)
	if t.Failed() {
		return
	}
	Iperf(t, l, 2, 1, "-t", "1") // TCP works; also warms up learning

	// A bulk transfer of a fixed size (so a slower machine only takes
	// longer): the controller sees its handshake and end at most, never the
	// stream. Packet-ins are counted by the controller itself.
	before := Stats(t, c).PacketIns
	r := Iperf(t, l, 3, 4, "-n", "400M")
	time.Sleep(time.Second) // let late copies (the FIN/RST of the close) arrive
	after := Stats(t, c).PacketIns
	t.Logf("iperf3 h4 -> h3: %d MB in %.1fs (%.2f Gbit/s); packet-ins during it: %d",
		r.Bytes>>20, r.Seconds, r.Gbps(), after-before)
	// The receiver's count may miss the last segments in flight when the
	// sender stops.
	if r.Bytes < 360<<20 {
		t.Errorf("iperf3 receiver counted %d bytes, asked for 400 MB", r.Bytes)
	}
	if d := after - before; d >= 100 {
		t.Errorf("a %d MB TCP transfer sent %d packets to the controller, want fewer than 100", r.Bytes>>20, d)
	}

	// Benign traffic blocked no one.
	var blocks api.BlockList
	GetJSON(t, c, "/api/v1/blocks", &blocks)
	if len(blocks.Blocks) != 0 {
		t.Errorf("benign pings and iperf3 got blocked: %+v", blocks.Blocks)
	}
	if err := c.Healthy(); err != nil {
		t.Error(err)
	}
}
