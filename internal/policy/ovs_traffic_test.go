package policy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portcullis/internal/forward"
	"portcullis/internal/packet"
	"portcullis/internal/testenv"
	"portcullis/ofp"
)

// labHost is a network namespace with one veth end; the other end is a port of the bridge.
type labHost struct {
	ns   string
	ip   netip.Addr
	mac  [6]byte
	port uint32
}

// addHosts attaches n hosts (10.77.0.1 ... /24, ports 1..n) to the bridge and removes them at cleanup.
func (b *ovsBridge) addHosts(n int) []labHost {
	b.t.Helper()
	var hs []labHost
	for i := 1; i <= n; i++ {
		h := labHost{ns: fmt.Sprintf("%sh%d", b.name, i), ip: netip.AddrFrom4([4]byte{10, 77, 0, byte(i)}), port: uint32(i)}
		hostIf, swIf := fmt.Sprintf("%sa%d", b.name, i), fmt.Sprintf("%sb%d", b.name, i)
		b.run("ip", "netns", "add", h.ns)
		b.t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
		b.run("ip", "link", "add", hostIf, "netns", h.ns, "type", "veth", "peer", "name", swIf, "netns", b.name)
		b.run("ip", "netns", "exec", h.ns, "ip", "addr", "add", h.ip.String()+"/24", "dev", hostIf)
		b.run("ip", "netns", "exec", h.ns, "ip", "link", "set", hostIf, "up")
		b.run("ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up")
		b.run("ip", "netns", "exec", b.name, "ip", "link", "set", swIf, "up")
		// The userspace datapath does not fill in checksums a kernel left to offload.
		b.run("ip", "netns", "exec", h.ns, "ethtool", "-K", hostIf, "tx", "off")
		b.run("ip", "netns", "exec", b.name, "ethtool", "-K", swIf, "tx", "off")
		b.run("ovs-vsctl", "--db=unix:"+b.dir+"/db.sock", "--timeout=10", "add-port", b.name, swIf, "--",
			"set", "interface", swIf, fmt.Sprintf("ofport_request=%d", i))
		mac, err := net.ParseMAC(strings.TrimSpace(b.run("ip", "netns", "exec", h.ns, "cat", "/sys/class/net/"+hostIf+"/address")))
		if err != nil {
			b.t.Fatal(err)
		}
		copy(h.mac[:], mac)
		hs = append(hs, h)
	}
	return hs
}

func (h labHost) ping(dst labHost, count int) bool {
	cmd := exec.Command("ip", "netns", "exec", h.ns, "ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", "-q", dst.ip.String())
	return cmd.Run() == nil
}

// miniController is the smallest controller loop: packet-ins go to forward.Switch, whose messages
// go back to the switch. It counts packet-ins by where they came from.
type miniController struct {
	b  *ovsBridge
	sw *forward.Switch
	mu sync.Mutex // guards everything below and writes to the connection
	// learnMisses counts TableLearn misses; copies counts watch copies per class.
	learnMisses int
	copies      map[Class]int
	tcpFlags    map[uint16]int // TCP copies by flags, when not nil
	errs        []string
	xid         uint32
	done        chan struct{}
}

func (c *miniController) send(msgs ...ofp.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.xid++
		if _, err := c.b.conn.Write(ofp.Marshal(0x10000+c.xid, m)); err != nil {
			c.errs = append(c.errs, err.Error())
		}
	}
}

func (c *miniController) run() {
	defer close(c.done)
	var hdr [ofp.HeaderLen]byte
	var p packet.Packet
	var out []ofp.Message
	for {
		c.b.conn.SetReadDeadline(time.Time{})
		if _, err := io.ReadFull(c.b.conn, hdr[:]); err != nil {
			return
		}
		h, err := ofp.ParseHeader(hdr[:])
		if err != nil {
			return
		}
		buf := make([]byte, h.Length)
		copy(buf, hdr[:])
		if _, err := io.ReadFull(c.b.conn, buf[ofp.HeaderLen:]); err != nil {
			return
		}
		_, m, err := ofp.Unmarshal(buf)
		if err != nil {
			c.mu.Lock()
			c.errs = append(c.errs, err.Error())
			c.mu.Unlock()
			continue
		}
		now := time.Now()
		out = out[:0]
		c.mu.Lock()
		switch m := m.(type) {
		case *ofp.PacketIn:
			packet.Parse(m.Data, &p)
			if cl, ok := WatchClass(m); ok {
				c.copies[cl]++
				if p.Proto == 6 && c.tcpFlags != nil {
					c.tcpFlags[p.TCPFlags]++
				}
			} else if forward.IsLearnMiss(m) {
				c.learnMisses++
			}
			out = c.sw.PacketIn(now, m, &p, out)
		case *ofp.FlowRemoved:
			out = c.sw.FlowRemoved(now, m, out)
		case *ofp.PortStatus:
			out = c.sw.PortStatus(now, m, out)
		case *ofp.Error:
			c.errs = append(c.errs, ofp.ErrorCodeString(m.ErrType, m.Code))
		}
		c.mu.Unlock()
		c.send(out...)
	}
}

func (c *miniController) counts() (learn int, copies map[Class]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := map[Class]int{}
	for k, v := range c.copies {
		cp[k] = v
	}
	return c.learnMisses, cp
}

// TestOVSPipelineWithTraffic runs real traffic through the pipeline on a real Open vSwitch: hosts
// reach each other; once learned, their traffic no longer reaches the controller; bulk TCP is not
// copied; a SYN flood's copies are held to the meter's rate while the flood is still forwarded; a
// block cuts one host off and leaves the others alone.
func TestOVSPipelineWithTraffic(t *testing.T) {
	testenv.Tool(t, "ping", "ethtool", "hping3", "iperf3")
	b := startOVS(t)
	hs := b.addHosts(3)
	h1, h2, h3 := hs[0], hs[1], hs[2]

	const probeRate, probeBurst = 50, 10
	sw := forward.NewSwitch(forward.Config{IdleTimeout: 60})
	b.apply("setup", sw.Setup())
	b.apply("watch", WatchFlows(WatchConfig{TCPProbeRate: probeRate, TCPProbeBurst: probeBurst}))
	// A management connection gets packet-ins only once it asks for them.
	b.apply("config", []ofp.Message{&ofp.SetConfig{MissSendLen: 128}})

	c := &miniController{b: b, sw: sw, copies: map[Class]int{}, done: make(chan struct{})}
	go c.run()
	t.Cleanup(func() {
		b.conn.Close()
		<-c.done
	})

	for _, pair := range [][2]labHost{{h1, h2}, {h2, h3}, {h3, h1}} {
		if !pair[0].ping(pair[1], 3) {
			t.Fatalf("%s cannot ping %s", pair[0].ip, pair[1].ip)
		}
	}
	c.mu.Lock() // the controller goroutine calls sw under c.mu
	if hosts := sw.Hosts(); len(hosts) != 3 {
		t.Errorf("learned %d hosts, want 3: %+v", len(hosts), hosts)
	}
	c.mu.Unlock()

	// Known hosts: more traffic, no more learning misses.
	learnBefore, _ := c.counts()
	if !h1.ping(h2, 10) {
		t.Fatal("ping stopped working")
	}
	if learnAfter, _ := c.counts(); learnAfter != learnBefore {
		t.Errorf("%d learning misses for hosts already learned", learnAfter-learnBefore)
	}
	c.mu.Lock()
	if p, _, ok := sw.IPLivesAt(h1.ip); !ok || p != h1.port {
		t.Errorf("IPLivesAt(%v) = %d, %v", h1.ip, p, ok)
	}
	c.mu.Unlock()

	// Bulk TCP: a 200 MB iperf3 run (about 140 000 segments each way) sends the controller only its
	// handshakes and FINs, plus the RSTs a closing receiver answers in-flight data with; with a bypass
	// for the conversation, nothing at all.
	iperf := func() (nonRST, rst int) {
		t.Helper()
		srv := exec.Command("ip", "netns", "exec", h2.ns, "iperf3", "-s", "-1")
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Wait()
		time.Sleep(300 * time.Millisecond)
		c.mu.Lock()
		c.tcpFlags = map[uint16]int{}
		c.mu.Unlock()
		out, err := exec.Command("ip", "netns", "exec", h1.ns, "iperf3", "-c", h2.ip.String(), "-n", "200M").CombinedOutput()
		if err != nil {
			srv.Process.Kill()
			t.Fatalf("iperf3: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
		c.mu.Lock()
		defer c.mu.Unlock()
		for f, n := range c.tcpFlags {
			if f&^ofp.TCPFlagPSH == ofp.TCPFlagACK {
				// ACK and PSH/ACK segments of a conversation the controller
				// has not bypassed yet are copied (ACK, window and PSH/ACK
				// scans look like them), limited by the tcp-ack meter; the
				// controller bypasses a stream once it sees the SYN-ACK
				// (checked below).
				continue
			}
			if f&ofp.TCPFlagRST != 0 {
				rst += n
			} else {
				nonRST += n
			}
		}
		return nonRST, rst
	}
	nonRST, rst := iperf()
	t.Logf("200 MB iperf3: %d handshake/FIN copies, %d RST copies", nonRST, rst)
	if nonRST > 20 || rst > 300 {
		t.Errorf("200 MB iperf3 copied %d handshake/FIN and %d RST segments to the controller", nonRST, rst)
	}
	var bypass []ofp.Message
	fwd := Pair{Src: h1.ip, Dst: h2.ip, Proto: 6, DstPort: 5201, InPort: h1.port, DstInPort: h2.port}
	for _, p := range []Pair{fwd, fwd.Reverse()} {
		fm, err := BypassFlow(p, 30)
		if err != nil {
			t.Fatal(err)
		}
		bypass = append(bypass, fm)
	}
	c.send(bypass...)
	time.Sleep(200 * time.Millisecond)
	if nonRST, rst := iperf(); nonRST+rst != 0 {
		t.Errorf("bypassed conversation still copied: %d handshake/FIN, %d RST", nonRST, rst)
	}

	// SYN flood: copies held to the tcp-probe meter; the flood itself is forwarded. Every port's
	// SYN counter sees what entered it: the whole flood at h1's port, next to nothing elsewhere.
	for _, h := range hs {
		c.send(SYNCountFlows(h.port)...)
	}
	time.Sleep(200 * time.Millisecond)
	_, before := c.counts()
	start := time.Now()
	flood := exec.Command("ip", "netns", "exec", h1.ns, "timeout", "2", "hping3", "--flood", "-S", "-p", "80", h2.ip.String())
	flood.Run()
	time.Sleep(500 * time.Millisecond)
	elapsed := time.Since(start)
	_, after := c.counts()
	probes := after[ClassTCPProbe] - before[ClassTCPProbe]
	limit := int(elapsed.Seconds()*probeRate) + probeBurst + 20
	if probes == 0 || probes > limit {
		t.Errorf("SYN flood for %v: %d probe copies, want 1..%d", elapsed, probes, limit)
	}
	t.Logf("SYN flood for %v: %d tcp-probe copies (meter: %d/s, burst %d)", elapsed.Round(time.Millisecond), probes, probeRate, probeBurst)
	time.Sleep(time.Second) // the revalidators push datapath counts to the flows
	// Read with ovs-ofctl: the mini controller's connection belongs to its reader.
	syns := map[uint32]uint64{}
	dump := b.run("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "unix:"+filepath.Join(b.dir, b.name+".mgmt"), "table=0")
	for line := range strings.Lines(dump) {
		var n uint64
		_, cookie, ok := strings.Cut(line, "cookie=0x")
		if !ok || !strings.Contains(line, "tcp_flags=+syn-ack") {
			continue
		}
		c, _ := strconv.ParseUint(strings.Fields(strings.TrimSuffix(strings.Fields(cookie)[0], ","))[0], 16, 64)
		port, isCounter := SYNCountPort(c)
		if _, np, ok := strings.Cut(line, "n_packets="); ok && isCounter {
			n, _ = strconv.ParseUint(strings.TrimSuffix(strings.Fields(np)[0], ","), 10, 64)
			syns[port] += n
		}
	}
	t.Logf("SYN counters after the flood: %v (h1 is port %d)", syns, h1.port)
	if syns[h1.port] < 1000 {
		t.Errorf("SYN counter of the flooding port: %d, want the flood (thousands)", syns[h1.port])
	}
	for _, h := range []labHost{h2, h3} {
		if syns[h.port] > 100 {
			t.Errorf("SYN counter of port %d (no SYN sent): %d", h.port, syns[h.port])
		}
	}

	// Block h1 at its port: h1 is cut off, h2 and h3 still talk.
	blk := Block{ID: "traffic-test", Source: Source{DPID: 1, Port: h1.port, MAC: h1.mac}, IPs: []netip.Addr{h1.ip},
		IPBound: true, Created: start, Expires: time.Now().Add(time.Minute)}
	c.send(BlockFlows(blk, 1, time.Now())...)
	time.Sleep(200 * time.Millisecond)
	if h1.ping(h2, 2) {
		t.Error("blocked host still reaches h2")
	}
	if !h2.ping(h3, 2) {
		t.Error("block cut off innocent hosts")
	}
	c.send(UnblockFlows(blk)...)
	time.Sleep(200 * time.Millisecond)
	if !h1.ping(h2, 2) {
		t.Error("unblocked host still cut off")
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("switch error: %s", e)
	}
	if os.Getenv("PCPOL_VERBOSE") != "" {
		t.Logf("learn misses %d, copies %v", c.learnMisses, c.copies)
	}
}
