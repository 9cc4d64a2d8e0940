package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/client"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// This file: helpers shared by the scan-defense tests (scan_test.go,
// benign_test.go, scanbench_test.go): a lab whose controller can be
// replaced by a fresh one per case, services in the hosts, background
// attackers, and the API calls that say what the controller decided.
// Every name starts with "scan" so it cannot collide with the helpers of
// the other e2e files.

// scanToken is the API token the scan tests give the controller (the API
// refuses tokens shorter than 16 characters).
const scanToken = "scan-e2e-token-0123456789"

// scanServices is a small TCP and UDP server for the lab hosts: every TCP
// port given as tcp/N accepts, writes one line and closes; every udp/N
// echoes each datagram back to its sender (a stand-in for a DNS or NTP
// server answering clients on ephemeral ports). IPv4 and IPv6.
const scanServices = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    proto, port = spec.split('/')
    for fam, addr in ((socket.AF_INET, '0.0.0.0'), (socket.AF_INET6, '::')):
        kind = socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM
        s = socket.socket(fam, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, int(port)))
        if proto == 'tcp':
            s.listen(512)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, proto)
print('ready', flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == 'tcp':
                c, _ = s.accept()
                c.setblocking(True)
                c.settimeout(1)
                c.sendall(b'hello\n')
                c.close()
            else:
                d, a = s.recvfrom(4096)
                s.sendto(d, a)
        except OSError:
            pass
`

// scanVictimPorts are the services every lab host of the scan tests runs.
var scanVictimPorts = []string{"tcp/22", "tcp/80", "tcp/443", "tcp/4000", "udp/53", "udp/123"}

// scanEnv is one lab with a controller that each case can replace.
type scanEnv struct {
	t   testing.TB
	L   *lab.Lab
	C   *Controller
	dir string // scripts
}

// scanStartEnv starts a controller (with scanToken, no grace period, a
// fresh state directory) and a lab of n hosts pointed at it; every host
// runs scanServices on scanVictimPorts.
func scanStartEnv(t testing.TB, n int) *scanEnv {
	t.Helper()
	RequireLab(t)
	testenv.Tool(t, "nmap", "python3", "ping")
	e := &scanEnv{t: t, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.dir, "services.py"), []byte(scanServices), 0o644); err != nil {
		t.Fatal(err)
	}
	e.C = StartPortcullis(t, "--api-token", scanToken)
	cfg := LabConfig(n)
	cfg.Controllers = []string{e.C.Target}
	e.L = StartLab(t, cfg)
	for _, h := range e.L.Hosts() {
		e.startServices(h.Index)
	}
	scanWaitSwitchUp(t, e.C)
	return e
}

// startServices runs scanServices in host i until the test ends.
func (e *scanEnv) startServices(i int) {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.L.Exec(ctx, e.L.Host(i).Name, append([]string{"python3", filepath.Join(e.dir, "services.py")}, scanVictimPorts...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("services in h%d did not start: %q %v", i, line, err)
	}
}

// Fresh replaces the controller by a new one with an empty state directory
// (nothing learned, nothing blocked, no escalation history) and waits
// until the bridge is connected to it and reconciled. extra are more
// `portcullis run` flags.
func (e *scanEnv) Fresh(t testing.TB, extra ...string) {
	t.Helper()
	old := e.C
	e.C = StartPortcullis(t, append([]string{"--api-token", scanToken}, extra...)...)
	if err := e.L.SetController(e.C.Target); err != nil {
		t.Fatal(err)
	}
	old.Stop()
	scanWaitSwitchUp(t, e.C)
}

// scanWaitSwitchUp waits (up to 20 s) for the controller's switch_up event:
// the pipeline is installed and block flows are reconciled.
func scanWaitSwitchUp(t testing.TB, c *Controller) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if len(scanEvents(t, c, "switch_up")) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no switch_up event from the controller after 20s:\n%s", c.Logs())
}

// scanBlocks is GET /api/v1/blocks.
func scanBlocks(t testing.TB, c *Controller) []api.Block {
	t.Helper()
	b, err := c.API("").Blocks(t.Context())
	if err != nil {
		t.Fatalf("GET /api/v1/blocks: %v", err)
	}
	return b
}

// scanEvents is GET /api/v1/events (all pages) of the given types (all
// types if none).
func scanEvents(t testing.TB, c *Controller, types ...string) []api.Event {
	t.Helper()
	all, err := c.API("").AllEvents(t.Context(), client.EventQuery{Types: types})
	if err != nil {
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	return all
}

// scanLift lifts a block through DELETE /api/v1/blocks/{id} with the token.
func scanLift(t testing.TB, c *Controller, id string) {
	t.Helper()
	if err := c.API(scanToken).RemoveBlock(t.Context(), id); err != nil {
		t.Fatalf("DELETE block %s: %v", id, err)
	}
}

// scanNoAnswer is how long after an attack ends the tests still wait for
// a verdict: the detector turns a probe nobody answered into a failure
// after its NoAnswerTimeout (3 s by default), checked every 500 ms.
const scanNoAnswer = 5 * time.Second

// scanWaitBlock polls the API until a block exists, or until timeout, or
// until scanNoAnswer after done is closed (the attack ended), whichever
// comes first, and returns all blocks then.
func scanWaitBlock(t testing.TB, c *Controller, timeout time.Duration, done <-chan struct{}) []api.Block {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b := scanBlocks(t, c); len(b) > 0 || time.Now().After(deadline) {
			return b
		}
		select {
		case <-done:
			if d := time.Now().Add(scanNoAnswer); d.Before(deadline) {
				deadline = d
			}
			done = nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// scanProc is a command running in a lab host in the background.
type scanProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	err    error // cmd.Wait's, once done is closed
	cancel context.CancelFunc
}

// scanStart runs argv in lab host `host` in the background; it is killed
// after limit, by Kill, or when the test ends.
func scanStart(t testing.TB, l *lab.Lab, host int, limit time.Duration, argv ...string) *scanProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	p := &scanProc{out: &syncBuffer{}, done: make(chan struct{}), cancel: cancel}
	p.cmd = l.Exec(ctx, l.Host(host).Name, argv...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = 2 * time.Second
	// A process group of its own, killed whole: a tool started by a shell
	// (sh -c "... && nmap ...") or that forks (hping3 --scan's sender)
	// would outlive its killed parent and go on probing into the next
	// case's fresh controller (a fresh controller blocked h1 as an ARP
	// sweeper 0.36 s after the switch connected, before any probe of that
	// case: nmap of TestSweepBlocked/fake-router-arp, two cases before).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Cancel = func() error { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s in h%d: %v", strings.Join(argv, " "), host, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		// The leader ended (killed, or by itself: hping3's parent, a shell
		// that started something in the background); what it left in its
		// group goes with it.
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// Kill ends the process (if it still runs) and waits for it.
func (p *scanProc) Kill() {
	p.cancel()
	<-p.done
}

// Wait waits for the process to end by itself and returns its output and
// exit error.
func (p *scanProc) Wait() (string, error) {
	<-p.done
	return p.out.String(), p.err
}

// Output is what the process wrote so far.
func (p *scanProc) Output() string { return p.out.String() }

// scanRun runs argv in host and returns its combined output (limit bounds it).
func scanRun(l *lab.Lab, host int, limit time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := l.Exec(ctx, l.Host(host).Name, argv...).CombinedOutput()
	return string(out), err
}

// scanAddr is host i's IPv4 or IPv6 address as a string.
func scanAddr(l *lab.Lab, i int, v6 bool) string {
	if v6 {
		return l.Host(i).IPv6.String()
	}
	return l.Host(i).IP.String()
}

// scanPing reports whether host from gets an echo reply from host to
// within tries one-second attempts.
func scanPing(l *lab.Lab, from, to int, v6 bool, tries int) bool {
	for range tries {
		if _, err := scanRun(l, from, 3*time.Second, "ping", "-n", "-c", "1", "-W", "1", scanAddr(l, to, v6)); err == nil {
			return true
		}
	}
	return false
}

// scanConnect reports whether host from completes a TCP connection to
// host to's port within tries attempts (each up to 2 s) and reads the
// service's greeting.
func scanConnect(l *lab.Lab, from, to int, port int, v6 bool, tries int) bool {
	script := fmt.Sprintf(`import socket,sys
try:
    s=socket.create_connection((%q,%d),timeout=2); d=s.recv(16); sys.exit(0 if d.startswith(b'hello') else 1)
except OSError:
    sys.exit(1)`, scanAddr(l, to, v6), port)
	for range tries {
		if _, err := scanRun(l, from, 5*time.Second, "python3", "-c", script); err == nil {
			return true
		}
	}
	return false
}

// WarmUp makes every host talk to every other one once (IPv4 and IPv6),
// as a running network would have: the controller learns where each
// station and address lives. It fails t if a pair cannot reach each other,
// or if the controller (e.C; none: not checked) has not learned every
// host's addresses then.
//
// The hosts' neighbour caches are emptied first: a host that still knows
// its peer from before sends its pings straight through a bypass flow the
// last controller left in the switch, which the new one never sees, so it
// would not know where those addresses live (a scanner's decoy of such an
// address would then claim it). A running network looks its neighbours up
// again within a minute (Linux's reachable time is 30 s).
func (e *scanEnv) WarmUp(t testing.TB) {
	t.Helper()
	for _, h := range e.L.Hosts() {
		scanRun(e.L, h.Index, 5*time.Second, "ip", "-4", "neigh", "flush", "all")
		scanRun(e.L, h.Index, 5*time.Second, "ip", "-6", "neigh", "flush", "all")
	}
	for _, v6 := range []bool{false, true} {
		for _, a := range e.L.Hosts() {
			for _, b := range e.L.Hosts() {
				if a.Index != b.Index && !scanPing(e.L, a.Index, b.Index, v6, 5) {
					var blocks []api.Block
					if e.C != nil {
						blocks = scanBlocks(t, e.C) // the evidence, if the controller blocked one of them
					}
					t.Fatalf("warm-up: h%d cannot ping h%d (v6=%v) before any attack; blocks: %s", a.Index, b.Index, v6, scanJSON(blocks))
				}
			}
		}
	}
	if e.C == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		hosts, err := e.C.API("").Hosts(t.Context())
		if err != nil {
			t.Fatalf("GET /api/v1/hosts: %v", err)
		}
		var missing []string
		for _, h := range e.L.Hosts() {
			for _, ip := range []netip.Addr{h.IP, h.IPv6} {
				if !slices.ContainsFunc(hosts, func(x api.Host) bool {
					return x.Port == h.Port && strings.EqualFold(x.MAC, h.MAC.String()) && slices.Contains(x.IPs, ip.String())
				}) {
					missing = append(missing, fmt.Sprintf("h%d %s", h.Index, ip))
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up: the controller does not know where %v live: %s", missing, scanJSON(hosts))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scanDropFlows returns the table-0 drop flows in the switch whose match
// mentions s (a MAC or address).
func scanDropFlows(t testing.TB, l *lab.Lab, s string) []string {
	t.Helper()
	flows, err := l.DumpFlows()
	if err != nil {
		t.Fatalf("dump-flows: %v", err)
	}
	var out []string
	for _, f := range flows {
		if strings.Contains(f, "table=0") || !strings.Contains(f, "table=") {
			if strings.Contains(f, s) && (strings.Contains(f, "actions=drop") || strings.HasSuffix(f, "actions=")) {
				out = append(out, f)
			}
		}
	}
	return out
}

// scanBlockedOnly fails t unless blocks hold at least one block, every
// block is attributed to the attacker (its port and MAC), and its kind is
// one of kinds (any kind if kinds is empty).
func scanBlockedOnly(t testing.TB, l *lab.Lab, blocks []api.Block, attacker int, kinds ...string) {
	t.Helper()
	h := l.Host(attacker)
	if len(blocks) == 0 {
		t.Errorf("no block for the attacker h%d (%s)", attacker, h.MAC)
		return
	}
	for _, b := range blocks {
		if b.Port != h.Port || !strings.EqualFold(b.MAC, h.MAC.String()) {
			t.Errorf("block %s is attributed to port %d MAC %s, want the attacker's port %d MAC %s: %+v",
				b.ID, b.Port, b.MAC, h.Port, h.MAC, b)
			continue
		}
		if len(kinds) > 0 && !slices.Contains(kinds, b.Kind) {
			t.Errorf("block %s has kind %q, want one of %v (reason %q)", b.ID, b.Kind, kinds, b.Reason)
		}
	}
}

// scanNotBlocked fails t if any block names host i's port or MAC.
func scanNotBlocked(t testing.TB, l *lab.Lab, blocks []api.Block, i int) {
	t.Helper()
	h := l.Host(i)
	for _, b := range blocks {
		if b.Port == h.Port || strings.EqualFold(b.MAC, h.MAC.String()) {
			t.Errorf("innocent h%d (port %d, %s) is blocked: %+v", i, h.Port, h.MAC, b)
		}
	}
}

// scanCheckCutOff fails t unless the attacker reaches no one (ping over
// IPv4 and IPv6, TCP to an open port), while every other pair of hosts
// still does. The probes run in parallel: each failing one costs a timeout.
func scanCheckCutOff(t testing.TB, l *lab.Lab, attacker int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, h := range l.Hosts() {
		if h.Index == attacker {
			continue
		}
		wg.Add(3)
		go func() {
			defer wg.Done()
			if scanPing(l, attacker, h.Index, false, 1) {
				t.Errorf("blocked h%d still pings h%d", attacker, h.Index)
			}
		}()
		go func() {
			defer wg.Done()
			if scanPing(l, attacker, h.Index, true, 1) {
				t.Errorf("blocked h%d still pings h%d over IPv6", attacker, h.Index)
			}
		}()
		go func() {
			defer wg.Done()
			if scanConnect(l, attacker, h.Index, 80, false, 1) {
				t.Errorf("blocked h%d still connects to h%d:80", attacker, h.Index)
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); scanCheckOthers(t, l, attacker) }()
	wg.Wait()
}

// scanCheckOthers fails t unless every pair of hosts other than skip
// pings each other (IPv4, IPv6) and connects over TCP.
func scanCheckOthers(t testing.TB, l *lab.Lab, skip ...int) {
	t.Helper()
	for _, a := range l.Hosts() {
		for _, b := range l.Hosts() {
			if a.Index == b.Index || slices.Contains(skip, a.Index) || slices.Contains(skip, b.Index) {
				continue
			}
			if !scanPing(l, a.Index, b.Index, false, 3) {
				t.Errorf("h%d cannot ping h%d", a.Index, b.Index)
			}
			if !scanPing(l, a.Index, b.Index, true, 3) {
				t.Errorf("h%d cannot ping h%d over IPv6", a.Index, b.Index)
			}
			if !scanConnect(l, a.Index, b.Index, 80, false, 3) {
				t.Errorf("h%d cannot connect to h%d:80", a.Index, b.Index)
			}
		}
	}
}

// scanJSON formats v for a log line.
func scanJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// scanMeterDrops returns, per meter of the lab's bridge, how many packets
// its drop band dropped (packet-in copies the controller never saw).
func scanMeterDrops(l *lab.Lab) map[string]int {
	out, err := l.Ofctl("meter-stats")
	if err != nil {
		return nil
	}
	drops := map[string]int{}
	meter := ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if m, ok := strings.CutPrefix(line, "meter:"); ok {
			meter = strings.Fields(m)[0]
			continue
		}
		if strings.HasPrefix(line, "0: packet_count:") {
			n, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(line, "0: packet_count:"))[0])
			if n > 0 {
				drops[meter] = n
			}
		}
	}
	return drops
}
