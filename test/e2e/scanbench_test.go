package e2e

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// Issue 3's benchmarks (figures, not pass/fail; docs/BENCHMARKS.md, section
// "Scan defense", has the figures of one run and the commands). They need
// root and Open vSwitch and skip otherwise. One iteration is one full
// experiment: run them with -benchtime=1x (or Nx to average N runs).
//
//	go test ./test/e2e -run '^$' -bench BenchmarkScan -benchtime 1x -v

// scanNmapXML is the part of nmap's -oX output the benchmarks read.
type scanNmapXML struct {
	Hosts []struct {
		Ports []struct {
			Port  int `xml:"portid,attr"`
			State struct {
				State string `xml:"state,attr"`
			} `xml:"state"`
		} `xml:"ports>port"`
		ExtraPorts []struct {
			State string `xml:"state,attr"`
			Count int    `xml:"count,attr"`
		} `xml:"ports>extraports"`
	} `xml:"host"`
}

// learned counts the ports nmap reports open or closed (state learned),
// including those folded into <extraports>.
func (x scanNmapXML) learned() (open, closed int) {
	for _, h := range x.Hosts {
		for _, p := range h.Ports {
			switch p.State.State {
			case "open":
				open++
			case "closed":
				closed++
			}
		}
		for _, e := range h.ExtraPorts {
			if e.State == "closed" {
				closed += e.Count
			}
		}
	}
	return open, closed
}

// scanTap runs tcpdump in host i with filter until stop, collecting its
// lines (-tt timestamps, numeric).
type scanTap struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	cancel context.CancelFunc
}

func scanStartTap(b testing.TB, e *scanEnv, i int, filter string) *scanTap {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tp := &scanTap{out: &syncBuffer{}, cancel: cancel}
	tp.cmd = e.L.Exec(ctx, e.L.Host(i).Name, "tcpdump", "-i", e.L.Host(i).Iface, "-n", "-tt", "-l", filter)
	tp.cmd.Stdout = tp.out
	errp, _ := tp.cmd.StderrPipe()
	if err := tp.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tp.Stop)
	sc := bufio.NewScanner(errp)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return tp
}

// Stop ends tcpdump (it flushes what it captured) and waits.
func (tp *scanTap) Stop() {
	if tp.cmd.Process != nil {
		tp.cmd.Process.Signal(os.Interrupt)
	}
	done := make(chan struct{})
	go func() { tp.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		tp.cancel()
		<-done
	}
	tp.cancel()
}

// Lines returns the captured packets, one line each.
func (tp *scanTap) Lines() []string {
	var l []string
	for line := range strings.Lines(tp.out.String()) {
		if line = strings.TrimSpace(line); line != "" {
			l = append(l, line)
		}
	}
	return l
}

// scanTapTime is the timestamp of a tcpdump -tt line.
func scanTapTime(line string) (time.Time, error) {
	f, err := strconv.ParseFloat(strings.Fields(line)[0], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("tcpdump line %q: %v", line, err)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// scanAnsweredPorts counts the distinct source ports of the answers in
// tcpdump lines "TS IP 10.0.0.2.PORT > 10.0.0.1.X: Flags [S.]..." (SYN-ACK:
// open) or "[R.]" (RST: closed).
func scanAnsweredPorts(lines []string) (open, closed int) {
	seen := map[string]bool{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 7 || f[1] != "IP" {
			continue
		}
		src := f[2]
		port := src[strings.LastIndex(src, ".")+1:]
		if seen[port] {
			continue
		}
		seen[port] = true
		if strings.HasPrefix(f[6], "[S") {
			open++
		} else {
			closed++
		}
	}
	return open, closed
}

// BenchmarkScanSYNTopPorts runs `nmap -sS -T4 --top-ports 1000` from h1
// at h2 (open TCP ports 22, 80, 443 and 4000) against a fresh controller
// and reports
//
//   - ports-learned: ports whose state nmap learned (goal <= 5): the
//     distinct ports of h2 whose answer (SYN-ACK: open, RST: closed)
//     reached h1, from tcpdump in h1. nmap learns a port's state exactly
//     from such an answer; once blocked it only sees timeouts
//     ("filtered"). With PORTCULLIS_BENCH_NMAP_FULL=1 nmap runs to its end
//     (about 3 minutes: it retries every filtered port) and the count
//     from its -oX output is reported too, as nmap-learned;
//   - ms-to-detect, ms-to-block: from the first SYN of the scan (tcpdump
//     in h1, kernel timestamp) to the controller's scan_detected event and
//     to its blocked event, which it publishes once the switch confirmed
//     the drop flows with a barrier reply (the flow is in the switch);
//     both are this machine's clock;
//   - syns-to-victim: SYNs from h1 that reached h2 (tcpdump in h2).
func BenchmarkScanSYNTopPorts(b *testing.B) {
	full := os.Getenv("PORTCULLIS_BENCH_NMAP_FULL") == "1"
	e := scanStartEnv(b, 4)
	var learned, nmapLearned, toDetect, toBlock, syns float64
	for range b.N {
		e.Fresh(b)
		e.WarmUp(b)
		probes := scanStartTap(b, e, 1, "tcp[tcpflags] == tcp-syn and dst host 10.0.0.2")
		answers := scanStartTap(b, e, 1, "src host 10.0.0.2 and tcp and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0")
		atVictim := scanStartTap(b, e, 2, "tcp[tcpflags] == tcp-syn and src host 10.0.0.1")
		xmlPath := b.TempDir() + "/nmap.xml"
		p := scanStart(b, e.L, 1, 5*time.Minute, "nmap", "-n", "-sS", "-T4", "--top-ports", "1000", "-oX", xmlPath, "10.0.0.2")
		if full {
			if out, err := p.Wait(); err != nil {
				b.Fatalf("nmap: %v: %s", err, out)
			}
		} else {
			if len(scanWaitBlock(b, e.C, time.Minute, p.done)) == 0 {
				b.Fatalf("scan not blocked: %s", p.Output())
			}
			time.Sleep(3 * time.Second) // answers still in flight, if any
			p.Kill()
		}
		probes.Stop()
		answers.Stop()
		atVictim.Stop()
		pl := probes.Lines()
		if len(pl) == 0 {
			b.Fatal("tcpdump saw no SYN from h1")
		}
		t0, err := scanTapTime(pl[0])
		if err != nil {
			b.Fatal(err)
		}
		open, closed := scanAnsweredPorts(answers.Lines())
		det := scanEvents(b, e.C, "scan_detected")
		blk := scanEvents(b, e.C, "blocked")
		if len(det) == 0 || len(blk) == 0 {
			b.Fatalf("scan not blocked: %s", scanJSON(scanEvents(b, e.C)))
		}
		nmapSaid := ""
		if full {
			raw, err := os.ReadFile(xmlPath)
			if err != nil {
				b.Fatal(err)
			}
			var x scanNmapXML
			if err := xml.Unmarshal(raw, &x); err != nil {
				b.Fatalf("nmap -oX: %v", err)
			}
			o, c := x.learned()
			nmapLearned += float64(o + c)
			nmapSaid = fmt.Sprintf(" (nmap -oX: %d open, %d closed)", o, c)
		}
		n := len(atVictim.Lines())
		b.Logf("ports learned: %d open, %d closed%s; %d SYNs sent, %d reached h2; first SYN %s, scan_detected +%v, blocked +%v; %s",
			open, closed, nmapSaid, len(pl), n, t0.Format("15:04:05.000000"), det[0].Time.Sub(t0), blk[0].Time.Sub(t0), blk[0].Reason)
		learned += float64(open + closed)
		toDetect += det[0].Time.Sub(t0).Seconds() * 1000
		toBlock += blk[0].Time.Sub(t0).Seconds() * 1000
		syns += float64(n)
		for _, bl := range scanBlocks(b, e.C) {
			scanLift(b, e.C, bl.ID)
		}
	}
	nf := float64(b.N)
	b.ReportMetric(learned/nf, "ports-learned")
	if full {
		b.ReportMetric(nmapLearned/nf, "nmap-learned")
	}
	b.ReportMetric(toDetect/nf, "ms-to-detect")
	b.ReportMetric(toBlock/nf, "ms-to-block")
	b.ReportMetric(syns/nf, "syns-to-victim")
}

// scanBenignRun measures the path h3 -> h4 in two phases: 100 pings 50 ms
// apart (ping loss in percent, on an otherwise quiet path), then an iperf3
// transfer of secs seconds (Gbit/s).
func scanBenignRun(b *testing.B, e *scanEnv, secs int) (gbps, loss float64) {
	b.Helper()
	out, _ := scanRun(e.L, 3, 30*time.Second, "ping", "-n", "-q", "-i", "0.05", "-c", "100", "-W", "1", "10.0.0.4")
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no ping summary in: %s", out)
	}
	sent, _ := strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	r := Iperf(b, e.L, 4, 3, "-t", strconv.Itoa(secs))
	return r.Gbps(), 100 * float64(sent-recv) / float64(sent)
}

// BenchmarkScanBenignDuringAttack measures iperf3 throughput and ping loss
// between two benign hosts (h3 -> h4) side by side: with no attack; while
// h1 runs `nmap -T5 -p-` at h2; while h1 runs `hping3 --flood -S` at h2
// (hping3's default port 0, closed); the same flood at h2's open port 80;
// that flood from h1 after an operator blocked it; and, as the floor no
// defense can beat, the same flood from h1 into a veth pair of its own that
// the switch never sees (the attacker's CPU, shared with iperf3 and the
// datapath on this machine, without any network effect). Then, with the
// attacker given CPU 1 to itself and everything else pinned to CPU 0 (as
// when the attacker is another machine or a guest with its own core): idle,
// the open-port flood, and that flood with flood detection off. Each
// condition gets a fresh controller; the attack starts 1 s before the
// measurement and runs through it (ping phase, then iperf3 phase: see
// scanBenignRun). Reported: Gbit/s and loss per condition, each attack's
// throughput as a fraction of its baseline (idle, or idle-pinned for the
// pinned rows; goal >= 0.95, no loss), and each unpinned flood's as a
// fraction of the unconnected floor.
func BenchmarkScanBenignDuringAttack(b *testing.B) {
	testenv.Tool(b, "hping3")
	const secs = 5
	e := scanStartEnv(b, 4)
	scanVoid(b, e.L, 1)
	sum := map[string][2]float64{}
	noFlood := filepath.Join(b.TempDir(), "noflood.yaml")
	if err := os.WriteFile(noFlood, []byte("detect:\n  flood:\n    syn_rate: 0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	type attack = struct {
		name  string
		argv  []string
		block bool // an operator blocks h1 (POST /api/v1/blocks) before the attack
		// pinned: the attacker gets CPU 1 to itself, everything else
		// (Open vSwitch, the controller, iperf3, ping) CPU 0, as when the
		// attacker is another machine or a guest with its own core.
		pinned bool
		extra  []string // more `portcullis run` flags
	}
	attacks := []attack{
		{"idle", nil, false, false, nil},
		{"nmap-T5", []string{"nmap", "-n", "-sS", "-T5", "-p-", "10.0.0.2"}, false, false, nil},
		// hping3's default destination port is 0: closed, answered by
		// RSTs. All to one port: not a scan. The first-contact meter of
		// h1's switch port holds it to its rate until h1's SYN counter
		// gets it blocked as a syn-flood.
		{"hping3-flood", []string{"hping3", "--flood", "-q", "-S", "10.0.0.2"}, false, false, nil},
		// A SYN flood at an open port from the host's own address: every
		// first contact succeeds, and the first SYN-ACK bypasses
		// h1->h2:80, so the meter does not apply; the SYN counter does.
		{"hping3-flood-open", []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}, false, false, nil},
		// The same flood from a host an operator blocked: what a block
		// saves the switch (the flood is dropped in table 0).
		{"hping3-flood-blocked", []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}, true, false, nil},
		// The attacker's own CPU, with no network effect: the same flood
		// from h1 into a veth pair of its own that no switch reads
		// (scanVoidAddr). On a machine whose cores the attacker shares
		// with the datapath and iperf3, no controller can do better.
		{"hping3-unconnected", []string{"hping3", "--flood", "-q", "-S", "-p", "80", scanVoidAddr}, false, false, nil},
		// The attacker on a core of its own: idle, the open-port flood with
		// Portcullis as configured, and the same without flood detection.
		{"idle-pinned", nil, false, true, nil},
		{"hping3-flood-open-pinned", []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}, false, true, nil},
		{"hping3-flood-open-pinned-nodetect", []string{"hping3", "--flood", "-q", "-S", "-p", "80", "10.0.0.2"}, false, true,
			[]string{"--config", noFlood}},
	}
	if runtime.NumCPU() < 2 {
		attacks = slices.DeleteFunc(attacks, func(a attack) bool { return a.pinned })
	}
	for range b.N {
		for _, a := range attacks {
			if a.pinned {
				scanPin(b, e, "0")
			}
			e.Fresh(b, a.extra...)
			if a.pinned {
				scanPin(b, e, "0") // the new controller too
			}
			e.WarmUp(b)
			Iperf(b, e.L, 4, 3, "-t", "1") // learning and bypasses in place, as for a running network
			if a.block {
				scanManualBlock(b, e.C, e.L.Host(1).MAC.String())
			}
			var p *scanProc
			if a.argv != nil {
				argv := a.argv
				if a.pinned {
					argv = append([]string{"taskset", "-c", "1"}, argv...)
				}
				p = scanStart(b, e.L, 1, secs*time.Second+30*time.Second, argv...)
				time.Sleep(time.Second)
			}
			g, loss := scanBenignRun(b, e, secs)
			blocks := scanBlocks(b, e.C)
			if p != nil {
				p.Kill()
			}
			b.Logf("%-20s iperf3 h3->h4 %.2f Gbit/s, ping loss %.1f%%, blocks %d %s", a.name, g, loss, len(blocks), kindsOf(blocks))
			for _, bl := range blocks {
				scanLift(b, e.C, bl.ID)
			}
			if a.pinned {
				scanPin(b, e, "0,1")
			}
			s := sum[a.name]
			sum[a.name] = [2]float64{s[0] + g, s[1] + loss}
		}
	}
	nf := float64(b.N)
	base := sum["idle"][0] / nf
	for _, a := range attacks {
		g, loss := sum[a.name][0]/nf, sum[a.name][1]/nf
		b.ReportMetric(g, a.name+"-Gbps")
		b.ReportMetric(loss, a.name+"-loss%")
		if a.pinned {
			if base := sum["idle-pinned"][0] / nf; a.argv != nil && base > 0 {
				b.ReportMetric(g/base, a.name+"-ratio")
			}
			continue
		}
		if a.argv != nil && base > 0 {
			b.ReportMetric(g/base, a.name+"-ratio")
		}
		// Against the attacker's own CPU cost: what is left to the defense.
		if floor := sum["hping3-unconnected"][0] / nf; strings.HasPrefix(a.name, "hping3-flood") && floor > 0 {
			b.ReportMetric(g/floor, a.name+"-vs-unconnected")
		}
	}
}

// scanVoidAddr is an address behind a veth pair in a host's own namespace
// that nothing reads (scanVoid): packets sent to it cost the sender's CPU
// and kernel, and never reach the switch.
const scanVoidAddr = "192.0.2.2"

// scanVoid gives lab host i a veth pair void0/void1 (both ends in its
// namespace, not attached to the switch) with a route and a permanent
// neighbour for scanVoidAddr; removed when the benchmark ends.
func scanVoid(b *testing.B, l *lab.Lab, i int) {
	b.Helper()
	for _, argv := range [][]string{
		{"ip", "link", "add", "void0", "type", "veth", "peer", "name", "void1"},
		{"ip", "link", "set", "void0", "up"},
		{"ip", "link", "set", "void1", "up"},
		{"ip", "addr", "add", "192.0.2.1/24", "dev", "void0"},
		{"ip", "neigh", "replace", scanVoidAddr, "lladdr", "02:00:00:00:00:99", "dev", "void0", "nud", "permanent"},
	} {
		if out, err := scanRun(l, i, 5*time.Second, argv...); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	b.Cleanup(func() { scanRun(l, i, 5*time.Second, "ip", "link", "del", "void0") })
}

// scanPin sets the CPU affinity (a taskset list: "0", "0,1") of this
// process (so of every command it starts from now on: iperf3, ping), of the
// running controller and of the lab's Open vSwitch daemons, every thread.
func scanPin(b *testing.B, e *scanEnv, cpus string) {
	b.Helper()
	pids := []int{os.Getpid(), e.C.cmd.Process.Pid}
	st, err := e.L.Status()
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range st.Daemons {
		if d.Alive {
			pids = append(pids, d.PID)
		}
	}
	for _, pid := range pids {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			b.Fatalf("taskset %s %d: %v: %s", cpus, pid, err, out)
		}
	}
}

// kindsOf lists the kinds of blocks.
func kindsOf(blocks []api.Block) string {
	var k []string
	for _, b := range blocks {
		k = append(k, b.Kind)
	}
	return strings.Join(k, ",")
}

// scanRSS is the resident set size of process pid in kB (VmRSS).
func scanRSS(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkScanSpoofedFloodMemory measures the controller's resident memory
// (VmRSS) and Go heap in use (go_memstats_heap_inuse_bytes from /metrics)
// before, at the peak of and 5 s after a 30 s (PORTCULLIS_BENCH_FLOOD)
// spoofed-source SYN
// flood (`hping3 --flood --rand-source -S -p 80` from h1 at h2, every
// packet a new source address), sampled every 100 ms, with the packet-ins
// and probes it caused. Every per-source table is bounded, so the peak
// must stay flat however long the flood runs.
func BenchmarkScanSpoofedFloodMemory(b *testing.B) {
	testenv.Tool(b, "hping3")
	flood := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("PORTCULLIS_BENCH_FLOOD")); err == nil && d > 0 {
		flood = d
	}
	e := scanStartEnv(b, 4)
	// SYN-flood detection would block h1 within seconds; this measures the
	// detector's tables under the whole flood, so it is off here.
	conf := filepath.Join(b.TempDir(), "portcullis.yaml")
	if err := os.WriteFile(conf, []byte("detect:\n  flood:\n    syn_rate: 0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	var before, peak, after float64
	for range b.N {
		e.Fresh(b, "--config", conf)
		e.WarmUp(b)
		pid := e.C.cmd.Process.Pid
		time.Sleep(time.Second)
		r0, err := scanRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		st0 := Stats(b, e.C)
		heap0 := scanHeapInuse(e.C)
		heapMax := heap0
		p := scanStart(b, e.L, 1, flood, "hping3", "--flood", "--rand-source", "-q", "-S", "-p", "80", "10.0.0.2")
		rmax := r0
		var samples []int
		for tick := time.NewTicker(100 * time.Millisecond); ; {
			select {
			case <-p.done:
				tick.Stop()
			case <-tick.C:
				if r, err := scanRSS(pid); err == nil {
					rmax = max(rmax, r)
					samples = append(samples, r)
				}
				if len(samples)%10 == 0 {
					heapMax = max(heapMax, scanHeapInuse(e.C))
				}
				continue
			}
			break
		}
		time.Sleep(5 * time.Second)
		r1, err := scanRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		st1 := Stats(b, e.C)
		heap1 := scanHeapInuse(e.C)
		b.Logf("Go heap in use: before %.1f MB, peak %.1f MB, after %.1f MB", heap0, heapMax, heap1)
		// The peak of each third of the flood: flat if memory is bounded.
		var thirds []string
		for i := range min(3, len(samples)) {
			m := 0
			for _, r := range samples[i*len(samples)/3 : (i+1)*len(samples)/3] {
				m = max(m, r)
			}
			thirds = append(thirds, fmt.Sprintf("%.1f", float64(m)/1024))
		}
		b.Logf("RSS before %.1f MB, peak %.1f MB (per third of the flood: %s MB), 5 s after %.1f MB; %d packet-ins, %d probes, %d blocks",
			float64(r0)/1024, float64(rmax)/1024, strings.Join(thirds, " / "), float64(r1)/1024,
			st1.PacketIns-st0.PacketIns, st1.Probes-st0.Probes, len(scanBlocks(b, e.C)))
		if err := e.C.Healthy(); err != nil {
			b.Errorf("controller after the flood: %v", err)
		}
		before += float64(r0) / 1024
		peak += float64(rmax) / 1024
		after += float64(r1) / 1024
	}
	nf := float64(b.N)
	b.ReportMetric(before/nf, "MB-before")
	b.ReportMetric(peak/nf, "MB-peak")
	b.ReportMetric(after/nf, "MB-after")
}

// scanHeapInuse is go_memstats_heap_inuse_bytes of the controller in MB
// (GET /metrics), 0 if unavailable.
func scanHeapInuse(c *Controller) float64 {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(c.APIURL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f / (1 << 20)
		}
	}
	return 0
}

// scanManualBlock blocks a MAC through POST /api/v1/blocks with the token.
func scanManualBlock(t testing.TB, c *Controller, mac string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.APIURL+"/api/v1/blocks",
		strings.NewReader(`{"mac":"`+mac+`","duration":"10m","reason":"benchmark"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+scanToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST /api/v1/blocks: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /api/v1/blocks: %s", resp.Status)
	}
}

// BenchmarkScanStealth runs every scan of TestScanStealth (stealth_test.go:
// nmap FIN, NULL, Xmas, Maimon, ACK, window, UDP, IP-protocol, SCTP and
// fragmented SYN scans, with timing and IPv6 variants) from h1 at h2, each
// against a fresh controller, and reports per scan
//
//   - NAME-learned: the distinct ports (or protocols) whose state the
//     victim's answers told h1 (tcpdump in h1; goal <= 5);
//   - NAME-ms-to-block: from nmap's start (including its own start-up, about
//     100 ms) until the API lists the block;
//   - NAME-packet-ins: packet-ins the controller received meanwhile.
//
// PORTCULLIS_BENCH_STEALTH=name,name limits it to those scans.
//
//	go test ./test/e2e -run '^$' -bench BenchmarkScanStealth -benchtime 1x -v
func BenchmarkScanStealth(b *testing.B) {
	cases := stealthCases
	if only := os.Getenv("PORTCULLIS_BENCH_STEALTH"); only != "" {
		cases = slices.DeleteFunc(slices.Clone(cases), func(c stealthCase) bool {
			return !slices.Contains(strings.Split(only, ","), c.name)
		})
	}
	e := scanStartEnv(b, 4)
	sum := map[string][3]float64{}
	for range b.N {
		for _, c := range cases {
			r := stealthRun(b, e, c)
			blocked := len(r.blocks) > 0
			b.Logf("%-18s %s %-40s learned %2d %v; blocked %v after %v; %d packet-ins", c.name, c.tool(), strings.Join(c.args, " "),
				len(r.learned), r.learned, blocked, r.took.Round(time.Millisecond), r.packetIns)
			s := sum[c.name]
			ms := r.took.Seconds() * 1000
			if !blocked {
				ms = -1 // never blocked
			}
			sum[c.name] = [3]float64{s[0] + float64(len(r.learned)), s[1] + ms, s[2] + float64(r.packetIns)}
		}
	}
	nf := float64(b.N)
	for _, c := range cases {
		s := sum[c.name]
		b.ReportMetric(s[0]/nf, c.name+"-learned")
		b.ReportMetric(s[1]/nf, c.name+"-ms-to-block")
		b.ReportMetric(s[2]/nf, c.name+"-packet-ins")
	}
}
