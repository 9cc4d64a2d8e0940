package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/testenv"
)

// What the hold (policy/hold.go) costs a benign client: a client that opens
// several services of one host within seconds has its SYNs from the third
// service on held in the switch and sent on by the controller. These
// benchmarks time its connects on the real pipeline, held and not (the same
// client allowlisted: never observed, so never held).

// holdListener accepts and closes TCP connections on ports argv[1] to
// argv[2].
const holdListener = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for p in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', p)); s.listen(64); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print('ready', flush=True)
while True:
    for k, _ in sel.select():
        try:
            c, _ = k.fileobj.accept(); c.close()
        except OSError:
            pass
`

// holdClient connects once to each port of argv[1] in turn and prints each
// connect's time in ms ("fail" when it did not connect within 3 s).
const holdClient = `
import socket, sys, time
out = []
for p in sys.argv[2:]:
    s = socket.socket(); s.settimeout(3); t = time.perf_counter()
    try:
        s.connect((sys.argv[1], int(p))); out.append('%.3f' % ((time.perf_counter() - t) * 1000))
    except OSError:
        out.append('fail')
    s.close()
print(' '.join(out), flush=True)
`

// BenchmarkHoldBenignConnect: h4 opens n services of h2 (from 5001 on), one
// after the other, on a fresh controller; reported: the median connect time of
// the third to the n-th (the ones the hold holds), of the first two, how
// many took a SYN retransmission (over 500 ms) and how many did not connect; "allowlisted" is the same client never held.
// From the sixth service of one host on, the fan-out rule decides port-scan
// (detect/fanout.go), held or not: the allowlisted client shows the cost
// without that rule too.
//
//	go test ./test/e2e -run '^$' -bench BenchmarkHoldBenignConnect -benchtime 5x -v
func BenchmarkHoldBenignConnect(b *testing.B) {
	e := scanStartEnv(b, 4)
	dir := b.TempDir()
	for name, src := range map[string]string{"listen.py": holdListener, "client.py": holdClient} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Every run takes services never used before: a bypass flow of an
	// earlier run (policy/bypass.go) outlives its controller and would let
	// the SYNs pass unseen.
	const first, last = 5001, 6000
	next := first
	l := scanStart(b, e.L, 2, 30*time.Minute, "/usr/bin/python3", filepath.Join(dir, "listen.py"), strconv.Itoa(first), strconv.Itoa(last))
	defer l.Kill()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(l.Output(), "ready"); {
		if time.Now().After(deadline) {
			b.Fatalf("listener: %s", l.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	vic, cli := scanAddr(e.L, 2, false), scanAddr(e.L, 4, false)
	for _, n := range []int{4, 5, 6, 8} {
		for _, mode := range []string{"held", "allowlisted"} {
			b.Run(fmt.Sprintf("services=%d/%s", n, mode), func(b *testing.B) {
				var early, late []float64
				fails, slow, blocked := 0, 0, 0
				for range b.N {
					e.Fresh(b)
					e.WarmUp(b)
					if mode == "allowlisted" {
						body, _ := json.Marshal(map[string]any{"cidr": cli, "comment": "hold benchmark"})
						if code, _, data := opDo(b, e.C, "POST", "/api/v1/allowlist", scanToken, bytes.NewReader(body)); code/100 != 2 {
							b.Fatalf("allowlist: %d %s", code, data)
						}
					}
					if next+n > last+1 {
						b.Fatalf("out of fresh services (%d-%d): use a smaller -benchtime", first, last)
					}
					argv := []string{"/usr/bin/python3", filepath.Join(dir, "client.py"), vic}
					for p := next; p < next+n; p++ {
						argv = append(argv, strconv.Itoa(p))
					}
					next += n
					out, err := scanRun(e.L, 4, time.Minute, argv...)
					if err != nil {
						b.Fatalf("client: %v\n%s", err, out)
					}
					for i, f := range strings.Fields(out) {
						ms, err := strconv.ParseFloat(f, 64)
						if err == nil && ms > 500 {
							slow++ // a SYN dropped and sent again a second later
						}
						switch {
						case err != nil:
							fails++
						case i < 2:
							early = append(early, ms)
						default:
							late = append(late, ms)
						}
					}
					if len(scanBlocks(b, e.C)) > 0 {
						blocked++
					}
				}
				b.ReportMetric(holdMedian(early), "ms/connect-1-2")
				b.ReportMetric(holdMedian(late), "ms/connect-3+")
				b.ReportMetric(float64(fails)/float64(b.N), "failed/run")
				b.ReportMetric(float64(slow)/float64(b.N), "retransmitted/run")
				b.ReportMetric(float64(blocked)/float64(b.N), "blocked/run")
			})
		}
	}
}

// holdMedian is the median of xs (0 for none): one SYN the first-contact
// meter dropped (a 1 s retransmission) does not hide the rest.
func holdMedian(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// holdSqueezer makes the station it runs on a suspect again and again under
// new MACs (argv: the target, its MAC, seconds): every 50 ms a SYN without options
// (one is a suspicion, three a verdict) from a random MAC and address, so
// that each asks for a hold, and with it a squeeze of the port's
// first-contact meter.
const holdSqueezer = `
import random, sys, time
from scapy.all import Ether, IP, TCP, conf
dst, dstmac, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = conf.L2socket(iface='eth0')
print('squeezing', flush=True)
end = time.time() + secs
while time.time() < end:
    mac = '02:%02x:%02x:%02x:%02x:%02x' % tuple(random.randrange(256) for _ in range(5))
    s.send(Ether(src=mac, dst=dstmac)/IP(src='10.0.0.%d' % random.randrange(170, 250), dst=dst)/TCP(sport=40000, dport=22, flags='S'))
    time.sleep(0.05)
`

// holdNeighbour connects once to port argv[1] of each address argv[2:] in
// turn, 200 ms apart (a client of many hosts: never a suspect), and prints
// each connect's time in ms ("fail" past 3 s).
const holdNeighbour = `
import socket, sys, time
out = []
for a in sys.argv[2:]:
    s = socket.socket(); s.settimeout(3); t = time.perf_counter()
    try:
        s.connect((a, int(sys.argv[1]))); out.append('%.3f' % ((time.perf_counter() - t) * 1000))
    except OSError:
        out.append('fail')
    s.close()
    time.sleep(0.2)
print(' '.join(out), flush=True)
`

// BenchmarkHoldSqueezeNeighbour: what a station that makes itself a suspect
// under new MACs costs its neighbour on the same port (h1's eth0, the
// neighbour, and the squeezer's forged MACs share h1's port). The neighbour
// connects to 20 addresses of h2 (10.0.0.100-119, one new service each,
// never a suspect) while the squeezer runs, and alone; reported: the
// connects that took a SYN retransmission (over 500 ms) and that failed.
//
//	go test ./test/e2e -run '^$' -bench BenchmarkHoldSqueezeNeighbour -benchtime 3x -v
func BenchmarkHoldSqueezeNeighbour(b *testing.B) {
	if out, err := exec.Command("/usr/bin/python3", "-c", "import scapy.all").CombinedOutput(); err != nil {
		testenv.Missing(b, "scapy for /usr/bin/python3 missing: apt-get install python3-scapy (%v %s)", err, out)
	}
	e := scanStartEnv(b, 4)
	dir := b.TempDir()
	for name, src := range map[string]string{"listen.py": holdListener, "squeeze.py": holdSqueezer, "neighbour.py": holdNeighbour} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var addrs []string
	var add strings.Builder
	for i := 100; i < 120; i++ {
		addrs = append(addrs, fmt.Sprintf("10.0.0.%d", i))
		fmt.Fprintf(&add, "ip addr add 10.0.0.%d/24 dev eth0; ", i)
	}
	if out, err := scanRun(e.L, 2, 20*time.Second, "sh", "-c", add.String()); err != nil {
		b.Fatalf("addresses in h2: %v %s", err, out)
	}
	l := scanStart(b, e.L, 2, 30*time.Minute, "/usr/bin/python3", filepath.Join(dir, "listen.py"), "5001", "5001")
	defer l.Kill()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(l.Output(), "ready"); {
		if time.Now().After(deadline) {
			b.Fatalf("listener: %s", l.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, mode := range []string{"alone", "squeezed"} {
		b.Run(mode, func(b *testing.B) {
			var ms []float64
			fails, slow := 0, 0
			for range b.N {
				e.Fresh(b)
				// Bypass flows of the run before would let the connects pass unseen.
				if _, err := e.L.Ofctl("del-flows", "cookie=0x5043040000000000/0xffffff0000000000"); err != nil {
					b.Fatal(err)
				}
				e.WarmUp(b)
				var sq *scanProc
				if mode == "squeezed" {
					sq = scanStart(b, e.L, 1, time.Minute, "/usr/bin/python3", filepath.Join(dir, "squeeze.py"), e.L.Host(3).IP.String(), e.L.Host(3).MAC.String(), "15")
					for deadline := time.Now().Add(10 * time.Second); !strings.Contains(sq.Output(), "squeezing"); {
						if time.Now().After(deadline) {
							b.Fatalf("squeezer: %s", sq.Output())
						}
						time.Sleep(50 * time.Millisecond)
					}
					time.Sleep(500 * time.Millisecond)
				}
				out, err := scanRun(e.L, 1, time.Minute, append([]string{"/usr/bin/python3", filepath.Join(dir, "neighbour.py"), "5001"}, addrs...)...)
				if sq != nil {
					sq.Kill()
				}
				if err != nil {
					b.Fatalf("neighbour: %v\n%s", err, out)
				}
				for _, f := range strings.Fields(out) {
					v, err := strconv.ParseFloat(f, 64)
					switch {
					case err != nil:
						fails++
					case v > 500:
						slow++
					}
					if err == nil {
						ms = append(ms, v)
					}
				}
				scanNotBlocked(b, e.L, scanBlocks(b, e.C), 1)
			}
			b.ReportMetric(float64(slow)/float64(b.N), "retransmitted/run")
			b.ReportMetric(float64(fails)/float64(b.N), "failed/run")
			b.ReportMetric(holdMedian(ms), "ms/connect")
		})
	}
}
