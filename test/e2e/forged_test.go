package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/testenv"
)

// Forged echo replies (issue 8, item 2): an accomplice on another port
// answers a ping sweep for the addresses it sweeps, so that every probe
// looks answered. h1 sweeps the /24 with zmap's ICMP echo scan through h2's
// MAC (its "gateway"), as zmap does on a LAN; h3 sends echo replies "from"
// every swept address but its own to h1. An echo request addressed to h2's
// MAC is answered from h2's port or not at all: a reply from h3's port
// answers nothing (whether its address lives at h2, at h4, or nowhere), so
// h1 is blocked as a sweeper, no echo bypass names a forged pair, and h3
// and the others keep reaching each other.

// forgedEchoReplies is the accomplice's script (argv: its MAC, h1's MAC,
// h1's address, its own address, the echo id of the probe pings): echo
// replies from 10.0.0.2-254 but its own address, paced (about 330 a
// second) so they stay under its port's answer meter (500/s), in rounds of
// 0.75 s, for argv[6] seconds.
const forgedEchoReplies = `
import sys, time
from scapy.all import Ether, IP, ICMP, conf
mac, dstmac, dst, own, eid, secs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
frames = [bytes(Ether(src=mac, dst=dstmac)/IP(src='10.0.0.%d' % i, dst=dst)/ICMP(type=0, id=eid, seq=1)/b'forged')
          for i in range(2, 255) if '10.0.0.%d' % i != own]
s = conf.L2socket(iface='eth0')
print('forging', len(frames), flush=True)
end = time.time() + secs
while time.time() < end:
    t0 = time.time()
    for f in frames:
        s.send(f)
        time.sleep(0.003)
    time.sleep(max(0, 0.75 - (time.time() - t0)))
`

// forgedEchoPings sends echo requests with a fixed id (argv: the MAC they
// go to, then the addresses), 0.2 s apart: the pings an accomplice that
// knows the id can answer, to open an echo bypass if a forged reply could.
const forgedEchoPings = `
import sys, time
from scapy.all import Ether, IP, ICMP, sendp
mac, eid = sys.argv[1], int(sys.argv[2])
for a in sys.argv[3:]:
    sendp(Ether(dst=mac)/IP(dst=a)/ICMP(type=8, id=eid, seq=1)/b'ping', iface='eth0', verbose=False)
    time.sleep(0.2)
`

// evasionForgedEcho is TestEvasion/forged-echo-replies.
func evasionForgedEcho(t *testing.T, e *scanEnv) {
	testenv.Tool(t, "zmap")
	spoofNeedScapy(t)
	l := e.L
	h1, h2, h3, h4 := l.Host(1), l.Host(2), l.Host(3), l.Host(4)
	dir := t.TempDir()
	blacklist := filepath.Join(dir, "blacklist")
	for name, body := range map[string]string{"forge.py": forgedEchoReplies, "ping.py": forgedEchoPings, "blacklist": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.Fresh(t)
	e.WarmUp(t)
	const eid = 0x4242
	forger := scanStart(t, l, 3, 30*time.Second, spoofScapy, filepath.Join(dir, "forge.py"),
		h3.MAC.String(), h1.MAC.String(), h1.IP.String(), h3.IP.String(), fmt.Sprint(eid), "12")
	defer forger.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(forger.Output(), "forging"); {
		if time.Now().After(deadline) {
			t.Fatalf("forger did not start: %s", forger.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Two pings the forger answers with their own id: an empty address and
	// h4's, both through h2's MAC.
	forgedPair := []string{"10.0.0.200", h4.IP.String()}
	if out, err := scanRun(l, 1, 10*time.Second, append([]string{spoofScapy, filepath.Join(dir, "ping.py"), h2.MAC.String(), fmt.Sprint(eid)}, forgedPair...)...); err != nil {
		t.Fatalf("pings: %v %s", err, out)
	}
	sweep := scanStart(t, l, 1, 30*time.Second, "zmap", "-M", "icmp_echoscan", "-i", "eth0", "-S", h1.IP.String(), "-G", h2.MAC.String(),
		"-b", blacklist, "-r", "2000", "-c", "4", "-q", "-o", "-", "10.0.0.0/24")
	blocks := scanWaitBlock(t, e.C, 15*time.Second, sweep.done)
	// The bypass flows as the forger left them, before anyone's traffic
	// after the sweep could add its own.
	flows, _ := l.DumpFlows()
	sweep.Kill()
	forger.Kill()
	if len(spoofBlocksAt(blocks, h1.Port)) == 0 {
		t.Errorf("the sweeper h1 was not blocked while h3 forged answers to its sweep (blocks %s); zmap said:\n%s", scanJSON(blocks), sweep.Output())
	}
	for _, i := range []int{2, 3, 4} {
		scanNotBlocked(t, l, blocks, i)
	}
	// The forged pairs: h1 with the empty address (no bypass at all) and
	// h3's port carrying any address but h3's own to h1 (the warm-up's
	// pings left bypasses of the real pairs, h4's from h4's port).
	for _, f := range flows {
		if !strings.Contains(f, "priority=3000,icmp,") { // the forger forges IPv4
			continue
		}
		if strings.Contains(f, "=10.0.0.200,") || strings.HasSuffix(f, "=10.0.0.200") ||
			strings.Contains(f, fmt.Sprintf("in_port=%d,", h3.Port)) && !strings.Contains(f, "nw_src="+h3.IP.String()+",") {
			t.Errorf("a forged echo reply opened a bypass: %s", f)
		}
	}
	scanCheckOthers(t, l, 1)
	t.Logf("blocks %s", scanJSON(blocks))
}
