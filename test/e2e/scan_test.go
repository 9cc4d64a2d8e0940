package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/testenv"
)

// Issue 3, "How it will be checked": every nmap scan type and timing a user
// would try, from one host, gets that host blocked; afterwards it reaches
// nothing while the other hosts still reach each other. Scanners that
// spoof other hosts' addresses get themselves blocked, never the hosts
// they impersonate.
//
// One lab (h1 attacker, h2 victim, h3 and h4 bystanders; every host runs
// TCP services on 22, 80, 443, 4000 and UDP echo on 53 and 123) serves all
// cases; each case gets a fresh controller with an empty state directory,
// so no case profits from what an earlier one taught the detector.

// scanCase is one attack.
type scanCase struct {
	name  string
	args  []string      // nmap arguments (targets included); "-n" is added
	kinds []string      // acceptable block kinds
	limit time.Duration // how long the attack may run unblocked
	// decoys are hosts whose addresses the attacker forges: they must
	// not be blocked, and no drop flow may name their addresses.
	decoys []int
}

const (
	scanAttacker = 1
	scanVictim   = 2
)

var (
	kindsPort    = []string{"port-scan"}
	kindsStealth = []string{"stealth-scan"}
	// An ACK or window scan is seen through the victim's RSTs (the switch
	// cannot tell its ACKs from stream ACKs): stealth-scan or port-scan.
	kindsAck    = []string{"stealth-scan", "port-scan"}
	kindsSweep  = []string{"arp-sweep", "ping-sweep", "host-sweep"}
	kindsSweep6 = []string{"nd-sweep", "ping-sweep", "host-sweep"}
)

// scanNmapCases are the scans of issue 3's first check. Port ranges,
// --max-retries 1 and a host timeout keep a scan short; a blocked nmap is
// killed as soon as the block is seen.
func scanNmapCases() []scanCase {
	v4, v6 := "10.0.0.2", "fd00::2"
	fast := []string{"-T4", "--max-retries", "1", "--host-timeout", "60s"}
	c := func(name string, kinds []string, args ...string) scanCase {
		return scanCase{name: name, args: args, kinds: kinds, limit: 30 * time.Second}
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	ports := []string{"-p", "1-1000"}
	cases := []scanCase{
		c("syn", kindsPort, cat([]string{"-sS"}, fast, ports, []string{v4})...),
		c("connect", kindsPort, cat([]string{"-sT"}, fast, ports, []string{v4})...),
		c("fin", kindsStealth, cat([]string{"-sF"}, fast, ports, []string{v4})...),
		c("null", kindsStealth, cat([]string{"-sN"}, fast, ports, []string{v4})...),
		c("xmas", kindsStealth, cat([]string{"-sX"}, fast, ports, []string{v4})...),
		c("maimon", kindsStealth, cat([]string{"-sM"}, fast, ports, []string{v4})...),
		c("ack", kindsAck, cat([]string{"-sA"}, fast, ports, []string{v4})...),
		c("window", kindsAck, cat([]string{"-sW"}, fast, ports, []string{v4})...),
		c("udp-top100", []string{"udp-scan"}, cat([]string{"-sU", "--top-ports", "100"}, fast, []string{v4})...),
		c("ip-proto", []string{"ip-proto-scan"}, cat([]string{"-sO"}, fast, []string{v4})...),
		// On a LAN nmap -sn discovers hosts by ARP (IPv4) and neighbour
		// solicitation (IPv6); --disable-arp-ping makes it an ICMP echo,
		// TCP 443 SYN, TCP 80 ACK and ICMP timestamp sweep.
		c("ping-sweep-arp", kindsSweep, "-sn", "-T4", "10.0.0.0/24"),
		c("ping-sweep-icmp", kindsSweep, "-sn", "-T4", "--disable-arp-ping", "10.0.0.0/24"),
		c("ping-sweep-v6", kindsSweep6, "-6", "-sn", "-T4", "fd00::2", "fd00::3", "fd00::4", "fd00::5",
			"fd00::6", "fd00::7", "fd00::8", "fd00::9", "fd00::a", "fd00::b", "fd00::c"),
		// OS detection needs an open and a closed port; with only two
		// ports the port scan is too short to decide, the OS probes do.
		c("os-detect", []string{"os-fingerprint", "port-scan", "stealth-scan"},
			"-O", "--max-os-tries", "1", "-T4", "-p", "80,81", v4),
		c("syn-T5", kindsPort, "-sS", "-T5", "-p", "1-1000", v4),
		// -T2: 0.4 s between probes; a connect scan has no raw-SYN
		// signature, so the walk over failed first contacts decides.
		c("connect-T2-slow", kindsPort, "-sT", "-T2", "--max-retries", "1", "-p", "1-200", v4),
		c("v6-syn", kindsPort, cat([]string{"-6", "-sS"}, fast, ports, []string{v6})...),
		c("v6-connect", kindsPort, cat([]string{"-6", "-sT"}, fast, ports, []string{v6})...),
		c("v6-fin", kindsStealth, cat([]string{"-6", "-sF"}, fast, ports, []string{v6})...),
		c("v6-udp-top100", []string{"udp-scan"}, cat([]string{"-6", "-sU", "--top-ports", "100"}, fast, []string{v6})...),
	}
	for i := range cases {
		if strings.Contains(cases[i].name, "slow") {
			cases[i].limit = 60 * time.Second
		}
	}
	// Decoys: nmap interleaves each probe with copies forged from the
	// decoys' addresses; all of them enter the switch at h1's port with
	// h1's MAC.
	decoy := c("decoys-lab-hosts", kindsPort, cat([]string{"-sS", "-D", "10.0.0.3,10.0.0.4,ME"}, fast, ports, []string{v4})...)
	decoy.decoys = []int{3, 4}
	rnd := c("decoys-RND", kindsPort, cat([]string{"-sS", "-D", "RND:5"}, fast, ports, []string{v4})...)
	decoy6 := c("v6-decoys-lab-hosts", kindsPort, cat([]string{"-6", "-sS", "-D", "fd00::3,fd00::4,ME"}, fast, ports, []string{v6})...)
	decoy6.decoys = []int{3, 4}
	return append(cases, decoy, rnd, decoy6)
}

func TestScanNmapBlocked(t *testing.T) {
	e := scanStartEnv(t, 4)
	for _, tc := range scanNmapCases() {
		t.Run(tc.name, func(t *testing.T) {
			e.Fresh(t)
			e.WarmUp(t)
			scanAttack(t, e, tc, append([]string{"nmap", "-n"}, tc.args...))
		})
	}
}

// scanAttack runs argv in the attacker, waits for a block and checks it:
// attributed to the attacker's port and MAC with an expected kind, reported
// as scan_detected and blocked events, in the switch as a drop flow; the
// attacker cut off, everyone else (decoys included) unaffected. Then it
// lifts the block through the API and checks the attacker is back.
func scanAttack(t *testing.T, e *scanEnv, tc scanCase, argv []string) {
	l, c := e.L, e.C
	start := time.Now()
	p := scanStart(t, l, scanAttacker, tc.limit, argv...)
	blocks := scanWaitBlock(t, c, tc.limit, p.done)
	took := time.Since(start)
	p.Kill()
	if len(blocks) == 0 {
		t.Fatalf("%s: no block after %v; nmap said:\n%s\ncontroller:\n%s",
			strings.Join(argv, " "), took.Round(time.Millisecond), p.Output(), c.Logs())
	}
	time.Sleep(300 * time.Millisecond) // a verdict racing the first one
	blocks = scanBlocks(t, c)
	t.Logf("%s: blocked after %v: kind %s, reason %q", strings.Join(argv, " "), took.Round(time.Millisecond), blocks[0].Kind, blocks[0].Reason)
	scanBlockedOnly(t, l, blocks, scanAttacker, tc.kinds...)
	for _, h := range l.Hosts() {
		if h.Index != scanAttacker {
			scanNotBlocked(t, l, blocks, h.Index)
		}
	}

	// The operator's view: a scan_detected naming the attacker's port and
	// MAC, and a blocked event for each block.
	att := l.Host(scanAttacker)
	detected := false
	for _, ev := range scanEvents(t, c, "scan_detected") {
		if ev.Port == att.Port && strings.EqualFold(ev.MAC, att.MAC.String()) && slices.Contains(tc.kinds, ev.Kind) {
			detected = true
		}
		if ev.Port != att.Port {
			t.Errorf("scan_detected for port %d (not the attacker's %d): %s", ev.Port, att.Port, scanJSON(ev))
		}
	}
	if !detected {
		t.Errorf("no scan_detected event for port %d %s with kind in %v: %s", att.Port, att.MAC, tc.kinds, scanJSON(scanEvents(t, c)))
	}
	blockedEv := scanEvents(t, c, "blocked")
	for _, b := range blocks {
		if !slices.ContainsFunc(blockedEv, func(ev api.Event) bool { return ev.BlockID == b.ID }) {
			t.Errorf("no blocked event for block %s: %s", b.ID, scanJSON(blockedEv))
		}
	}

	// The switch drops the attacker's MAC (or, for a spoofer at its access
	// port, the port itself), and nothing of a decoy.
	if f := scanDropFlows(t, l, att.MAC.String()); len(f) == 0 && len(scanDropFlows(t, l, fmt.Sprintf("in_port=%d actions", att.Port))) == 0 {
		flows, _ := l.DumpFlows()
		t.Errorf("no drop flow for %s in the switch:\n%s", att.MAC, strings.Join(flows, "\n"))
	}
	for _, d := range tc.decoys {
		h := l.Host(d)
		for _, s := range []string{h.MAC.String(), h.IP.String() + ",", h.IP.String() + " ", h.IPv6.String()} {
			if f := scanDropFlows(t, l, s); len(f) > 0 {
				t.Errorf("decoy h%d: drop flows name %s: %v", d, strings.TrimSpace(strings.TrimSuffix(s, ",")), f)
			}
		}
	}

	scanCheckCutOff(t, l, scanAttacker)

	// An operator lifts the block: the attacker is back. (It once stayed cut
	// off after about 1 lift in 15: a datapath megaflow rewritten to drop
	// when the block landed outlived the lift; the block's guards fix it,
	// see policy.BlockInstall and TestLifecycleBlockFlows.)
	for _, b := range blocks {
		scanLift(t, c, b.ID)
	}
	if left := scanBlocks(t, c); len(left) > 0 {
		t.Errorf("blocks left after lifting all: %s", scanJSON(left))
	}
	lifted := time.Now()
	if back := scanPing(l, scanAttacker, 3, false, 5); back {
		t.Logf("h%d reaches h3 again %v after the lift", scanAttacker, time.Since(lifted).Round(time.Millisecond))
	} else if scanPing(l, scanAttacker, 3, false, 10) {
		t.Logf("h%d reaches h3 again only %v after the lift", scanAttacker, time.Since(lifted).Round(time.Millisecond))
	} else {
		tap1 := scanStart(t, l, scanAttacker, 4*time.Second, "tcpdump", "-i", "eth0", "-n", "-e", "-l")
		tap3 := scanStart(t, l, 3, 4*time.Second, "tcpdump", "-i", "eth0", "-n", "-e", "-l")
		time.Sleep(500 * time.Millisecond)
		ping, _ := scanRun(l, scanAttacker, 5*time.Second, "ping", "-n", "-c", "2", "-W", "1", scanAddr(l, 3, false))
		neigh, _ := scanRun(l, scanAttacker, 5*time.Second, "ip", "-s", "neigh")
		tap1.Wait()
		tap3.Wait()
		ping += "\nh1 neighbours:\n" + neigh + "\ntcpdump in h1:\n" + tap1.Output() + "\ntcpdump in h3:\n" + tap3.Output()
		flows, _ := l.DumpFlows()
		ctl := filepath.Join(l.RunDir(), "ovs-vswitchd.ctl")
		dp, _ := exec.Command("ovs-appctl", "-t", ctl, "dpctl/dump-flows").CombinedOutput()
		trace, _ := exec.Command("ovs-appctl", "-t", ctl, "ofproto/trace", l.Bridge(),
			fmt.Sprintf("in_port=%d,icmp,dl_src=%s,dl_dst=%s,nw_src=%s,nw_dst=%s", att.Port, att.MAC, l.Host(3).MAC, att.IP, l.Host(3).IP)).CombinedOutput()
		t.Errorf("h%d still cut off 15 s after its block was lifted; blocks %s\nping: %s\nflows:\n%s\ndatapath flows:\n%s\ntrace:\n%s",
			scanAttacker, scanJSON(scanBlocks(t, c)), ping, strings.Join(flows, "\n"), dp, trace)
	}
}

// A SYN flood with random spoofed source addresses (hping3 --flood
// --rand-source) from h1: every packet enters at h1's port with h1's MAC,
// so if anything is blocked it is h1, never a host whose address a packet
// happened to carry; the other hosts keep talking and the controller
// stays up.
func TestScanSpoofedFlood(t *testing.T) {
	testenv.Tool(t, "hping3")
	e := scanStartEnv(t, 4)
	e.WarmUp(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"syn-open-port", []string{"-S", "-p", "80", "10.0.0.2"}},
		{"syn-closed-ports", []string{"-S", "-p", "++1000", "10.0.0.2"}},
		{"udp", []string{"-2", "-p", "9999", "10.0.0.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Fresh(t)
			e.WarmUp(t)
			argv := append([]string{"hping3", "--flood", "--rand-source", "-q"}, tc.args...)
			p := scanStart(t, e.L, scanAttacker, 5*time.Second, argv...)
			// Waits until scanNoAnswer after the flood for verdicts on
			// its last probes.
			scanWaitBlock(t, e.C, 15*time.Second, p.done)
			p.Kill()
			blocks := scanBlocks(t, e.C)
			st := Stats(t, e.C)
			t.Logf("%s: %d packet-ins, %d probes, %d blocks: %s", strings.Join(argv, " "), st.PacketIns, st.Probes, len(blocks), scanJSON(blocks))
			if len(blocks) > 0 {
				scanBlockedOnly(t, e.L, blocks, scanAttacker)
			}
			for _, h := range e.L.Hosts() {
				if h.Index != scanAttacker {
					scanNotBlocked(t, e.L, blocks, h.Index)
				}
			}
			if err := e.C.Healthy(); err != nil {
				t.Fatalf("controller after the flood: %v", err)
			}
			scanCheckOthers(t, e.L, scanAttacker)
		})
	}
}

// A SYN flood from h1's own address at one port of h2 (hping3 --flood -S):
// not a scan, but thousands of SYNs a second from one switch port. The
// switch's per-port SYN counter shows it; h1 is blocked (kind syn-flood)
// within a few seconds, at an open port (whose pair is bypassed after the
// first SYN-ACK, so the watch copies never see the flood) as at a closed
// one, and over IPv6 (nping, as hping3 has no IPv6). Afterwards h1 reaches
// no one and the others still talk.
func TestScanSYNFloodBlocked(t *testing.T) {
	e := scanStartEnv(t, 3)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"open-port", []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}},
		{"closed-port", []string{"hping3", "--flood", "-q", "-S", "10.0.0.2"}}, // hping3's default port 0
		// hping3 has no IPv6; nmap's nping sends SYNs at a set rate.
		{"open-port-v6", []string{"nping", "-6", "--tcp", "--flags", "syn", "-p", "80", "--rate", "20000",
			"-c", "1000000", "-N", "-q", "fd00::2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Tool(t, tc.args[0])
			e.Fresh(t)
			e.WarmUp(t)
			argv := tc.args
			p := scanStart(t, e.L, scanAttacker, 30*time.Second, argv...)
			blocks := scanWaitBlock(t, e.C, 20*time.Second, p.done)
			p.Kill()
			t.Logf("%s: blocks %s", strings.Join(argv, " "), scanJSON(blocks))
			scanBlockedOnly(t, e.L, blocks, scanAttacker, "syn-flood")
			if t.Failed() {
				return
			}
			for _, h := range e.L.Hosts() {
				if h.Index != scanAttacker {
					scanNotBlocked(t, e.L, blocks, h.Index)
				}
			}
			scanCheckCutOff(t, e.L, scanAttacker)
		})
	}
}

// Two stations behind one switch port (a downstream switch; here h1 and a
// macvlan of h1's interface in a namespace of its own, with a MAC of its
// own): the port's counter alone cannot name the flooder, so the
// controller counts each station's SYNs and blocks the one that floods.
// h1 itself keeps talking.
func TestScanSYNFloodBehindSharedPort(t *testing.T) {
	testenv.Tool(t, "hping3")
	e := scanStartEnv(t, 3)
	const mvMAC, mvIP = "02:00:00:00:00:a1", "10.0.0.101"
	ns := fmt.Sprintf("pc-mv-%d", os.Getpid())
	h1ns := e.L.Host(scanAttacker).Netns
	run := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", h1ns, "link", "add", "link", "eth0", "name", "mv0", "address", mvMAC, "type", "macvlan", "mode", "bridge")
	run("ip", "-n", h1ns, "link", "set", "mv0", "netns", ns)
	run("ip", "-n", ns, "addr", "add", mvIP+"/24", "dev", "mv0")
	run("ip", "-n", ns, "link", "set", "mv0", "up")
	run("ip", "netns", "exec", ns, "ethtool", "-K", "mv0", "tx", "off")
	e.Fresh(t)
	e.WarmUp(t)
	// The second station makes itself known (the switch learns its MAC).
	if out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "2", "10.0.0.2").CombinedOutput(); err != nil {
		t.Fatalf("the macvlan station cannot ping h2: %v: %s", err, out)
	}
	argv := []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	flood := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()
	blocks := scanWaitBlock(t, e.C, 40*time.Second, done)
	cancel()
	<-done
	t.Logf("%s from %s: blocks %s", strings.Join(argv, " "), mvMAC, scanJSON(blocks))
	if len(blocks) != 1 || !strings.EqualFold(blocks[0].MAC, mvMAC) || blocks[0].Kind != "syn-flood" {
		t.Fatalf("want one syn-flood block of the macvlan station %s, got %s\nevents: %s",
			mvMAC, scanJSON(blocks), scanJSON(scanEvents(t, e.C, "scan_detected")))
	}
	if blocks[0].Port != e.L.Host(scanAttacker).Port {
		t.Errorf("block at port %d, want h1's port %d", blocks[0].Port, e.L.Host(scanAttacker).Port)
	}
	// h1's own station is not blocked and still talks.
	scanNotBlockedMAC(t, blocks, e.L.Host(scanAttacker).MAC.String())
	if !scanPing(e.L, scanAttacker, 2, false, 3) {
		t.Error("h1 (the other station on the port) cannot ping h2")
	}
	if !scanConnect(e.L, scanAttacker, 2, 80, false, 3) {
		t.Error("h1 cannot connect to h2:80")
	}
	if out, err := exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "10.0.0.2").CombinedOutput(); err == nil {
		t.Errorf("the blocked station still pings h2: %s", out)
	}
}

// scanNotBlockedMAC fails t if a block names mac.
func scanNotBlockedMAC(t testing.TB, blocks []api.Block, mac string) {
	t.Helper()
	for _, b := range blocks {
		if strings.EqualFold(b.MAC, mac) {
			t.Errorf("innocent station %s is blocked: %+v", mac, b)
		}
	}
}
