package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"portcullis/internal/testenv"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 3, "How it will be checked": benign workloads are never blocked:
// busy clients, monitoring pollers, peer-to-peer dialing, DNS and NTP
// servers, a client retrying a service that is down, and replays of the
// benign captures in ../shared/pcaps.
//
// Every host of the lab runs TCP services on 22, 80, 443 and 4000 and a
// UDP echo (a stand-in for DNS and NTP) on 53 and 123. One controller sees
// all workloads in a row, as a real network would; after each one nothing
// may be detected or blocked, and the workload itself must have worked (a
// test whose traffic never flowed would prove nothing).

// scanClients is the client side of the benign workloads.
//
//	tcp N PAR HOST:PORT...      N connections (round robin over the targets,
//	                            PAR at a time), each reads the greeting
//	dial N SECS HOST:PORT...    N connections like tcp, started evenly
//	                            spread over SECS seconds
//	poll ROUNDS SECS HOST:PORT.. every SECS, connect to each target once
//	udp N HOST:PORT...          N queries, each from a new socket (a new
//	                            ephemeral port), each waits for its answer
//	retry N SECS HOST:PORT      N connects to a service that is down
//
// It prints "ok=X fail=Y" (for retry, ok counts refused connections).
const scanClients = `
import concurrent.futures as cf, socket, sys, time
def addr(s):
    h, p = s.rsplit(':', 1)
    return h.strip('[]'), int(p)
# Connect timeout 20 s: Portcullis's per-port first-contact meter delays a
# burst of new connections beyond its budget (meters.first_contact_*) until
# a SYN retransmission gets through; it never refuses them. The kernel
# retransmits at 1, 3, 7 and 15 s, and a burst's retransmissions come in
# the same clumps as its first SYNs, so the last of 16 parallel dials can
# need the fourth (seen once in seven runs with a 10 s timeout). A blocking
# connect() with the kernel's defaults waits about 127 s.
def tcp(t):
    try:
        s = socket.create_connection(addr(t), timeout=20)
        d = s.recv(16)
        s.close()
        return d.startswith(b'hello')
    except OSError:
        return False
def udp(t):
    h, p = addr(t)
    s = socket.socket(socket.AF_INET6 if ':' in h else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        msg = b'q%d' % time.monotonic_ns()
        s.sendto(msg, (h, p))
        d, _ = s.recvfrom(4096)
        return d == msg
    except OSError:
        return False
    finally:
        s.close()
def refused(t):
    try:
        socket.create_connection(addr(t), timeout=3).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
mode, args = sys.argv[1], sys.argv[2:]
res = []
if mode == 'tcp':
    n, par, ts = int(args[0]), int(args[1]), args[2:]
    with cf.ThreadPoolExecutor(par) as ex:
        res = list(ex.map(tcp, [ts[i % len(ts)] for i in range(n)]))
elif mode == 'dial':
    n, secs, ts = int(args[0]), float(args[1]), args[2:]
    start = time.monotonic()
    def paced(i):
        time.sleep(max(0, start + i * secs / n - time.monotonic()))
        return tcp(ts[i % len(ts)])
    with cf.ThreadPoolExecutor(n) as ex:
        res = list(ex.map(paced, range(n)))
elif mode == 'poll':
    rounds, secs, ts = int(args[0]), float(args[1]), args[2:]
    for r in range(rounds):
        res += [tcp(t) for t in ts]
        time.sleep(secs)
elif mode == 'udp':
    n, ts = int(args[0]), args[1:]
    res = [udp(ts[i % len(ts)]) for i in range(n)]
elif mode == 'retry':
    n, secs, t = int(args[0]), float(args[1]), args[2]
    for i in range(n):
        res.append(refused(t))
        time.sleep(secs)
print('ok=%d fail=%d' % (sum(res), len(res) - sum(res)))
`

// scanWorkload is one benign workload: clients run in parallel.
type scanWorkload struct {
	name    string
	setup   func(t *testing.T, e *scanEnv)
	clients []scanClient
	// knownIssue, when set, turns a detection or block into a skip that
	// names the issue (the owners of detection and the pipeline fix it).
	knownIssue string
	// answersLost: the workload must overrun the per-port answer meters
	// (or it proves nothing about answers lost to a meter).
	answersLost bool
}

// scanClient runs the clients script in a host with args; every attempt
// must work (for retry: be refused).
type scanClient struct {
	host int
	args []string
}

func TestScanBenignNeverBlocked(t *testing.T) {
	e := scanStartEnv(t, 4)
	if err := os.WriteFile(filepath.Join(e.dir, "clients.py"), []byte(scanClients), 0o644); err != nil {
		t.Fatal(err)
	}
	e.WarmUp(t)
	hp := func(i, port int) string { return fmt.Sprintf("10.0.0.%d:%d", i, port) }
	hp6 := func(i, port int) string { return fmt.Sprintf("[fd00::%x]:%d", i, port) }

	// 40 peers: addresses 10.0.0.100-119 on h3 and 10.0.0.120-139 on h4
	// (and fd00::100-139), every one answering on the P2P port 4000.
	var peers []string
	addPeers := func(t *testing.T, e *scanEnv) {
		for i := 100; i < 140; i++ {
			host := 3
			if i >= 120 {
				host = 4
			}
			for _, a := range []string{fmt.Sprintf("10.0.0.%d/24", i), fmt.Sprintf("fd00::%d/64", i)} {
				if out, err := scanRun(e.L, host, 5*time.Second, "ip", "addr", "add", a, "dev", e.L.Host(host).Iface, "nodad"); err != nil {
					t.Fatalf("ip addr add %s in h%d: %v: %s", a, host, err, out)
				}
			}
			peers = append(peers, fmt.Sprintf("10.0.0.%d:4000", i), fmt.Sprintf("[fd00::%d]:4000", i))
		}
	}

	workloads := []scanWorkload{
		{name: "busy-clients", clients: []scanClient{
			{1, []string{"tcp", "400", "16", hp(2, 80), hp(2, 443)}},
			{3, []string{"tcp", "400", "16", hp(2, 80), hp6(2, 80)}},
			{4, []string{"tcp", "200", "8", hp(2, 22), hp(1, 80)}},
		}},
		// A monitoring poller checks the services of every host every
		// 200 ms, over IPv4 and IPv6.
		{name: "monitoring-poller", clients: []scanClient{
			{4, []string{"poll", "15", "0.2",
				hp(1, 22), hp(1, 80), hp(1, 443), hp(2, 22), hp(2, 80), hp(2, 443), hp(3, 22), hp(3, 80), hp(3, 443),
				hp6(1, 80), hp6(2, 80), hp6(3, 80)}},
		}},
		// Peer-to-peer dialing at the pace of ndpi_ethereum.pcap: 56
		// peers on one port within 1.8 s, every one answering.
		{name: "p2p-dialing", setup: addPeers, clients: []scanClient{
			{1, nil}, // dial 56 peers in 1.8 s: args filled in after setup
		}},
		// The same, faster: two hosts each dial 80 peer addresses, 16 at
		// a time (about a second), seen by a controller that knows none
		// of these conversations yet.
		{name: "p2p-dialing-burst", setup: func(t *testing.T, e *scanEnv) { e.Fresh(e.t) }, clients: []scanClient{
			{1, nil}, // tcp 80 16 peers...: args filled in after setup
			{2, nil},
		}}, // answers lost to a meter are unknown, not silence (issue 8, item 4)
		// The same burst with answer meters so small that most answer
		// copies are dropped: an attempt whose answer a meter dropped is
		// unknown to detection, not a failure, so nobody is blocked.
		{name: "p2p-dialing-burst-lossy", setup: func(t *testing.T, e *scanEnv) {
			cfg := filepath.Join(e.dir, "lossy.yaml")
			if err := os.WriteFile(cfg, []byte("meters:\n  reply_rate: 20\n  reply_burst: 10\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e.Fresh(e.t, "--config", cfg)
		}, clients: []scanClient{
			{1, nil}, // tcp 80 16 peers...: args filled in after setup
			{2, nil},
		}, answersLost: true},
		// DNS and NTP: the servers (h2, h3) answer hundreds of
		// ephemeral client ports; the clients query from a new port each
		// time.
		{name: "dns-ntp", clients: []scanClient{
			{1, []string{"udp", "150", hp(2, 53), hp(3, 53), hp(2, 123)}},
			{4, []string{"udp", "150", hp(2, 53), hp6(2, 53), hp6(3, 123)}},
			{3, []string{"udp", "100", hp(2, 123), hp(2, 53)}},
		}},
		// A client retrying a service that is down (connection refused
		// each time), as a reconnecting client library does.
		{name: "retry-down-service", clients: []scanClient{
			{1, []string{"retry", "25", "0.2", hp(2, 8080)}},
			{3, []string{"retry", "25", "0.2", hp6(4, 5432)}},
		}},
	}

	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			if w.setup != nil {
				w.setup(t, e)
			}
			switch w.name {
			case "p2p-dialing":
				w.clients[0].args = append([]string{"dial", "56", "1.8"}, peers[:56]...)
			case "p2p-dialing-burst":
				w.clients[0].args = append([]string{"tcp", strconv.Itoa(len(peers)), "16"}, peers...)
				w.clients[1].args = append([]string{"tcp", strconv.Itoa(len(peers)), "16"}, peers...)
			case "p2p-dialing-burst-lossy":
				// The peers' port 443: the burst before left bypass flows
				// for port 4000 in the switch.
				var ps []string
				for _, p := range peers {
					ps = append(ps, strings.TrimSuffix(p, ":4000")+":443")
				}
				w.clients[0].args = append([]string{"tcp", strconv.Itoa(len(ps)), "16"}, ps...)
				w.clients[1].args = append([]string{"tcp", strconv.Itoa(len(ps)), "16"}, ps...)
			}
			before := Stats(t, e.C)
			procs := make([]*scanProc, len(w.clients))
			for i, c := range w.clients {
				procs[i] = scanStart(t, e.L, c.host, 2*time.Minute,
					append([]string{"python3", filepath.Join(e.dir, "clients.py")}, c.args...)...)
			}
			for i, p := range procs {
				out, err := p.Wait()
				out = strings.TrimSpace(out)
				var ok, fail int
				if _, perr := fmt.Sscanf(out, "ok=%d fail=%d", &ok, &fail); perr != nil || err != nil {
					t.Errorf("h%d %v: %v: %s", w.clients[i].host, w.clients[i].args[0], err, out)
					continue
				}
				t.Logf("h%d %s: ok=%d fail=%d", w.clients[i].host, w.clients[i].args[0], ok, fail)
				if fail > 0 || ok == 0 {
					t.Errorf("h%d %s: %d of %d attempts did not work as a benign client expects", w.clients[i].host,
						w.clients[i].args[0], fail, ok+fail)
				}
			}
			after := Stats(t, e.C)
			t.Logf("%d packet-ins, %d probes judged by detection", after.PacketIns-before.PacketIns, after.Probes-before.Probes)
			if w.answersLost {
				lost := 0
				for id, n := range scanMeterDrops(e.L) {
					if v, err := strconv.ParseUint(id, 10, 32); err == nil && v > 0x20000 && v <= 0x2fffe {
						lost += n
					}
				}
				t.Logf("%d answer copies dropped by the per-port answer meters", lost)
				if lost == 0 {
					t.Error("no answer copy was dropped: the workload did not test answers lost to a meter")
				}
			}
			scanCheckNothingBlocked(t, e, w.knownIssue)
		})
	}

	t.Run("pcap-replay", func(t *testing.T) { scanReplayBenign(t, e) })

	// After all of it, every host still reaches every other one.
	scanCheckOthers(t, e.L)
}

// scanCheckNothingBlocked fails t if the controller detected or blocked
// anything (or skips t naming knownIssue, if set). What it finds is
// lifted, and the next workload gets a controller that saw nothing.
func scanCheckNothingBlocked(t *testing.T, e *scanEnv, knownIssue string) {
	t.Helper()
	// Verdicts on the last packets: an unanswered attempt counts as a
	// failure only after the detector's no-answer timeout.
	time.Sleep(scanNoAnswer)
	drops := scanMeterDrops(e.L)
	t.Logf("meter drops since this controller started (meter id: copies dropped): %v", drops)
	detected := scanEvents(t, e.C, "scan_detected")
	blocks := scanBlocks(t, e.C)
	if len(detected)+len(blocks) == 0 {
		return
	}
	var what []string
	for _, ev := range detected {
		what = append(what, fmt.Sprintf("scan_detected h%d %s: %s", ev.Port, ev.Kind, ev.Reason))
	}
	for _, b := range blocks {
		what = append(what, fmt.Sprintf("blocked h%d %s: %s", b.Port, b.Kind, b.Reason))
		scanLift(t, e.C, b.ID)
	}
	e.Fresh(e.t) // lives as long as the whole test, not this subtest
	if knownIssue != "" {
		t.Skipf("known issue: %s\n(meter drops %v)\n%s", knownIssue, drops, strings.Join(what, "\n"))
	}
	t.Errorf("benign traffic detected or blocked (meter drops %v):\n%s", drops, strings.Join(what, "\n"))
}

// scanBenignPcaps are the captures manifest.tsv labels benign.
var scanBenignPcaps = []string{
	"zeek_wikipedia.pcap", "zeek_var-services-std-ports.pcap", "ndpi_reddit.pcap",
	"ndpi_ethereum.pcap", "ndpi_gnutella.pcap",
}

// scanReplayBenign replays the benign captures into the lab from h4's
// interface with tcpreplay and checks that nothing is detected or blocked.
//
// What this shows and what it does not: the captures' MACs and addresses
// are foreign to the lab, so both sides of every conversation (the
// client's SYN and the server's SYN-ACK) enter the switch at h4's port,
// with the capture's MACs; no lab host answers them (their destination
// MACs are unknown to the switch, so they flood). The controller thus
// sees the captures' real packet shapes, rates and answer ratios, at the
// ingress port of one lab host, through the real pipeline (watch flows,
// meters, packet-ins), but the lab adds no answers of its own. Idle gaps
// longer than 100 ms are shortened, in gnutella (10 minutes) those over 5 ms. The same
// captures at their own timing are replayed into the detector alone by
// internal/detect's tests.
func scanReplayBenign(t *testing.T, e *scanEnv) {
	testenv.Tool(t, "tcpreplay")
	dir := filepath.Join(repoRoot(), "..", "shared", "pcaps")
	if _, err := os.Stat(filepath.Join(dir, "manifest.tsv")); err != nil {
		testenv.Missing(t, "benign captures not found: %v", err)
	}
	h := e.L.Host(4)
	// Both directions of every captured conversation enter at h4's port,
	// so a SYN that h4's first-contact meter drops still gets its captured
	// answer replayed after it, which no real network produces (a dropped
	// SYN is never answered; its sender retransmits it a second later):
	// the detector would see answers to attempts it never saw, and not the
	// attempts. The replay port is therefore exempt from the meter; the
	// meter's effect on real benign clients is what the other subtests
	// measure.
	conf := filepath.Join(t.TempDir(), "portcullis.yaml")
	if err := os.WriteFile(conf, []byte("meters:\n  first_contact_exempt: ["+h.Name+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Fresh(t, "--config", conf)
	e.WarmUp(t)
	before := Stats(t, e.C)
	for _, f := range scanBenignPcaps {
		maxsleep := "--maxsleep=100"
		if f == "ndpi_gnutella.pcap" {
			maxsleep = "--maxsleep=5" // 10 minutes into about 20 s
		}
		out, err := scanRun(e.L, 4, 2*time.Minute, "tcpreplay", "-q", maxsleep, "-i", h.Iface, filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("tcpreplay %s: %v: %s", f, err, out)
		}
		sent := ""
		for line := range strings.Lines(out) {
			if strings.Contains(line, "Actual:") {
				sent = strings.TrimSpace(line)
			}
		}
		t.Logf("%s: %s", f, sent)
	}
	after := Stats(t, e.C)
	t.Logf("replay: %d packet-ins, %d probes judged by detection", after.PacketIns-before.PacketIns, after.Probes-before.Probes)
	if after.Probes == before.Probes {
		t.Errorf("the replay reached detection with no probe at all: it proved nothing")
	}
	scanCheckNothingBlocked(t, e, "")
}
