package detect

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/packet"
)

// Scenario scripts (testdata/*.txt), in the manner of etcd raft's interaction
// tests. Each file cites the rule it checks. Lines:
//
//	host NAME PORT IPv4 [IPv6] [mac=M]   a host on switch port PORT (MAC 02:00:00:00:00:PORT, or M)
//	config KEY=VALUE ...                 before the first packet: timeout, signature, stealth, osmin
//	T SRC->DST PROTO ARGS                a packet at T seconds; SRC may be NAME(IP) to spoof the address,
//	                                     DST a NAME, a literal IP, or NAME(IP) (to NAME's MAC); a packet
//	                                     whose spoofed address is another host's goes to ObserveSpoofed
//	                                     (it does not live there); eth=bcast sends it to ff:ff:ff:ff:ff:ff
//	repeat i=A..B at=T step=S LINE       LINE (without T) for i in A..B, "{i}" replaced by i
//	tick T                               Detector.Tick at T seconds
//	loss NAME|* FROM TO [udp]            Detector.ReplyLoss: answers entering at NAME's port (* every port)
//	                                     dropped by a meter between FROM and TO seconds
//	budget NAME icmp|other N FROM TO     Detector.BudgetDropped: NAME's port's budget dropped N probes
//	forget NAME                          Detector.Forget(NAME's Source)
//	expect verdict NAME KIND             a verdict for NAME's Source with that kind arrived since the last expect
//	expect none                          no verdict arrived since the last expect
//	expect ips NAME IP...                the last verdict for NAME listed exactly these addresses
//
// PROTO and ARGS:
//
//	tcp|tcp6 SPORT>DPORT FLAGS [win=N] [mss] [opts=HEX] [bare] [len=N] [urg=N]   FLAGS from FSRPAUEC, or "0";
//	                                      a SYN carries Linux's options (MSS, SACK, TS, WS) unless mss,
//	                                      opts= or bare (no options: raw-packet tools) says otherwise
//	udp|udp6 SPORT>DPORT [len=N] [fill=C]
//	icmp|icmp6 echo|echo-reply|ts|ts-reply|mask id=N [code=N] [tos=N] [len=N]
//	icmp|icmp6 unreach|param|time-exceeded code=N (tcp|udp|proto=N) SPORT>DPORT [inner=NAME]
//	                                      quoting DST->SRC (or DST->NAME): the probe it answers
//	icmp6 ns|na target=NAME-or-IP
//	arp who-has | arp is-at               ARP for DST, or DST's reply
//	any of them + frag=first|tiny|later [id=N] [off=BYTES] [flen=BYTES]   an IP fragment
//	proto N                               a bare IP packet of protocol N
//	sctp|sctp6 SPORT>DPORT init|init-ack|abort

// stackSYNOptions are the options of a Linux SYN: MSS 1460, SACK permitted,
// timestamps, NOP, window scale 7.
var stackSYNOptions = []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}

type scenHost struct {
	src    Source
	v4, v6 netip.Addr
}

type scenario struct {
	t       *testing.T
	file    string
	d       *Detector
	cfg     Config
	hosts   map[string]*scenHost
	pending []Verdict
	last    map[string]Verdict
	base    time.Time
	lineNo  int
	packets int
}

func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runScenario(t, f)
		})
	}
}

func runScenario(t *testing.T, file string) {
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	s := &scenario{t: t, file: file, cfg: DefaultConfig(), hosts: map[string]*scenHost{}, last: map[string]Verdict{},
		base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sc := bufio.NewScanner(fh)
	cited := false
	for sc.Scan() {
		s.lineNo++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			l := strings.ToLower(line)
			cited = cited || strings.Contains(l, "jung") || strings.Contains(l, "rfc") || strings.Contains(l, "nmap") || strings.Contains(l, "rule")
			continue
		}
		if line == "" {
			continue
		}
		s.exec(line)
	}
	if !cited {
		t.Errorf("%s: cites no paper, RFC, nmap documentation or rule in its comments", file)
	}
	for _, v := range s.pending {
		t.Errorf("%s: unexpected verdict at end: %s %v: %s", file, v.Kind, v.IPs, v.Reason)
	}
}

func (s *scenario) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: %s", s.file, s.lineNo, fmt.Sprintf(format, args...))
}

func (s *scenario) errorf(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s:%d: %s", s.file, s.lineNo, fmt.Sprintf(format, args...))
}

func (s *scenario) detector() *Detector {
	if s.d == nil {
		s.d = New(s.cfg)
	}
	return s.d
}

func (s *scenario) at(sec string) time.Time {
	f, err := strconv.ParseFloat(sec, 64)
	if err != nil {
		s.fatalf("bad time %q", sec)
	}
	return s.base.Add(time.Duration(f * float64(time.Second)))
}

func (s *scenario) exec(line string) {
	w := strings.Fields(line)
	switch w[0] {
	case "host":
		if len(w) < 4 {
			s.fatalf("host NAME PORT IPv4 [IPv6]")
		}
		port, _ := strconv.Atoi(w[2])
		h := &scenHost{src: Source{DPID: 1, Port: uint32(port), MAC: [6]byte{2, 0, 0, 0, 0, byte(port)}}, v4: netip.MustParseAddr(w[3])}
		for _, x := range w[4:] {
			if m, ok := strings.CutPrefix(x, "mac="); ok {
				hw, err := net.ParseMAC(m)
				if err != nil || len(hw) != 6 {
					s.fatalf("mac=%s: %v", m, err)
				}
				copy(h.src.MAC[:], hw)
				continue
			}
			h.v6 = netip.MustParseAddr(x)
		}
		s.hosts[w[1]] = h
	case "config":
		for _, kv := range w[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "timeout":
				d, err := time.ParseDuration(v)
				if err != nil {
					s.fatalf("%v", err)
				}
				s.cfg.NoAnswerTimeout = d
			case "signature":
				s.cfg.SignatureProbes = n
			case "stealth":
				s.cfg.StealthMinProbes = n
			case "osmin":
				s.cfg.OSProbeMin = n
			case "maxips":
				s.cfg.MaxIPsPerSource = n
			default:
				s.fatalf("unknown config %q", k)
			}
		}
	case "tick":
		s.pending = append(s.pending, s.detector().Tick(s.at(w[1]))...)
	case "forget":
		s.detector().Forget(s.host(w[1]).src)
	case "loss":
		if len(w) < 4 {
			s.fatalf("loss NAME|* FROM TO [udp]")
		}
		l := Loss{From: s.at(w[2]), To: s.at(w[3]), UDP: len(w) > 4 && w[4] == "udp"}
		if w[1] != "*" {
			l.DPID, l.Port = s.host(w[1]).src.DPID, s.host(w[1]).src.Port
		}
		s.detector().ReplyLoss(l)
	case "budget":
		// budget NAME icmp|other N FROM TO
		if len(w) < 6 {
			s.fatalf("budget NAME icmp|other N FROM TO")
		}
		cls := BudgetICMP
		if w[2] == "other" {
			cls = BudgetOther
		}
		n, _ := strconv.Atoi(w[3])
		if v, ok := s.detector().BudgetDropped(s.at(w[5]), BudgetDrop{Source: s.host(w[1]).src, Class: cls, Dropped: uint64(n),
			From: s.at(w[4]), To: s.at(w[5])}); ok {
			s.pending = append(s.pending, v)
		}
	case "repeat":
		// repeat i=A..B at=T step=S LINE...
		if len(w) < 5 {
			s.fatalf("repeat i=A..B at=T step=S LINE")
		}
		rng := strings.TrimPrefix(w[1], "i=")
		a, b, _ := strings.Cut(rng, "..")
		from, _ := strconv.Atoi(a)
		to, _ := strconv.Atoi(b)
		t0, _ := strconv.ParseFloat(strings.TrimPrefix(w[2], "at="), 64)
		step, _ := strconv.ParseFloat(strings.TrimPrefix(w[3], "step="), 64)
		rest := strings.Join(w[4:], " ")
		for i := from; i <= to; i++ {
			ts := strconv.FormatFloat(t0+float64(i-from)*step, 'f', 6, 64)
			s.exec(ts + " " + strings.ReplaceAll(rest, "{i}", strconv.Itoa(i)))
		}
	case "expect":
		s.expect(w[1:])
	default:
		s.packet(w)
	}
}

// ownerOf returns the declared host whose address ip is, or nil.
func (s *scenario) ownerOf(ip netip.Addr) *scenHost {
	for _, h := range s.hosts {
		if h.v4 == ip || h.v6 == ip {
			return h
		}
	}
	return nil
}

func (s *scenario) host(name string) *scenHost {
	h, ok := s.hosts[name]
	if !ok {
		s.fatalf("unknown host %q", name)
	}
	return h
}

func (s *scenario) expect(w []string) {
	s.t.Helper()
	switch w[0] {
	case "none":
		for _, v := range s.pending {
			s.errorf("expected no verdict, got %s for %v (%s): %s", v.Kind, v.IPs, v.Source, v.Reason)
		}
		s.pending = nil
	case "verdict":
		if len(w) != 3 {
			s.fatalf("expect verdict NAME KIND")
		}
		h := s.host(w[1])
		for i, v := range s.pending {
			if v.Source == h.src {
				if string(v.Kind) != w[2] {
					s.errorf("verdict for %s is %s, want %s (%s)", w[1], v.Kind, w[2], v.Reason)
				}
				s.checkVerdict(v)
				s.last[w[1]] = v
				s.pending = append(s.pending[:i], s.pending[i+1:]...)
				return
			}
		}
		s.errorf("expected a %s verdict for %s, got none (pending: %d)", w[2], w[1], len(s.pending))
	case "ips":
		v, ok := s.last[w[1]]
		if !ok {
			s.fatalf("no verdict for %s yet", w[1])
		}
		var got []string
		for _, ip := range v.IPs {
			got = append(got, ip.String())
		}
		if strings.Join(got, " ") != strings.Join(w[2:], " ") {
			s.errorf("verdict IPs %v, want %v", got, w[2:])
		}
	default:
		s.fatalf("unknown expect %q", w[0])
	}
}

// checkVerdict checks what every verdict must carry.
func (s *scenario) checkVerdict(v Verdict) {
	s.t.Helper()
	if v.Reason == "" || len(v.Evidence) == 0 || len(v.Evidence) > evidenceLen || len(v.IPs) == 0 || len(v.IPs) > maxVerdictIPs {
		s.errorf("incomplete verdict: %+v", v)
	}
	if v.At.Before(v.First) || v.Probes < 1 || v.Score < 1 {
		s.errorf("inconsistent verdict: first %v at %v probes %d score %v", v.First, v.At, v.Probes, v.Score)
	}
}

func (s *scenario) addr(tok string, v6 bool) (netip.Addr, *scenHost) {
	if a, err := netip.ParseAddr(tok); err == nil {
		return a, nil
	}
	h := s.host(tok)
	if v6 {
		if !h.v6.IsValid() {
			s.fatalf("host %s has no IPv6 address", tok)
		}
		return h.v6, h
	}
	return h.v4, h
}

func macOf(h *scenHost, a netip.Addr) [6]byte {
	if h != nil {
		return h.src.MAC
	}
	// a host outside the scenario (a target that does not exist)
	b := a.As16()
	return [6]byte{2, 1, b[12], b[13], b[14], b[15]}
}

func (s *scenario) packet(w []string) {
	now := s.at(w[0])
	if len(w) < 3 {
		s.fatalf("T SRC->DST PROTO ARGS")
	}
	srcTok, dstTok, ok := strings.Cut(w[1], "->")
	if !ok {
		s.fatalf("want SRC->DST, got %q", w[1])
	}
	proto := w[2]
	args := w[3:]
	v6 := strings.HasSuffix(proto, "6")
	spoof := ""
	if i := strings.Index(srcTok, "("); i >= 0 {
		spoof = strings.TrimSuffix(srcTok[i+1:], ")")
		srcTok = srcTok[:i]
	}
	sh := s.host(srcTok)
	src := sh.v4
	if v6 {
		src = sh.v6
	}
	if spoof != "" {
		src = netip.MustParseAddr(spoof)
	}
	var dst netip.Addr
	var dh *scenHost
	if i := strings.Index(dstTok, "("); i >= 0 {
		// NAME(IP): to NAME's MAC, addressed to IP (a router's next hop)
		dh, dst = s.host(dstTok[:i]), netip.MustParseAddr(strings.TrimSuffix(dstTok[i+1:], ")"))
	} else {
		dst, dh = s.addr(dstTok, v6)
	}
	var p packet.Packet
	p.EthSrc = sh.src.MAC
	p.EthDst = macOf(dh, dst)
	p.Src, p.Dst = src, dst
	p.TTL = 64
	p.EthType = packet.EthTypeIPv4
	if v6 {
		p.EthType = packet.EthTypeIPv6
	}
	kv := map[string]string{}
	var bare []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else {
			bare = append(bare, a)
		}
	}
	num := func(k string, def int) int {
		if v, ok := kv[k]; ok {
			n, err := strconv.ParseInt(v, 0, 64)
			if err != nil {
				s.fatalf("bad %s=%q", k, v)
			}
			return int(n)
		}
		return def
	}
	ports := func(tok string) (uint16, uint16) {
		a, b, ok := strings.Cut(tok, ">")
		if !ok {
			s.fatalf("want SPORT>DPORT, got %q", tok)
		}
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return uint16(x), uint16(y)
	}
	switch proto {
	case "tcp", "tcp6":
		if len(bare) < 2 {
			s.fatalf("tcp SPORT>DPORT FLAGS")
		}
		p.Proto = packet.ProtoTCP
		p.SrcPort, p.DstPort = ports(bare[0])
		for _, c := range bare[1] {
			switch c {
			case 'F':
				p.TCPFlags |= packet.TCPFin
			case 'S':
				p.TCPFlags |= packet.TCPSyn
			case 'R':
				p.TCPFlags |= packet.TCPRst
			case 'P':
				p.TCPFlags |= packet.TCPPsh
			case 'A':
				p.TCPFlags |= packet.TCPAck
			case 'U':
				p.TCPFlags |= packet.TCPUrg
			case 'E':
				p.TCPFlags |= packet.TCPEce
			case 'C':
				p.TCPFlags |= packet.TCPCwr
			case '0':
			default:
				s.fatalf("bad TCP flag %q", c)
			}
		}
		p.TCPWindow = uint16(num("win", 64240))
		p.TCPUrgent = uint16(num("urg", 0))
		p.PayloadLen = num("len", 0)
		if o, ok := kv["opts"]; ok {
			b, err := hex.DecodeString(o)
			if err != nil {
				s.fatalf("opts: %v", err)
			}
			p.TCPOptions = b
		}
		_, hasOpts := kv["opts"]
		noOpts := false
		for _, b := range bare[2:] {
			switch b {
			case "mss":
				p.TCPOptions, hasOpts = []byte{2, 4, 5, 0xb4}, true
			case "bare":
				noOpts = true
			}
		}
		if p.TCPFlags&packet.TCPSyn != 0 && !hasOpts && !noOpts {
			p.TCPOptions = stackSYNOptions // what an operating system's stack offers
		}
	case "udp", "udp6":
		if len(bare) < 1 {
			s.fatalf("udp SPORT>DPORT")
		}
		p.Proto = packet.ProtoUDP
		p.SrcPort, p.DstPort = ports(bare[0])
		p.PayloadLen = num("len", 0)
		fill := byte(0)
		if f, ok := kv["fill"]; ok {
			fill = f[0]
		}
		p.Payload = make([]byte, p.PayloadLen)
		for i := range p.Payload {
			p.Payload[i] = fill
		}
	case "icmp", "icmp6":
		p.Proto = packet.ProtoICMP
		if v6 {
			p.Proto = packet.ProtoICMPv6
		}
		if len(bare) < 1 {
			s.fatalf("icmp TYPE")
		}
		p.ICMPCode = uint8(num("code", 0))
		p.ICMPID = uint16(num("id", 0))
		p.TOS = uint8(num("tos", 0))
		p.PayloadLen = num("len", 0)
		types4 := map[string]uint8{"echo": 8, "echo-reply": 0, "ts": 13, "ts-reply": 14, "mask": 17, "mask-reply": 18, "unreach": 3, "time-exceeded": 11}
		types6 := map[string]uint8{"echo": 128, "echo-reply": 129, "unreach": 1, "param": 4, "ns": 135, "na": 136, "time-exceeded": 3}
		tm := types4
		if v6 {
			tm = types6
		}
		typ, ok := tm[bare[0]]
		if !ok {
			s.fatalf("unknown ICMP type %q", bare[0])
		}
		p.ICMPType = typ
		switch bare[0] {
		case "unreach", "param", "time-exceeded":
			// quoting DST->SRC (or DST->inner=NAME): the probe this answers
			p.HasInner = true
			p.Inner.Src, p.Inner.Dst = dst, src
			if in, ok := kv["inner"]; ok {
				p.Inner.Dst, _ = s.addr(in, v6)
			}
			if len(bare) < 2 && kv["proto"] == "" {
				s.fatalf("unreach (tcp|udp|proto=N) [SPORT>DPORT]")
			}
			switch bare[min(1, len(bare)-1)] {
			case "tcp", "udp":
				p.Inner.Proto = packet.ProtoTCP
				if bare[1] == "udp" {
					p.Inner.Proto = packet.ProtoUDP
				}
				if len(bare) < 3 {
					s.fatalf("quoted ports missing")
				}
				p.Inner.SrcPort, p.Inner.DstPort = ports(bare[2])
			}
			if pr, ok := kv["proto"]; ok {
				n, _ := strconv.Atoi(pr)
				p.Inner.Proto = uint8(n)
			}
		case "ns", "na":
			t, _ := s.addr(kv["target"], true)
			p.NDTarget = t
			if bare[0] == "ns" && dh == nil && dst.IsMulticast() {
				p.EthDst = [6]byte{0x33, 0x33, 0xff, 0, 0, 1}
			}
		}
	case "arp":
		p = packet.Packet{EthType: packet.EthTypeARP, EthSrc: sh.src.MAC}
		p.ARPSenderMAC = sh.src.MAC
		p.ARPSenderIP = src
		p.ARPTargetIP = dst
		switch bare[0] {
		case "who-has":
			p.ARPOp = 1
			p.EthDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		case "is-at":
			p.ARPOp = 2
			p.EthDst = macOf(dh, dst)
		default:
			s.fatalf("arp who-has|is-at")
		}
	case "proto":
		n, _ := strconv.Atoi(bare[0])
		p.Proto = uint8(n)
	case "sctp", "sctp6":
		if len(bare) < 2 {
			s.fatalf("sctp SPORT>DPORT init|init-ack|abort|cookie-echo")
		}
		p.Proto = packet.ProtoSCTP
		p.SrcPort, p.DstPort = ports(bare[0])
		chunk := map[string]byte{"init": 1, "init-ack": 2, "abort": 6, "cookie-echo": 10}[bare[1]]
		if chunk == 0 {
			s.fatalf("unknown SCTP chunk %q", bare[1])
		}
		p.Payload = []byte{chunk, 0, 0, 4}
		p.PayloadLen = 4
	default:
		s.fatalf("unknown protocol %q", proto)
	}
	// frag=first|tiny|later id=N off=BYTES flen=BYTES: the packet is a fragment (fragment.go); tiny
	// and later fragments carry no transport fields.
	switch f := kv["frag"]; f {
	case "":
	case "first", "tiny", "later":
		p.FirstFragment, p.TinyFragment, p.Fragment = f != "later", f == "tiny", f == "later"
		p.FragID, p.FragOffset, p.FragLen = uint32(num("id", 1)), uint16(num("off", 0)), uint16(num("flen", 8))
		if f != "first" {
			p.SrcPort, p.DstPort, p.TCPFlags, p.TCPWindow, p.TCPOptions, p.Payload = 0, 0, 0, 0, nil, nil
		}
	default:
		s.fatalf("frag=first|tiny|later, got %q", f)
	}
	if dst.IsMulticast() || dst == netip.MustParseAddr("255.255.255.255") || kv["eth"] == "bcast" {
		p.EthDst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	s.packets++
	observe := s.detector().Observe
	if spoof != "" && s.ownerOf(src) != nil && s.ownerOf(src) != sh {
		observe = s.detector().ObserveSpoofed
	}
	if v, ok := observe(now, sh.src, &p); ok {
		s.pending = append(s.pending, v)
	}
}
