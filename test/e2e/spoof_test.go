package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// Issue 8, items 2 and 3: evidence counts only where it entered, and one
// frame cannot turn Portcullis against the host it impersonates. Real
// tools against a real Open vSwitch: nmap's source-port and spoofing
// options, and scapy forging answers and MACs. What is checked is what a
// user checks: who is blocked (the API, the flows in the switch) and who
// still reaches whom.

// spoofScapy is the interpreter with scapy (the distribution's python3).
const spoofScapy = "/usr/bin/python3"

func spoofNeedScapy(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(spoofScapy, "-c", "import scapy.all").CombinedOutput(); err != nil {
		testenv.Missing(t, "scapy for %s missing: apt-get install python3-scapy (%v %s)", spoofScapy, err, out)
	}
}

// spoofPortDropped reports whether bridge br drops everything entering at
// port (a port-wide block) or frames of mac entering there.
func spoofPortDropped(t *testing.T, l *lab.Lab, br string, port uint32, mac string) bool {
	t.Helper()
	flows, err := l.DumpFlowsOn(br)
	if err != nil {
		t.Fatalf("dump-flows %s: %v", br, err)
	}
	in := fmt.Sprintf("in_port=%d", port)
	for _, f := range flows {
		table0 := strings.Contains(f, "table=0") || !strings.Contains(f, "table=") // ovs-ofctl omits table=0
		if !table0 || !(strings.Contains(f, "actions=drop") || strings.HasSuffix(f, "actions=")) {
			continue
		}
		if strings.Contains(f, in+" ") || strings.Contains(f, in+",dl_src="+mac) {
			return true
		}
	}
	return false
}

// spoofWarm makes every host send to another one, so the controller knows
// where each station and address lives (their homes). It first empties the
// hosts' neighbour caches: a spoofing scanner's ARP (nmap --spoof-mac, -S)
// poisons them, which no switch controller undoes.
func spoofWarm(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, h := range l.Hosts() {
		scanRun(l, h.Index, 5*time.Second, "ip", "neigh", "flush", "all")
	}
	for _, h := range l.Hosts() {
		next := h.Index%len(l.Hosts()) + 1
		if !scanPing(l, h.Index, next, false, 5) {
			t.Fatalf("warm-up: h%d cannot ping h%d", h.Index, next)
		}
	}
}

// spoofIPsOf returns the addresses the controller says live at the
// station with mac.
func spoofIPsOf(t *testing.T, c *Controller, mac string) []string {
	t.Helper()
	var ips []string
	for _, h := range attrHostsOf(t, c, mac) {
		ips = append(ips, h.IPs...)
	}
	return ips
}

// spoofBlockAt returns the blocks whose source is port on any switch.
func spoofBlocksAt(blocks []api.Block, port uint32) []api.Block {
	var out []api.Block
	for _, b := range blocks {
		if b.Port == port {
			out = append(out, b)
		}
	}
	return out
}

func TestSpoofEvidence(t *testing.T) {
	e := scanStartEnv(t, 4)
	l := e.L
	att := l.Host(1)

	// A scanner that picks the source port of a noisy service (nmap -g) is
	// judged like any other: blocked, at its own port.
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"syn-from-dns-53", []string{"-sS", "-g", "53", "--top-ports", "100"}},
		{"syn-from-dhcp-67", []string{"-sS", "-g", "67", "--top-ports", "100"}},
		{"xmas-from-netbios-137", []string{"-sX", "-g", "137", "--top-ports", "100"}},
		{"udp-from-mdns-5353", []string{"-sU", "-g", "5353", "--top-ports", "30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Fresh(t)
			spoofWarm(t, l)
			argv := append([]string{"nmap", "-n", "-Pn", "-T4", "--max-retries", "1", "--host-timeout", "40s"}, tc.args...)
			argv = append(argv, l.Host(2).IP.String())
			p := scanStart(t, l, 1, time.Minute, argv...)
			blocks := scanWaitBlock(t, e.C, 45*time.Second, p.done)
			p.Kill()
			if len(blocks) == 0 {
				t.Fatalf("%s: never blocked; nmap said:\n%s", strings.Join(argv, " "), p.Output())
			}
			t.Logf("%s: blocked as %s: %s", strings.Join(argv, " "), blocks[0].Kind, blocks[0].Reason)
			scanBlockedOnly(t, l, blocks, 1)
			for i := 2; i <= 4; i++ {
				scanNotBlocked(t, l, blocks, i)
			}
		})
	}

	// Spoofing scanners: the machine that sent the probes ends blocked (at
	// its access port: the port), nobody it impersonated loses anything.
	//
	// nmap 7.93 refuses -S with an address no interface has ("failed to
	// determine route"), so for -S the scanner carries h3's address as a
	// /32 (without answering ARP for it, and resolving h2 with its own
	// address: arp_ignore=8, arp_announce=2) and sends through the kernel
	// (--send-ip): on the wire, SYNs from h1's port and MAC with h3's source
	// address, as with a working -S.
	h3ip := l.Host(3).IP.String()
	spoofSetup := func(t *testing.T) func() {
		for _, c := range [][]string{
			{"ip", "addr", "add", h3ip + "/32", "dev", "eth0", "noprefixroute"},
			{"sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=8", "net.ipv4.conf.eth0.arp_announce=2"},
		} {
			if out, err := scanRun(l, 1, 5*time.Second, c...); err != nil {
				t.Fatalf("%v: %v %s", c, err, out)
			}
		}
		return func() {
			scanRun(l, 1, 5*time.Second, "ip", "addr", "del", h3ip+"/32", "dev", "eth0")
			scanRun(l, 1, 5*time.Second, "sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=0", "net.ipv4.conf.eth0.arp_announce=0")
		}
	}
	for _, tc := range []struct {
		name     string
		args     []string
		innocent []int
	}{
		{"source-ip-of-h3", []string{"-sS", "--send-ip", "-S", h3ip, "-e", "eth0"}, []int{3}},
		{"random-mac", []string{"-sS", "--spoof-mac", "0"}, nil},
		{"decoys-h3-h4", []string{"-sS", "-D", l.Host(3).IP.String() + "," + l.Host(4).IP.String() + ",ME"}, []int{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Fresh(t)
			spoofWarm(t, l)
			undo := func() {}
			if slices.Contains(tc.args, "-S") {
				undo = spoofSetup(t)
			}
			argv := append([]string{"nmap", "-n", "-Pn", "-T4", "--max-retries", "1", "--host-timeout", "30s", "--top-ports", "100"}, tc.args...)
			argv = append(argv, l.Host(2).IP.String())
			p := scanStart(t, l, 1, time.Minute, argv...)
			scanWaitBlock(t, e.C, 40*time.Second, p.done)
			p.Kill()
			undo()
			time.Sleep(500 * time.Millisecond)
			blocks := scanBlocks(t, e.C)
			if len(spoofBlocksAt(blocks, att.Port)) == 0 {
				t.Fatalf("%s: the scanner's port %d is not blocked (blocks %s); nmap said:\n%s", strings.Join(argv, " "), att.Port, scanJSON(blocks), p.Output())
			}
			for _, b := range blocks {
				if b.Port != att.Port {
					t.Errorf("block of port %d (not the scanner's %d): %s", b.Port, att.Port, scanJSON(b))
				}
			}
			if !spoofPortDropped(t, l, l.Bridge(), att.Port, "") {
				flows, _ := l.DumpFlows()
				t.Errorf("the switch does not drop the scanner's port %d:\n%s", att.Port, strings.Join(flows, "\n"))
			}
			for _, i := range tc.innocent {
				h := l.Host(i)
				for _, s := range []string{h.MAC.String(), h.IP.String() + ",", h.IP.String() + " "} {
					if f := scanDropFlows(t, l, s); len(f) > 0 {
						t.Errorf("impersonated h%d: drop flows name %s: %v", i, strings.TrimSpace(strings.TrimSuffix(s, ",")), f)
					}
				}
			}
			scanCheckCutOff(t, l, 1)
		})
	}

	// Forged answers from a port where the answering address does not live
	// open no bypass and count for nothing: h1 SYN-scans ports of h2 that
	// never answer h1 (a blackhole route in h2), while h3 forges h2's
	// SYN-ACKs and UDP answers. h1 is blocked anyway (the silence of a live
	// host counts), and no bypass names h2's address.
	t.Run("forged-answers", func(t *testing.T) {
		spoofNeedScapy(t)
		e.Fresh(t)
		spoofWarm(t, l)
		h1, h2, h3 := l.Host(1), l.Host(2), l.Host(3)
		if out, err := scanRun(l, 2, 5*time.Second, "ip", "route", "add", "blackhole", h1.IP.String()+"/32"); err != nil {
			t.Fatalf("blackhole route in h2: %v %s", err, out)
		}
		defer scanRun(l, 2, 5*time.Second, "ip", "route", "del", "blackhole", h1.IP.String()+"/32")
		forge := fmt.Sprintf(`
from scapy.all import Ether, IP, TCP, UDP, sendp
import time
frames = [Ether(src=%q, dst=%q)/IP(src=%q, dst=%q)/TCP(sport=p, dport=40000, flags="SA") for p in range(1, 41)]
frames += [Ether(src=%q, dst=%q)/IP(src=%q, dst=%q)/UDP(sport=9999, dport=40001)/b"answer"]
end = time.time() + 6
while time.time() < end:
    sendp(frames, iface="eth0", verbose=False)
    time.sleep(0.2)
`, h3.MAC, h1.MAC, h2.IP, h1.IP, h3.MAC, h1.MAC, h2.IP, h1.IP)
		forger := scanStart(t, l, 3, 20*time.Second, spoofScapy, "-c", forge)
		// h1 asks h2 on UDP 9999 (answered only by the forger).
		scanRun(l, 1, 5*time.Second, spoofScapy, "-c", fmt.Sprintf(
			`import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("", 40001)); s.sendto(b"q", (%q, 9999))`, h2.IP.String()))
		// connect() attempts from source port 40000 (a kernel SYN, not
		// nmap's, whose signature would decide by itself).
		scan := scanStart(t, l, 1, 40*time.Second, "python3", "-c", fmt.Sprintf(`
import socket
for p in range(1, 41):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", 40000)); s.settimeout(0.15)
    try: s.connect((%q, p))
    except OSError: pass
    s.close()
`, h2.IP.String()))
		blocks := scanWaitBlock(t, e.C, 30*time.Second, scan.done)
		scan.Kill()
		forger.Kill()
		if len(spoofBlocksAt(blocks, h1.Port)) == 0 {
			t.Errorf("the scanner h1 was not blocked with forged answers covering its scan (blocks %s); nmap said:\n%s", scanJSON(blocks), scan.Output())
		}
		for _, i := range []int{2, 3, 4} {
			scanNotBlocked(t, l, blocks, i)
		}
		flows, _ := l.DumpFlows()
		for _, f := range flows {
			forged := strings.Contains(f, "nw_src="+h2.IP.String()+",nw_dst="+h1.IP.String()) &&
				(strings.Contains(f, "tp_dst=40000") || strings.Contains(f, "tp_src=9999") || strings.Contains(f, "tp_dst=40001"))
			opened := strings.Contains(f, "nw_src="+h1.IP.String()+",nw_dst="+h2.IP.String()) && strings.Contains(f, "tp_dst=9999")
			if strings.Contains(f, "priority=3000") && (forged || opened || strings.Contains(f, fmt.Sprintf("in_port=%d,", h3.Port)) && strings.Contains(f, "nw_src="+h2.IP.String())) {
				t.Errorf("a forged answer opened a bypass: %s", f)
			}
		}
		t.Logf("blocks %s", scanJSON(blocks))
	})

	// Forced lookups: h1 sends datagrams and SYNs from addresses nobody
	// holds to h2, whose answers (ICMP port unreachable, SYN-ACK, RST) each
	// need a lookup that nobody answers. h2 looks like a sweeper to a
	// detector that counts them; it must stay unblocked and reachable.
	t.Run("forced-lookups", func(t *testing.T) {
		spoofNeedScapy(t)
		e.Fresh(t)
		spoofWarm(t, l)
		h2 := l.Host(2)
		forge := fmt.Sprintf(`
from scapy.all import Ether, IP, IPv6, UDP, TCP, sendp
frames = []
for i in range(201, 213):
    frames.append(Ether(dst=%q)/IP(src="10.0.0.%%d" %% i, dst=%q)/UDP(sport=40000, dport=53)/b"x")
    frames.append(Ether(dst=%q)/IP(src="10.0.0.%%d" %% i, dst=%q)/TCP(sport=40000+i, dport=80, flags="S"))
    frames.append(Ether(dst=%q)/IPv6(src="fd00::%%d" %% i, dst=%q)/UDP(sport=40000, dport=53)/b"x")
sendp(frames, iface="eth0", verbose=False)
`, h2.MAC, h2.IP, h2.MAC, h2.IP, h2.MAC, h2.IPv6)
		if out, err := scanRun(l, 1, 20*time.Second, spoofScapy, "-c", forge); err != nil {
			t.Fatalf("scapy: %v %s", err, out)
		}
		time.Sleep(5 * time.Second) // three lookup retries, one second apart, then the failures
		blocks := scanBlocks(t, e.C)
		scanNotBlocked(t, l, blocks, 2)
		for _, b := range blocks {
			if b.Port == h2.Port {
				t.Errorf("h2, made to look up addresses nobody holds, is blocked: %s", scanJSON(b))
			}
		}
		t.Logf("blocks %s", scanJSON(blocks))
	})

	// An address stolen after a controller restart (issue 8, item 3): h2
	// and h3 talked under the last controller, whose bypass flows stay in
	// the switch, so the new one may not see h3's addresses until h3
	// answers something. h1 claims them first with forged frames of its
	// own MAC (a ping of h4 from h3's addresses, once a second) and keeps
	// using them. Then h2 opens new connections to h3's services and pings it:
	// h3's answers come from where h3 lives and must count, so neither h2
	// nor h3 is blocked and h2 keeps reaching h3. When the attacker then
	// scans from h3's address, its block drops nothing of h3.
	t.Run("stolen-after-restart", func(t *testing.T) {
		spoofNeedScapy(t)
		hping := testenv.Tool(t, "hping3")
		e.Fresh(t)
		spoofWarm(t, l)
		h1, h3, h4 := l.Host(1), l.Host(3), l.Host(4)
		for _, v6 := range []bool{false, true} {
			if !scanPing(l, 2, 3, v6, 3) {
				t.Fatalf("h2 cannot reach h3 (v6=%v) before the restart", v6)
			}
		}
		e.Fresh(t) // the restart: the neighbour caches stay warm, the bypass flows stay
		claim := fmt.Sprintf(`
from scapy.all import Ether, IP, IPv6, ICMP, ICMPv6EchoRequest, sendp
import time
frames = [Ether(src=%q, dst=%q)/IP(src=%q, dst=%q)/ICMP(id=7)]
frames += [Ether(src=%q, dst=%q)/IPv6(src=%q, dst=%q)/ICMPv6EchoRequest(id=7)]
end = time.time() + 30
while time.time() < end:
    sendp(frames, iface="eth0", verbose=False)
    time.sleep(1)
`, h1.MAC, h4.MAC, h3.IP, h4.IP, h1.MAC, h4.MAC, h3.IPv6, h4.IPv6)
		attacker := scanStart(t, l, 1, 40*time.Second, spoofScapy, "-c", claim)
		// The claim lands before h3 says anything: the controller says h3's
		// address lives at h1.
		for deadline := time.Now().Add(10 * time.Second); !slices.Contains(spoofIPsOf(t, e.C, h1.MAC.String()), h3.IP.String()); {
			if time.Now().After(deadline) {
				t.Fatalf("h1's claim of %s never landed: %s", h3.IP, attacker.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		// h2 becomes a client of h3's services (ssh, http, https and an
		// application's port: no bypass of the last controller covers them).
		for _, v6 := range []bool{false, true} {
			for _, port := range []int{22, 80, 443, 4000} {
				if !scanConnect(l, 2, 3, port, v6, 2) {
					t.Errorf("h2 cannot connect to h3:%d (v6=%v) while h1 claims h3's addresses", port, v6)
				}
			}
		}
		scanRun(l, 2, 10*time.Second, "python3", "-c", fmt.Sprintf(`
import socket
for a, f in ((%q, socket.AF_INET), (%q, socket.AF_INET6)):
    for p in (53, 123):
        s = socket.socket(f, socket.SOCK_DGRAM); s.settimeout(1); s.sendto(b"q", (a, p))
        try: s.recv(64)
        except OSError: pass
`, h3.IP.String(), h3.IPv6.String()))
		time.Sleep(scanNoAnswer) // unanswered attempts would fail now
		for _, v6 := range []bool{false, true} {
			if !scanPing(l, 2, 3, v6, 3) {
				t.Errorf("h2 cannot ping h3 (v6=%v) while h1 claims h3's addresses", v6)
			}
			if !scanConnect(l, 2, 3, 4000, v6, 2) {
				t.Errorf("h2 cannot connect to h3:4000 (v6=%v) after its connections", v6)
			}
		}
		attacker.Kill()
		if blocks := scanBlocks(t, e.C); len(blocks) > 0 {
			t.Errorf("blocks after h2 reached h3: %s", scanJSON(blocks))
		}
		// The attacker scans h4 from h3's address (hping3 -a: SYNs without
		// options, decided on sight): it is blocked, and its block drops nothing of h3.
		if out, err := scanRun(l, 1, 20*time.Second, hping[0], "-q", "-S", "-a", h3.IP.String(), "-p", "++1", "-c", "8", "-i", "u2000", h4.IP.String()); err != nil {
			t.Logf("hping3: %v %s", err, out) // it exits 1 when nothing answers
		}
		blocks := scanWaitBlock(t, e.C, 5*time.Second, nil)
		t.Logf("blocks %s", scanJSON(blocks))
		if len(spoofBlocksAt(blocks, h1.Port)) == 0 {
			t.Errorf("the attacker's scan from h3's address is not blocked")
		}
		scanNotBlocked(t, l, blocks, 2)
		scanNotBlocked(t, l, blocks, 3)
		// The block's ips list every address its source used (h3's among
		// them, as for decoys); what it drops must name nothing of h3.
		for _, s := range []string{h3.MAC.String(), h3.IP.String() + ",", h3.IP.String() + " ", h3.IPv6.String()} {
			if f := scanDropFlows(t, l, s); len(f) > 0 {
				t.Errorf("drop flows name h3's %s: %v", strings.TrimSpace(strings.TrimSuffix(s, ",")), f)
			}
		}
		if hs := attrHostsOf(t, e.C, h3.MAC.String()); len(hs) != 1 || !slices.Contains(hs[0].IPs, h3.IP.String()) {
			t.Errorf("the controller does not say h3's address lives at h3: %s", scanJSON(hs))
		}
	})
}

// Two switches joined by a patch link (issue 8, item 3): h1 on switch A
// sends stealth probes with the source MAC of h3, who lives on switch B.
// The prober is blocked at its ingress on A; h3 keeps reaching its
// neighbour on B and the hosts on A, and nothing of h3 is dropped on B.
func TestSpoofTwoSwitches(t *testing.T) {
	RequireLab(t)
	spoofNeedScapy(t)
	c := StartPortcullis(t, "--api-token", scanToken)
	cfg := LabConfig(4)
	cfg.Split = 2
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	dpA, errA := l.DatapathID(l.Bridges()[0])
	dpB, errB := l.DatapathID(l.Bridges()[1])
	if errA != nil || errB != nil || dpA == dpB {
		t.Fatalf("datapath ids %x %x: %v %v", dpA, dpB, errA, errB)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(scanEvents(t, c, "switch_up")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("both switches never came up:\n%s", c.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	env := &scanEnv{t: t, L: l, C: c, dir: t.TempDir()}
	env.WarmUp(t)
	h1, h2, h3 := l.Host(1), l.Host(2), l.Host(3)
	if h1.Bridge != l.Bridges()[0] || h3.Bridge != l.Bridges()[1] {
		t.Fatalf("hosts on %s and %s, want h1 on %s and h3 on %s", h1.Bridge, h3.Bridge, l.Bridges()[0], l.Bridges()[1])
	}
	probe := fmt.Sprintf(`
from scapy.all import Ether, IP, TCP, sendp
sendp([Ether(src=%q, dst=%q)/IP(src=%q, dst=%q)/TCP(sport=40000+p, dport=p, flags="FPU") for p in (21, 22, 23, 25, 80)], iface="eth0", verbose=False)
`, h3.MAC, h2.MAC, h1.IP, h2.IP)
	if out, err := scanRun(l, 1, 20*time.Second, spoofScapy, "-c", probe); err != nil {
		t.Fatalf("probes: %v %s", err, out)
	}
	var blocks []api.Block
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if blocks = scanBlocks(t, c); len(spoofBlocksAt(blocks, h1.Port)) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	blocks = scanBlocks(t, c)
	t.Logf("blocks: %s", scanJSON(blocks))
	fmtDP := api.FormatDPID
	var atA bool
	for _, b := range blocks {
		switch {
		case b.DPID == fmtDP(dpA) && b.Port == h1.Port:
			atA = true
		case b.DPID == fmtDP(dpB) && b.Port == lab.PatchPort:
			// the spoofed frames also entered B through the patch port: harmless there
		default:
			t.Errorf("block outside the prober's ingress: %s", scanJSON(b))
		}
	}
	if !atA {
		t.Errorf("the prober's port %d on switch A (%s) is not blocked", h1.Port, fmtDP(dpA))
	}
	if !spoofPortDropped(t, l, l.Bridges()[0], h1.Port, h3.MAC.String()) {
		flows, _ := l.DumpFlowsOn(l.Bridges()[0])
		t.Errorf("switch A does not drop the prober at port %d:\n%s", h1.Port, strings.Join(flows, "\n"))
	}
	// The machine that sent the probes is cut off (its access port has
	// one real station: the port is the machine).
	if scanPing(l, 1, 2, false, 1) {
		t.Error("the prober h1 still reaches h2")
	}
	flowsB, _ := l.DumpFlowsOn(l.Bridges()[1])
	for _, f := range flowsB {
		table0 := strings.Contains(f, "table=0") || !strings.Contains(f, "table=")
		if table0 && strings.Contains(f, h3.MAC.String()) && !strings.Contains(f, "in_port="+strconv.Itoa(int(lab.PatchPort))) {
			t.Errorf("switch B drops h3's frames where h3 lives: %s", f)
		}
	}
	// h3 keeps reaching its neighbour on B and the hosts on A.
	for _, to := range []int{4, 2} {
		if !scanPing(l, 3, to, false, 3) || !scanPing(l, 3, to, true, 3) {
			t.Errorf("impersonated h3 cannot reach h%d", to)
		}
		if !scanPing(l, to, 3, false, 3) {
			t.Errorf("h%d cannot reach the impersonated h3", to)
		}
	}
	if !scanPing(l, 2, 4, false, 3) {
		t.Error("h2 (switch A) cannot reach h4 (switch B)")
	}

	// A legit move still works: h4 leaves switch B (its port goes away)
	// and comes back on switch A, where its MAC lived behind the patch
	// port (a virtual machine migrating between switches).
	brA, brB := l.Bridges()[0], l.Bridges()[1]
	if out, err := l.Vsctl("del-port", brB, "h4", "--", "add-port", brA, "h4", "--", "set", "Interface", "h4", "ofport_request=4"); err != nil {
		t.Fatalf("moving h4 to %s: %v %s", brA, err, out)
	}
	for _, to := range []int{2, 3} {
		if !scanPing(l, 4, to, false, 5) {
			t.Errorf("h4 cannot reach h%d after moving to switch A", to)
		}
	}
	for _, b := range scanBlocks(t, c) {
		if strings.EqualFold(b.MAC, l.Host(4).MAC.String()) {
			t.Errorf("the moved h4 is blocked: %s", scanJSON(b))
		}
	}
}
