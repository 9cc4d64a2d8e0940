package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/lab"
)

// Benchmarks of the data path through a Portcullis-controlled bridge. They
// measure; they never fail on a figure. See docs/BENCHMARKS.md for the
// command and the recorded results.
//
// Knobs (environment):
//
//	PORTCULLIS_BENCH_ROUNDS   alternating rounds (default 5)
//	PORTCULLIS_BENCH_SECONDS  seconds per iperf3 run (default 5)
//	PORTCULLIS_BENCH_BULK     size of the bulk transfer (default 2G, iperf3 -n syntax)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(b *testing.B, name string, def int) int {
	v, err := strconv.Atoi(envOr(name, strconv.Itoa(def)))
	if err != nil || v <= 0 {
		b.Fatalf("%s: want a positive number, got %q", name, os.Getenv(name))
	}
	return v
}

// benchMode is one way of running the lab's bridge.
type benchMode struct {
	name   string // metric prefix
	target string // controller target; "" for a plain actions=NORMAL flow
	c      *Controller
}

// peerController is an external OpenFlow controller process.
type peerController struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// startPeer runs argv (a controller listening on 127.0.0.1) until the
// benchmark ends. It returns nil (and logs why) if the program is missing.
func startPeer(b *testing.B, argv ...string) *peerController {
	if _, err := exec.LookPath(argv[0]); err != nil {
		b.Logf("%s not installed: no comparison with it", argv[0])
		return nil
	}
	p := &peerController{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

var (
	nPackets = regexp.MustCompile(`n_packets=(\d+)`)
	rttRe    = regexp.MustCompile(`time=([0-9.]+) ms`)
)

// controllerBound sums the packet counters of the bridge's flows that send
// to the controller (with or without a meter), and counts the flows.
func controllerBound(b *testing.B, l *lab.Lab) (packets uint64, flows int) {
	out, err := l.Ofctl("dump-flows")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(out) {
		m := nPackets.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		flows++
		// "CONTROLLER:65535", or "controller(max_len=...,meter_id=...)"
		// when the action has more than a length.
		if _, actions, ok := strings.Cut(line, "actions="); ok && strings.Contains(strings.ToUpper(actions), "CONTROLLER") {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			packets += n
		}
	}
	return packets, flows
}

// use points the bridge at mode: no controller and no flows first, then
// either a priority-0 actions=NORMAL flow or the controller target; it
// returns once the bridge has flows (the controller's table-miss or
// pipeline).
func (m benchMode) use(b *testing.B, l *lab.Lab) {
	if err := l.SetController(); err != nil {
		b.Fatal(err)
	}
	if _, err := l.Ofctl("del-flows"); err != nil {
		b.Fatal(err)
	}
	l.Ofctl("del-meters") // Portcullis's packet-in meters; an error means none
	if m.target == "" {
		if _, err := l.Ofctl("add-flow", "priority=0,actions=NORMAL"); err != nil {
			b.Fatal(err)
		}
		return
	}
	if err := l.SetController(m.target); err != nil {
		b.Fatal(err)
	}
	WaitConnected(b, l, true)
	if m.c != nil {
		WaitSwitch(b, m.c, DPID(b, l))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, n := controllerBound(b, l); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: no flows in the bridge 20s after it connected", m.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the rest of a pipeline's flow mods
}

// firstPing flushes the hosts' neighbour caches and times one ping h1 -> h2:
// ARP, echo and reply all need flows the controller has not made yet. It
// returns the RTT in ms, or -1 if the ping failed.
func firstPing(b *testing.B, l *lab.Lab) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range []string{"h1", "h2"} {
		l.Exec(ctx, h, "ip", "neigh", "flush", "all").Run()
	}
	out, err := l.Exec(ctx, "h1", "ping", "-n", "-c", "1", "-W", "3", l.Host(2).IP.String()).CombinedOutput()
	if err != nil {
		return -1
	}
	m := rttRe.FindSubmatch(out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

var dpPackets = regexp.MustCompile(`packets:(\d+)`)

// busiestMegaflow returns the datapath flow (megaflow) that carried the most
// packets: what the fast path does for the bulk of an iperf3 run, whoever
// set up the OpenFlow flows.
func busiestMegaflow(l *lab.Lab) string {
	out, err := exec.Command("ovs-appctl", "-t", filepath.Join(l.RunDir(), "ovs-vswitchd.ctl"), "dpctl/dump-flows").Output()
	if err != nil {
		return err.Error()
	}
	best, max := "", uint64(0)
	for line := range strings.Lines(string(out)) {
		if m := dpPackets.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.ParseUint(m[1], 10, 64); n >= max {
				best, max = strings.TrimSpace(line), n
			}
		}
	}
	return best
}

type benchSample struct {
	gbps, pingMS float64
	ctlPackets   uint64 // controller-bound packets by the bridge's flow counters, during iperf3
	apiPacketIns uint64 // packet-ins counted by Portcullis (its mode only; after its meters)
	flows        int    // flows in the bridge after the run
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkThroughput measures iperf3 TCP h2 -> h1 through one lab bridge
// (userspace datapath, fail_mode=secure) run four ways, in alternating
// rounds within one run: a plain actions=NORMAL flow and no controller
// ("normal"), Portcullis ("portcullis"), ovs-testcontroller -O OpenFlow13
// ("testctl", the OVS L2 learning switch, exact-match flows) and
// osken-manager os_ken.app.simple_switch_13 ("osken"). It reports each
// mode's mean Gbit/s, Portcullis / normal, the packets sent to the
// controller per run, the flows left in the bridge and the first-ping RTT
// after a flush (flow setup). Finally one bulk transfer
// (PORTCULLIS_BENCH_BULK) through Portcullis reports the packet-ins it
// caused.
func BenchmarkThroughput(b *testing.B) {
	RequireLab(b)
	rounds := envInt(b, "PORTCULLIS_BENCH_ROUNDS", 5)
	secs := envInt(b, "PORTCULLIS_BENCH_SECONDS", 5)
	bulk := envOr("PORTCULLIS_BENCH_BULK", "2G")

	c := StartPortcullis(b)
	modes := []benchMode{{name: "normal"}, {name: "portcullis", target: c.Target, c: c}}
	dir := b.TempDir()
	if port := FreePort(b); startPeer(b, "ovs-testcontroller", "-O", "OpenFlow13",
		"--unixctl="+filepath.Join(dir, "testcontroller.ctl"), fmt.Sprintf("ptcp:%d:127.0.0.1", port)) != nil {
		modes = append(modes, benchMode{name: "testctl", target: fmt.Sprintf("tcp:127.0.0.1:%d", port)})
	}
	// Debian's python3-os-ken ships no sample apps: run our copy of
	// simple_switch_13.
	app := filepath.Join(dir, "simple_switch_13.py")
	if err := os.WriteFile(app, []byte(simpleSwitch13), 0o644); err != nil {
		b.Fatal(err)
	}
	if port := FreePort(b); startPeer(b, "osken-manager", "--ofp-listen-host", "127.0.0.1",
		"--ofp-tcp-listen-port", strconv.Itoa(port), app) != nil {
		modes = append(modes, benchMode{name: "osken", target: fmt.Sprintf("tcp:127.0.0.1:%d", port)})
	}
	l := StartLab(b, LabConfig(2))

	// The figures depend on what else runs on the machine: say so.
	loadavg := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	b.Logf("load average before: %s", loadavg())
	defer func() { b.Logf("load average after: %s", loadavg()) }()

	samples := map[string][]benchSample{}
	for r := range rounds {
		// Rotate the order so no mode always runs first or after another.
		for i := range modes {
			m := modes[(i+r)%len(modes)]
			m.use(b, l)
			var s benchSample
			s.pingMS = firstPing(b, l)
			if err := Ping(context.Background(), l, 2, 1, false, 10); err != nil {
				b.Fatalf("%s: %v", m.name, err)
			}
			ctlBefore, _ := controllerBound(b, l)
			var apiBefore uint64
			if m.c != nil {
				apiBefore = Stats(b, m.c).PacketIns
			}
			res := Iperf(b, l, 1, 2, "-t", strconv.Itoa(secs))
			time.Sleep(500 * time.Millisecond)
			ctlAfter, flows := controllerBound(b, l)
			s.gbps, s.ctlPackets, s.flows = res.Gbps(), ctlAfter-ctlBefore, flows
			if m.c != nil {
				s.apiPacketIns = Stats(b, m.c).PacketIns - apiBefore
			}
			samples[m.name] = append(samples[m.name], s)
			if r == 0 {
				b.Logf("%s: busiest datapath flow: %s", m.name, busiestMegaflow(l))
			}
			b.Logf("round %d %-10s %6.3f Gbit/s  %5d retransmits  first ping %6.2f ms  to controller %d (api %d)  flows %d",
				r+1, m.name, s.gbps, res.Retransmits, s.pingMS, s.ctlPackets, s.apiPacketIns, s.flows)
		}
		b.Logf("round %d done, load average %s", r+1, loadavg())
	}

	rate := map[string]float64{}
	for _, m := range modes {
		var g, p, ctl, fl []float64
		for _, s := range samples[m.name] {
			g = append(g, s.gbps)
			if s.pingMS >= 0 {
				p = append(p, s.pingMS)
			}
			ctl = append(ctl, float64(s.ctlPackets))
			fl = append(fl, float64(s.flows))
		}
		rate[m.name] = mean(g)
		b.ReportMetric(mean(g), m.name+"-Gbit/s")
		b.ReportMetric(median(p), m.name+"-first-ping-ms")
		if m.target != "" {
			b.ReportMetric(mean(ctl), m.name+"-ctl-pkts/run")
			b.ReportMetric(mean(fl), m.name+"-flows")
		}
		b.Logf("%-10s mean %.3f Gbit/s (median %.3f, min %.3f, max %.3f) over %d runs of %ds",
			m.name, mean(g), median(g), slices.Min(g), slices.Max(g), len(g), secs)
	}
	if rate["normal"] > 0 {
		b.ReportMetric(rate["portcullis"]/rate["normal"], "portcullis/normal")
		// The same, round by round (the two runs of a round are minutes
		// apart at most, so they share the machine's load best).
		var paired []float64
		for r := range rounds {
			if n := samples["normal"][r].gbps; n > 0 {
				paired = append(paired, samples["portcullis"][r].gbps/n)
			}
		}
		b.ReportMetric(median(paired), "portcullis/normal-median-of-rounds")
		b.Logf("portcullis/normal per round: %.3f", paired)
		for _, peer := range []string{"testctl", "osken"} {
			if _, ok := rate[peer]; ok {
				b.ReportMetric(rate[peer]/rate["normal"], peer+"/normal")
			}
		}
	}

	// One bulk transfer through Portcullis: packet-ins it caused.
	modes[1].use(b, l)
	if err := Ping(context.Background(), l, 2, 1, false, 10); err != nil {
		b.Fatal(err)
	}
	before := Stats(b, c).PacketIns
	res := Iperf(b, l, 1, 2, "-n", bulk)
	time.Sleep(time.Second)
	pins := Stats(b, c).PacketIns - before
	b.ReportMetric(float64(pins), "bulk-packet-ins")
	b.ReportMetric(float64(res.Bytes)/1e9, "bulk-GB")
	b.Logf("bulk: %.2f GB in %.1fs (%.3f Gbit/s) through Portcullis: %d packet-ins", float64(res.Bytes)/1e9,
		res.Seconds, res.Gbps(), pins)
}

// simpleSwitch13 is the L2 learning switch app of Ryu/os-ken
// (ryu/app/simple_switch_13.py, Apache License 2.0), which Debian's
// python3-os-ken does not ship: a table-miss flow to the controller, then
// per (in_port, eth_dst, eth_src) flows with no timeouts once the
// destination is known; unknown destinations are flooded by packet-out.
const simpleSwitch13 = `
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER
from os_ken.controller.handler import set_ev_cls
from os_ken.ofproto import ofproto_v1_3
from os_ken.lib.packet import packet
from os_ken.lib.packet import ethernet
from os_ken.lib.packet import ether_types


class SimpleSwitch13(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super(SimpleSwitch13, self).__init__(*args, **kwargs)
        self.mac_to_port = {}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features_handler(self, ev):
        datapath = ev.msg.datapath
        ofproto = datapath.ofproto
        parser = datapath.ofproto_parser
        match = parser.OFPMatch()
        actions = [parser.OFPActionOutput(ofproto.OFPP_CONTROLLER,
                                          ofproto.OFPCML_NO_BUFFER)]
        self.add_flow(datapath, 0, match, actions)

    def add_flow(self, datapath, priority, match, actions, buffer_id=None):
        ofproto = datapath.ofproto
        parser = datapath.ofproto_parser
        inst = [parser.OFPInstructionActions(ofproto.OFPIT_APPLY_ACTIONS,
                                             actions)]
        if buffer_id:
            mod = parser.OFPFlowMod(datapath=datapath, buffer_id=buffer_id,
                                    priority=priority, match=match,
                                    instructions=inst)
        else:
            mod = parser.OFPFlowMod(datapath=datapath, priority=priority,
                                    match=match, instructions=inst)
        datapath.send_msg(mod)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in_handler(self, ev):
        msg = ev.msg
        datapath = msg.datapath
        ofproto = datapath.ofproto
        parser = datapath.ofproto_parser
        in_port = msg.match['in_port']

        pkt = packet.Packet(msg.data)
        eth = pkt.get_protocols(ethernet.ethernet)[0]
        if eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return
        dst = eth.dst
        src = eth.src

        dpid = format(datapath.id, "d").zfill(16)
        self.mac_to_port.setdefault(dpid, {})
        self.mac_to_port[dpid][src] = in_port

        if dst in self.mac_to_port[dpid]:
            out_port = self.mac_to_port[dpid][dst]
        else:
            out_port = ofproto.OFPP_FLOOD

        actions = [parser.OFPActionOutput(out_port)]

        if out_port != ofproto.OFPP_FLOOD:
            match = parser.OFPMatch(in_port=in_port, eth_dst=dst, eth_src=src)
            if msg.buffer_id != ofproto.OFP_NO_BUFFER:
                self.add_flow(datapath, 1, match, actions, msg.buffer_id)
                return
            else:
                self.add_flow(datapath, 1, match, actions)
        data = None
        if msg.buffer_id == ofproto.OFP_NO_BUFFER:
            data = msg.data

        out = parser.OFPPacketOut(datapath=datapath, buffer_id=msg.buffer_id,
                                  in_port=in_port, actions=actions, data=data)
        datapath.send_msg(out)
`
