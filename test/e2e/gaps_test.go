package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"portcullis/internal/testenv"
)

// Issue 8, item 1: the gaps a red-team pass found (docs/BENCHMARKS.md,
// "Known exceptions"), each with the tool that found it. Like
// TestScanStealth: one scan from h1 at h2 against a fresh controller; h1
// ends blocked (and nobody else), it learned at most stealthBudget ports
// (distinct answers from h2 seen by tcpdump in h1), and the others still
// reach each other.

// gapCase is one attack: argv in h1, with the placeholders {vic} (h2's
// address, IPv6 when v6), {vicmac} (h2's MAC), {atk} (h1's address) and
// {dir} (a scratch directory with the gapScripts).
type gapCase struct {
	name string
	tool string // the binary that must exist
	argv []string
	v6   bool
}

// gapScripts are the attacks no tool sends as such, as scripts in {dir}.
var gapScripts = map[string]string{
	// UDP to the broadcast MAC with h2's unicast address: flooded to every
	// port, h2 accepts it and answers from its open ports (53, 123) but
	// refuses nothing (no ICMP error for a frame not sent to its MAC).
	"bcast-udp.py": `
import sys, time
from scapy.all import Ether, IP, UDP, sendp, conf
conf.verb = 0
dst = sys.argv[1]
for port in list(range(1000, 1060)) + [53, 123, 161]:
    sendp(Ether(dst='ff:ff:ff:ff:ff:ff') / IP(dst=dst) / UDP(sport=40000, dport=port) / b'x', iface='eth0')
    time.sleep(0.002)
`,
	// An IP protocol scan the same way (nmap -sO cannot choose the MAC).
	"bcast-proto.py": `
import sys, time
from scapy.all import Ether, IP, sendp, conf
conf.verb = 0
dst = sys.argv[1]
for proto in range(2, 60):
    sendp(Ether(dst='ff:ff:ff:ff:ff:ff') / IP(dst=dst, proto=proto) / (b'x' * 20), iface='eth0')
    time.sleep(0.002)
`,
	// connect() to the ports a scanner expects open first, then the rest,
	// as a shell one-liner does.
	"open-first.sh": `
for p in 22 80 443 4000 3306 8080 $(seq 1 30); do
  (: <>"/dev/tcp/$1/$p") 2>/dev/null && echo "open $p"
done
`,
}

var gapCases = []gapCase{
	// Item 1: PSH/ACK and ACK-with-data probes draw a RST from every
	// unfiltered port.
	{"psh-ack", "nmap", []string{"nmap", "-n", "-Pn", "-sA", "--scanflags", "ACKPSH", "-T4", "--top-ports", "1000", "{vic}"}, false},
	{"ack-data", "nmap", []string{"nmap", "-n", "-Pn", "-sA", "--data-length", "10", "--max-rate", "40", "-p1-200", "{vic}"}, false},
	{"psh-ack-v6", "nmap", []string{"nmap", "-n", "-Pn", "-6", "-sA", "--scanflags", "ACKPSH", "-T5", "--top-ports", "200", "{vic}"}, true},
	// Item 2: connect scans that try open services first. Their SYNs from
	// the third port of h2 on are held in the switch (policy/hold.go) and
	// judged one by one, so the one that decides never reaches h2.
	{"connect-open-first-sh", "bash", []string{"bash", "{dir}/open-first.sh", "{vic}"}, false},
	{"connect-open-first-nmap", "nmap", []string{"nmap", "-n", "-Pn", "-sT", "-T4", "--max-retries", "0", "-p", "22,80,443,4000,3306,8080,1-200", "{vic}"}, false},
	{"connect-T5-v6", "nmap", []string{"nmap", "-n", "-Pn", "-6", "-sT", "-T5", "--top-ports", "1000", "{vic}"}, true},
	// Item 3: raw SYN port scans by tools other than nmap.
	{"hping3-scan", "hping3", []string{"hping3", "--scan", "1-1000", "-S", "{vic}"}, false},
	{"masscan-100k", "masscan", []string{"masscan", "-p1-10000", "-e", "eth0", "--adapter-ip", "{atk}", "--router-mac", "{vicmac}",
		"--rate", "100000", "--wait", "3", "{vic}"}, false},
	// Item 4: UDP to the broadcast MAC with a unicast address.
	{"bcast-mac-udp", "/usr/bin/python3", []string{"/usr/bin/python3", "{dir}/bcast-udp.py", "{vic}"}, false},
	{"bcast-mac-proto", "/usr/bin/python3", []string{"/usr/bin/python3", "{dir}/bcast-proto.py", "{vic}"}, false},
	// A SYN scan with bad TCP checksums (h2 drops them: nothing to learn
	// from h2, but a middlebox that answers would teach the scanner).
	{"syn-badsum", "nmap", []string{"nmap", "-n", "-Pn", "-sS", "--badsum", "-T4", "--top-ports", "100", "{vic}"}, false},
}

func gapArgv(e *scanEnv, c gapCase) []string {
	r := strings.NewReplacer("{vic}", scanAddr(e.L, 2, c.v6), "{atk}", scanAddr(e.L, 1, c.v6),
		"{vicmac}", e.L.Host(2).MAC.String(), "{dir}", e.dir)
	out := make([]string, len(c.argv))
	for i, a := range c.argv {
		out[i] = r.Replace(a)
	}
	return out
}

// gapRun runs c from h1 at h2 on a fresh controller.
func gapRun(t testing.TB, e *scanEnv, c gapCase) stealthResult {
	t.Helper()
	for name, script := range gapScripts {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Leftovers of the case before must not count for this one: h2
	// retransmits the SYN-ACK of a connection whose ACK a block dropped for
	// up to a minute (5 times, from 1 s to 32 s apart), and the data and FIN
	// of one it accepted. Once (1 s later) is enough to have them gone by
	// the time this case's capture starts; the data and FIN are not answers
	// to a probe (the SYN-ACK before them is), so they never count.
	if _, err := scanRun(e.L, 2, 10*time.Second, "sysctl", "-qw", "net.ipv4.tcp_synack_retries=1"); err != nil {
		t.Fatal(err)
	}
	// Nor may the scanner of the case before: a fresh controller that saw its last probes
	// blocked h1 before this case's warm-up (masscan-100k after hping3-scan, in CI).
	e.L.KillIn(1, "hping3", "masscan", "nmap", "nping", "zmap")
	e.Fresh(t)
	// The bypass flows of the case before outlive its controller (the
	// switch keeps them until idle): h1's SYNs to a service it reached then
	// would skip the watch table, unseen, and count as learned here.
	if _, err := e.L.Ofctl("del-flows", "cookie=0x5043040000000000/0xffffff0000000000"); err != nil {
		t.Fatal(err)
	}
	e.WarmUp(t)
	atk, vic := scanAddr(e.L, 1, c.v6), scanAddr(e.L, 2, c.v6)
	tap := scanStartTap(t, e, 1, fmt.Sprintf("src host %s and dst host %s", vic, atk))
	st0 := Stats(t, e.C)
	start := time.Now()
	p := scanStart(t, e.L, 1, 2*time.Minute, gapArgv(e, c)...)
	blocks := scanWaitBlock(t, e.C, time.Minute, p.done)
	took := time.Since(start)
	time.Sleep(2 * time.Second) // answers still in flight, if any
	p.Kill()
	tap.Stop()
	r := stealthResult{blocks: blocks, took: took, output: p.Output()}
	seen := map[string]bool{}
	for _, l := range tap.Lines() {
		if strings.Contains(l, "Flags [") && !strings.Contains(l, "Flags [S.]") && !strings.Contains(l, "Flags [R") {
			continue // data or FIN of a connection: its SYN-ACK is the answer
		}
		if k := stealthAnswer(l); k != "" && !seen[k] {
			seen[k] = true
			r.learned = append(r.learned, k)
		}
	}
	r.packetIns = Stats(t, e.C).PacketIns - st0.PacketIns
	return r
}

func TestScanGaps(t *testing.T) {
	testenv.Tool(t, "tcpdump", "nmap")
	e := scanStartEnv(t, 4)
	for _, c := range gapCases {
		t.Run(c.name, func(t *testing.T) {
			testenv.Tool(t, c.tool)
			r := gapRun(t, e, c)
			reason := ""
			if len(r.blocks) > 0 {
				reason = r.blocks[0].Kind + ": " + r.blocks[0].Reason
			}
			t.Logf("%s: %d learned %v, blocked after %v (%s), %d packet-ins", c.name, len(r.learned), r.learned,
				r.took.Round(time.Millisecond), reason, r.packetIns)
			if len(r.blocks) == 0 {
				t.Fatalf("%v: attacker never blocked; it said:\n%s", c.argv, r.output)
			}
			scanBlockedOnly(t, e.L, r.blocks, 1)
			scanCheckOthers(t, e.L, 1)
			if len(r.learned) > stealthBudget {
				t.Errorf("%v learned %d port states before the block (goal <= %d): %v", c.argv, len(r.learned), stealthBudget, r.learned)
			}
		})
	}
}

// gapPoller polls services of one host in rounds, each from new sockets:
// argv rounds interval proto host port... (proto tcp: connect and close;
// udp: a datagram, 1 s for an answer). It prints one line per round with
// the ports that answered.
const gapPoller = `
import socket, sys, time
rounds, interval, proto, host = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
ports = [int(p) for p in sys.argv[5:]]
for r in range(rounds):
    ok = []
    for p in ports:
        if proto == 'tcp':
            s = socket.socket(); s.settimeout(2)
            try:
                s.connect((host, p)); ok.append(p)
            except OSError:
                pass
            s.close()
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
            try:
                s.sendto(b'ping', (host, p)); s.recvfrom(64); ok.append(p)
            except OSError:
                pass
            s.close()
    print('round', r, 'answered', ok, flush=True)
    time.sleep(interval)
`

// TestScanGapsBenign is the other side of the rules that closed the gaps:
// a monitoring poller checking a host's services, some of them down, in
// rounds (UDP: the refusals of its first round are those of a scan's first
// burst; TCP: first contacts to several ports of one host within seconds,
// the fan-out rule) is not blocked, and every round gets its answers.
func TestScanGapsBenign(t *testing.T) {
	e := scanStartEnv(t, 4)
	script := filepath.Join(e.dir, "poller.py")
	if err := os.WriteFile(script, []byte(gapPoller), 0o644); err != nil {
		t.Fatal(err)
	}
	vic := scanAddr(e.L, 2, false)
	for _, c := range []struct {
		name, proto string
		ports       []string
		answered    string // what every round must print
	}{
		// 2 UDP services up (53, 123), 3 down: refused in the first round.
		{"udp-poller-3-down", "udp", []string{"53", "123", "161", "162", "514"}, "answered [53, 123]"},
		// the 4 TCP services up, polled every half second.
		{"tcp-poller-4-up", "tcp", []string{"22", "80", "443", "4000"}, "answered [22, 80, 443, 4000]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.Fresh(t)
			e.WarmUp(t)
			out, err := scanRun(e.L, 4, time.Minute, append([]string{"python3", script, "5", "0.5", c.proto, vic}, c.ports...)...)
			if err != nil {
				t.Fatalf("poller: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			if n := strings.Count(out, c.answered); n != 5 {
				t.Errorf("%d of 5 rounds %s; poller said:\n%s", n, c.answered, out)
			}
			if b := scanBlocks(t, e.C); len(b) > 0 {
				t.Errorf("benign poller blocked: %s", scanJSON(b))
			}
		})
	}
}

// BenchmarkScanGaps runs every case of TestScanGaps b.N times and logs the
// ports learned per run (docs/BENCHMARKS.md "The red-team gaps").
//
//	go test ./test/e2e -run '^$' -bench BenchmarkScanGaps -benchtime 3x -v
func BenchmarkScanGaps(b *testing.B) {
	testenv.Tool(b, "tcpdump", "nmap")
	e := scanStartEnv(b, 4)
	for _, c := range gapCases {
		var runs []string
		for range b.N {
			r := gapRun(b, e, c)
			runs = append(runs, fmt.Sprintf("%d (%v)", len(r.learned), len(r.blocks) > 0))
		}
		b.Logf("| %s | `%s` | %s |", c.name, strings.Join(c.argv, " "), strings.Join(runs, ", "))
	}
}

// gapZombie answers for an address of its own (argv: address, interface),
// in userspace, as the ideal idle-scan zombie nmap looks for: ARP replies,
// and a RST with a global, incrementing IP ID to every SYN-ACK (and SYN)
// sent to it. Linux itself is no usable zombie (nmap: "IP ID sequence class
// is: All zeros"), and the kernel does not own the address, so it sends no
// RST of its own.
const gapZombie = `
import sys
from scapy.all import ARP, Ether, IP, TCP, sendp, sniff, get_if_hwaddr, conf
conf.verb = 0
addr, iface = sys.argv[1], sys.argv[2]
mac = get_if_hwaddr(iface)
ipid = [1000]
def answer(p):
    if ARP in p and p[ARP].op == 1 and p[ARP].pdst == addr:
        sendp(Ether(dst=p[Ether].src, src=mac) / ARP(op=2, hwsrc=mac, psrc=addr, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc), iface=iface)
    elif IP in p and TCP in p and p[IP].dst == addr and p[TCP].flags & 0x02:
        ipid[0] += 1
        t = p[TCP]
        sendp(Ether(dst=p[Ether].src, src=mac) / IP(src=addr, dst=p[IP].src, id=ipid[0]) /
              TCP(sport=t.dport, dport=t.sport, flags='R', seq=t.ack), iface=iface)
print('ready', flush=True)
sniff(iface=iface, store=False, prn=answer, filter='arp or (tcp and dst host %s)' % addr)
`

// TestScanGapsIdle: nmap's idle scan (-sI) through a zombie in h3. The
// SYNs to h2 carry the zombie's address; h1, which sent them, must end
// blocked, and h3 (the zombie's home) must not lose anything.
func TestScanGapsIdle(t *testing.T) {
	testenv.Tool(t, "nmap", "/usr/bin/python3")
	e := scanStartEnv(t, 4)
	script := filepath.Join(e.dir, "zombie.py")
	if err := os.WriteFile(script, []byte(gapZombie), 0o644); err != nil {
		t.Fatal(err)
	}
	const zombie = "10.0.0.50"
	z := scanStart(t, e.L, 3, 5*time.Minute, "/usr/bin/python3", script, zombie, e.L.Host(3).Iface)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(z.Output(), "ready") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	e.Fresh(t)
	e.WarmUp(t)
	time.Sleep(time.Second) // scapy's sniffer is up
	p := scanStart(t, e.L, 1, 2*time.Minute, "nmap", "-n", "-Pn", "-sI", zombie+":80", "-p", "1-100", scanAddr(e.L, 2, false))
	blocks := scanWaitBlock(t, e.C, time.Minute, p.done)
	p.Kill()
	t.Logf("nmap said:\n%s", p.Output())
	if len(blocks) == 0 {
		t.Fatalf("idle scan through %s: attacker never blocked; zombie said:\n%s", zombie, z.Output())
	}
	t.Logf("blocked: %s: %s %v", blocks[0].Kind, blocks[0].Reason, blocks[0].IPs)
	// The verdict is on the spoofed SYNs themselves (the zombie's address,
	// from the zombie's port), not only on nmap's probes of the zombie.
	if !slices.Contains(blocks[0].IPs, zombie) {
		t.Errorf("the block names %v, not the zombie's address the idle scan's SYNs carried", blocks[0].IPs)
	}
	scanBlockedOnly(t, e.L, blocks, 1)
	scanNotBlocked(t, e.L, blocks, 3)
	scanCheckOthers(t, e.L, 1)
}
