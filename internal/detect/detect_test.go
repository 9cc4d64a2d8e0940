package detect

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"portcullis/internal/packet"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func syn(src, dst netip.Addr, sport, dport uint16) *packet.Packet {
	return &packet.Packet{EthType: packet.EthTypeIPv4, EthDst: [6]byte{2, 9}, Src: src, Dst: dst, Proto: packet.ProtoTCP,
		SrcPort: sport, DstPort: dport, TCPFlags: packet.TCPSyn, TCPWindow: 64240, TCPOptions: stackSYNOptions}
}

func rst(src, dst netip.Addr, sport, dport uint16) *packet.Packet {
	p := syn(src, dst, sport, dport)
	p.TCPFlags = packet.TCPRst | packet.TCPAck
	return p
}

func TestDefaultConfigMatchesJungEtAl(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := New(c)
	// eta1 = beta/alpha = 99; failure factor 4; success factor 1/4.
	eq(t, "eta1", round(expf(d.logEta1)), 99.0)
	eq(t, "failure factor", round(expf(d.logFail)), 4.0)
	eq(t, "success factor", round(expf(d.logSucc)*100)/100, 0.25)
	bad := c
	bad.Alpha = 0.995
	if bad.Validate() == nil {
		t.Error("alpha > beta accepted")
	}
	bad = c
	bad.Theta1 = 0.9
	if bad.Validate() == nil {
		t.Error("theta1 > theta0 accepted")
	}
	bad = c
	bad.MaxActors = 0
	if bad.Validate() == nil {
		t.Error("zero cap accepted")
	}
}

func TestSuspectsAndStats(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FanoutPorts = 100 // the walk alone (fanout.go decides one host's ports sooner)
	d := New(cfg)
	a, b := Source{DPID: 1, Port: 1}, Source{DPID: 1, Port: 2}
	ipA, ipB, victim := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.9")
	vsrc := Source{DPID: 1, Port: 9}
	// a: 3 failures (score 3*ln4/ln99 ~ 0.9); b: 1 failure.
	for i := range uint16(3) {
		d.Observe(t0, a, syn(ipA, victim, 1000+i, 20+i))
		d.Observe(t0, vsrc, rst(victim, ipA, 20+i, 1000+i))
	}
	d.Observe(t0, b, syn(ipB, victim, 2000, 80))
	d.Observe(t0, vsrc, rst(victim, ipB, 80, 2000))
	sus := d.Suspects(t0)
	if len(sus) != 2 {
		t.Fatalf("Suspects = %d entries, want 2: %+v", len(sus), sus)
	}
	eq(t, "top suspect", sus[0].Source, a)
	eq(t, "top failures", sus[0].Failures, 3)
	eq(t, "top kind", sus[0].Kind, KindPortScan)
	if !(sus[0].Score > 0.85 && sus[0].Score < 1) || !(sus[1].Score > 0 && sus[1].Score < sus[0].Score) {
		t.Errorf("scores %v, %v: want a in (0.85,1), b below it", sus[0].Score, sus[1].Score)
	}
	eq(t, "suspect IPs", sus[0].IPs[0], ipA)
	st := d.Stats()
	eq(t, "Observed", st.Observed, uint64(8))
	eq(t, "Probes", st.Probes, uint64(4))
	eq(t, "Failures", st.Failures, uint64(4))
	eq(t, "Actors", st.Actors, 2)
	eq(t, "Sources", st.Sources, 2)
	eq(t, "Pending", st.Pending, 0)

	// The fourth failure decides; the verdict is counted by kind.
	d.Observe(t0, a, syn(ipA, victim, 1003, 23))
	v, ok := d.Observe(t0, vsrc, rst(victim, ipA, 23, 1003))
	if !ok || v.Kind != KindPortScan {
		t.Fatalf("no port-scan verdict: %+v %v", v, ok)
	}
	eq(t, "Verdicts[port-scan]", d.Stats().Verdicts[KindPortScan], uint64(1))

	cfg = DefaultConfig()
	cfg.MaxSuspects = 1
	d2 := New(cfg)
	d2.Observe(t0, a, syn(ipA, victim, 1, 2))
	d2.Observe(t0, b, syn(ipB, victim, 1, 2))
	d2.Tick(t0.Add(time.Minute))
	eq(t, "bounded Suspects", len(d2.Suspects(t0)), 1)
}

func TestTablesAreBoundedAndExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxActors = 100
	cfg.MaxPending = 50
	cfg.MaxIPsPerSource = 10
	d := New(cfg)
	victim := netip.MustParseAddr("10.0.0.9")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		port := 3 + i%300 // many sources: the actor table fills
		if i%2 == 0 {
			port = i % 3 // few sources with many addresses: pooling
		}
		src := Source{DPID: 1, Port: uint32(port), MAC: [6]byte{2, byte(port >> 8), byte(port)}}
		ip := netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		d.Observe(t0.Add(time.Duration(i)*time.Millisecond), src, syn(ip, victim, uint16(r.IntN(65536)), uint16(r.IntN(65536))))
		st := d.Stats()
		if st.Actors > cfg.MaxActors || st.Pending > cfg.MaxPending {
			t.Fatalf("after %d packets: %d actors, %d pending", i, st.Actors, st.Pending)
		}
	}
	st := d.Stats()
	if st.ActorsEvicted == 0 || st.PendingEvicted == 0 || st.OverflowFolded == 0 {
		t.Errorf("expected evictions and pooling: %+v", st)
	}
	for src, si := range d.perSource {
		if si.n > cfg.MaxIPsPerSource {
			t.Errorf("%v has %d address actors", src, si.n)
		}
	}
	d.Tick(t0.Add(7 * time.Hour))
	st = d.Stats()
	if st.Actors != 0 || st.Pending != 0 || st.Sources != 0 {
		t.Errorf("after idle expiry: %d actors, %d pending, %d sources", st.Actors, st.Pending, st.Sources)
	}
}

// TestMemoryBoundedUnderMillionSources feeds one SYN from each of 1e6
// random Sources (a MAC-spoofing flood; hping3 --rand-source varies only the
// address and is the easier case) and checks the heap stays bounded.
func TestMemoryBoundedUnderMillionSources(t *testing.T) {
	if testing.Short() {
		t.Skip("1e6 packets")
	}
	d := New(DefaultConfig())
	victim := netip.MustParseAddr("10.0.0.9")
	r := rand.New(rand.NewPCG(3, 4))
	var p packet.Packet
	heapAt := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var mid uint64
	for i := range 1_000_000 {
		var mac [6]byte
		x := r.Uint64()
		for j := range mac {
			mac[j] = byte(x >> (8 * j))
		}
		p = *syn(netip.AddrFrom4([4]byte{byte(x >> 48), byte(x >> 40), byte(x >> 32), byte(x >> 24)}), victim, uint16(x), uint16(x>>16))
		d.Observe(t0.Add(time.Duration(i)*time.Microsecond), Source{DPID: 1, Port: uint32(x >> 56), MAC: mac}, &p)
		if i == 200_000 {
			mid = heapAt()
		}
	}
	end := heapAt()
	st := d.Stats()
	t.Logf("heap after 2e5 sources %d MiB, after 1e6 %d MiB; %+v", mid>>20, end>>20, st)
	if st.Actors > DefaultConfig().MaxActors || st.Pending > DefaultConfig().MaxPending {
		t.Fatalf("tables over their caps: %+v", st)
	}
	if end > mid+mid/4 {
		t.Errorf("heap grew from %d to %d bytes between 2e5 and 1e6 sources", mid, end)
	}
	if end > 256<<20 {
		t.Errorf("heap %d MiB, want < 256 MiB", end>>20)
	}
}

func TestVerdictAtMostOncePerActor(t *testing.T) {
	d := New(DefaultConfig())
	src := Source{Port: 1}
	ip, victim := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	n := 0
	for i := range uint16(50) {
		p := syn(ip, victim, 40000, i+1)
		p.TCPFlags = 0 // NULL scan: each packet alone is decisive
		if _, ok := d.Observe(t0, src, p); ok {
			n++
		}
	}
	eq(t, "verdicts", n, 1)
}

// FuzzObserve drives random packets (fields drawn from the fuzz input, from
// few sources and addresses so that state interacts) through a small
// Detector and checks it never panics and stays within its caps.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{6, 2, 0, 1, 0, 22, 1, 1, 0, 0})
	f.Add([]byte{17, 0, 9, 53, 0, 5, 2, 1, 0, 0, 1, 3, 3, 1})
	f.Add([]byte{1, 8, 0, 0, 0, 0, 1, 3, 9, 0, 1, 0, 3, 3})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxActors, cfg.MaxPending, cfg.MaxIPsPerSource = 8, 8, 3
		d := New(cfg)
		now := t0
		for len(data) >= 10 {
			b := data[:10]
			data = data[10:]
			var p packet.Packet
			addr := func(x byte) netip.Addr {
				if x&0x80 != 0 {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: x & 7})
				}
				return netip.AddrFrom4([4]byte{10, 0, 0, x & 7})
			}
			switch b[0] % 5 {
			case 0:
				p.EthType = packet.EthTypeARP
				p.ARPOp = uint16(b[1]%3) + 0
				p.ARPSenderIP, p.ARPTargetIP = addr(b[6]), addr(b[7])
			default:
				p.EthType = packet.EthTypeIPv4
				p.Src, p.Dst = addr(b[6]), addr(b[7])
				if p.Src.Is6() {
					p.EthType = packet.EthTypeIPv6
				}
				p.Proto = [...]uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP, packet.ProtoICMPv6, 47, 132}[b[0]%6]
				p.TCPFlags = uint16(b[1]) | uint16(b[9]&1)<<8
				p.ICMPType, p.ICMPCode = b[1], b[9]
				p.SrcPort, p.DstPort = uint16(b[2]%4)+50, uint16(b[3]%8)+20
				p.TCPWindow = uint16(b[4]) << 4
				p.PayloadLen = int(b[5])
				if b[9]&2 != 0 {
					p.TCPOptions = []byte{2, 4, 5, 0xb4}
				}
				if b[9]&4 != 0 {
					p.HasInner = true
					p.Inner.Src, p.Inner.Dst, p.Inner.Proto = p.Dst, p.Src, p.Proto
					p.Inner.SrcPort, p.Inner.DstPort = p.DstPort, p.SrcPort
				}
				p.NDTarget = addr(b[8])
			}
			p.EthDst[0] = b[8] & 1
			now = now.Add(time.Duration(b[8]) * 50 * time.Millisecond)
			src := Source{Port: uint32(b[9] >> 5)}
			d.Observe(now, src, &p)
			if b[8]&0x10 != 0 {
				d.Tick(now)
			}
			if b[8]&0x20 != 0 {
				d.Forget(src)
			}
			st := d.Stats()
			if st.Actors > cfg.MaxActors || st.Pending > cfg.MaxPending || len(d.Suspects(now)) > cfg.MaxSuspects {
				t.Fatalf("over caps: %+v", st)
			}
			for _, si := range d.perSource {
				if si.n > cfg.MaxIPsPerSource || si.n < 0 {
					t.Fatalf("per-source count %d", si.n)
				}
			}
		}
	})
}

// BenchmarkObserve measures the steady state: a busy network of 1,000
// clients each opening connections that are answered, plus a scanner.
func BenchmarkObserve(b *testing.B) {
	d := New(DefaultConfig())
	const clients = 1000
	pkts := make([]packet.Packet, 0, 4*clients)
	srcs := make([]Source, 0, 4*clients)
	server := netip.MustParseAddr("10.1.0.1")
	for i := range clients {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		s := Source{DPID: 1, Port: uint32(i + 2), MAC: [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}}
		for j := range uint16(2) {
			pkts = append(pkts, *syn(ip, server, 30000+j, 443+j))
			srcs = append(srcs, s)
			sa := syn(server, ip, 443+j, 30000+j)
			sa.TCPFlags |= packet.TCPAck
			pkts = append(pkts, *sa)
			srcs = append(srcs, Source{DPID: 1, Port: 1})
		}
	}
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		d.Observe(now, srcs[i], &pkts[i])
		i++
		if i == len(pkts) {
			i = 0
			d.Tick(now)
		}
	}
}

// BenchmarkObserveScan is a port scan against a single host, each probe a
// new first contact refused by RST, across many scanner addresses so that
// verdicts stay rare.
func BenchmarkObserveScan(b *testing.B) {
	d := New(DefaultConfig())
	victim := netip.MustParseAddr("10.1.0.1")
	vsrc := Source{Port: 1}
	now := t0
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		ip := netip.AddrFrom4([4]byte{10, 2, byte(n >> 8), byte(n)})
		src := Source{Port: 2, MAC: [6]byte{2, 0, 0, 0, byte(n >> 8), byte(n)}}
		now = now.Add(time.Microsecond)
		d.Observe(now, src, syn(ip, victim, 40000, uint16(n)))
		d.Observe(now, vsrc, rst(victim, ip, uint16(n), 40000))
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func expf(x float64) float64  { return math.Exp(x) }
func round(x float64) float64 { return math.Round(x) }

// The verdict names the hosts the source probed: the controller sends each
// of them a notice (issue 3: "the protected host is told").
func TestVerdictNamesTargets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FanoutPorts = 100 // the walk alone
	d := New(cfg)
	src := Source{Port: 1}
	ip := netip.MustParseAddr("10.0.0.1")
	v1, v2 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	var v Verdict
	var ok bool
	for i := range uint16(20) {
		victim := v1
		if i%2 == 1 {
			victim = v2
		}
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if _, ok2 := d.Observe(now, src, syn(ip, victim, 40000, 100+i)); ok2 {
			t.Fatal("decided on a SYN alone")
		}
		if v, ok = d.Observe(now, Source{Port: 2}, rst(victim, ip, 100+i, 40000)); ok {
			break
		}
	}
	if !ok {
		t.Fatal("no verdict after 20 refused first contacts")
	}
	if !slices.Contains(v.Targets, v1) {
		t.Errorf("targets %v, want %s among them", v.Targets, v1)
	}
	for _, tg := range v.Targets {
		if tg != v1 && tg != v2 {
			t.Errorf("target %s was never probed", tg)
		}
	}
}
