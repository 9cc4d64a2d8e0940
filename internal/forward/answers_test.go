package forward

import (
	"net/netip"
	"testing"
	"time"

	"portcullis/internal/packet"
	"portcullis/ofp"
)

// ping is an ICMP echo request from (mac, ip) to (dmac, dst), or its reply.
func ping(mac [6]byte, ip netip.Addr, dmac [6]byte, dst netip.Addr, reply bool) *packet.Packet {
	typ := uint8(8)
	if reply {
		typ = 0
	}
	return &packet.Packet{EthSrc: mac, EthDst: dmac, EthType: 0x0800, Src: ip, Dst: dst, Proto: 1, ICMPType: typ, ICMPID: 77}
}

// tcp is a TCP segment from (mac, ip:sport) to (dmac, dst:dport).
func tcp(mac [6]byte, ip netip.Addr, sport uint16, dmac [6]byte, dst netip.Addr, dport uint16, flags uint16) *packet.Packet {
	return &packet.Packet{EthSrc: mac, EthDst: dmac, EthType: 0x0800, Src: ip, Dst: dst, Proto: 6,
		SrcPort: sport, DstPort: dport, TCPFlags: flags}
}

// confirm has the station at (aport, amac) answer a ping from (bport, bmac, bip) addressed to
// amac and aip.
func confirm(s *Switch, now time.Time, bport uint32, bmac [6]byte, bip netip.Addr, aport uint32, amac [6]byte, aip netip.Addr) {
	s.PacketIn(now, watchCopy(bport), ping(bmac, bip, amac, aip, false), nil)
	s.PacketIn(now.Add(time.Millisecond), watchCopy(aport), ping(amac, aip, bmac, bip, true), nil)
}

// stations learns A at port 1, B at 2, C at 3 (each with an address of its own, taught by use).
func stations(t *testing.T) *Switch {
	t.Helper()
	s := NewSwitch(Config{})
	for _, x := range []struct {
		port uint32
		mac  [6]byte
		ip   netip.Addr
	}{{1, macA, ipA}, {2, macB, ipB}, {3, macC, ipC}} {
		s.PacketIn(t0, learnMiss(x.port), ipPacket(x.mac, x.ip), nil)
	}
	return s
}

// homeOf is the port of ip's binding, vouched for or not (0: none).
func homeOf(s *Switch, ip netip.Addr) uint32 {
	k := keyOf(ip)
	j, ok := s.findBind(&k, s.addrHash(&k))
	if !ok {
		return 0
	}
	return s.binds[j].port
}

var (
	ipC  = netip.MustParseAddr("10.0.0.12")
	ipD  = netip.MustParseAddr("10.0.0.13")
	macD = [6]byte{0x02, 0, 0, 0, 0, 0xd}
)

// After a controller restart the first user of an address teaches its home; an attacker's forged
// frame can be that user (TestSpoofEvidence/stolen-after-restart). Its claim yields to the first
// answer the owner sends to traffic the switch delivered to the owner's MAC, and until then it
// makes nobody a spoofer.
func TestAddressTaughtByUseYieldsToAnswer(t *testing.T) {
	s := NewSwitch(Config{})
	s.PacketIn(t0, learnMiss(2), ipPacket(macB, ipB), nil)
	// C (port 3) claims A's address first: one frame of its own MAC.
	s.PacketIn(t0, learnMiss(3), ipPacket(macC, ipA), nil)
	if p, _, ok := s.IPLivesAt(ipA); !ok || p != 3 {
		t.Fatalf("the first user's claim: IPLivesAt = %d %v, want 3", p, ok)
	}
	// A's own frames, before it answered anything, are no spoof, and the address is disputed:
	// no longer said to live anywhere (no block names it, no bypass names C's port for it).
	now := t0.Add(time.Second)
	s.PacketIn(now, learnMiss(1), ipPacket(macA, ipA), nil)
	if a := s.Attribute(now, 1, macA, ipA); a != AttrUnknown {
		t.Errorf("the owner's frame against a claim taught by use: %v, want unknown", a)
	}
	if p, _, ok := s.IPLivesAt(ipA); ok || homeOf(s, ipA) != 3 {
		t.Errorf("a disputed claim: IPLivesAt = %d %v (home %d), want none (home still 3)", p, ok, homeOf(s, ipA))
	}
	// B connects to A (B's neighbour cache says A's MAC): A's SYN-ACK takes the address back.
	now = now.Add(time.Second)
	s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macA, ipA, 22, 0x02), nil)
	s.PacketIn(now, watchCopy(1), tcp(macA, ipA, 22, macB, ipB, 40000, 0x12), nil)
	if a := s.Attribute(now, 1, macA, ipA); a != AttrHere {
		t.Errorf("the owner's answer: %v, want here", a)
	}
	if p, m, ok := s.IPLivesAt(ipA); !ok || p != 1 || m != macA {
		t.Errorf("after the owner answered: IPLivesAt = %d %x %v, want 1 %x", p, m, ok, macA)
	}
	if st := s.Stats(); st.IPTakeovers != 1 {
		t.Errorf("IPTakeovers = %d, want 1", st.IPTakeovers)
	}
	// Now the claimant's frames are spoofs, and stay so while A holds the address.
	now = now.Add(time.Second)
	s.PacketIn(now, watchCopy(3), ipPacket(macC, ipA), nil)
	if a := s.Attribute(now, 3, macC, ipA); a != AttrIPElsewhere {
		t.Errorf("the claimant after the owner answered: %v, want ip-elsewhere", a)
	}
	if p, _, _ := s.IPLivesAt(ipA); p != 1 {
		t.Errorf("the claimant took the address back: port %d", p)
	}
}

// A station answering for an address confirms it only by answering traffic addressed to its own
// MAC, from another port: a forged answer to traffic the switch delivered elsewhere, an answer
// to a broadcast lookup (anyone may answer one), an answer to its own port's traffic and the same
// conversation addressed to two MACs confirm nothing.
func TestAnswerConfirmsOnlyWhatWasDeliveredToIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(s *Switch, now time.Time) // C (port 3) tries to confirm A's address
	}{
		{"forged-answer", func(s *Switch, now time.Time) {
			s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macA, ipA, 22, 0x02), nil)
			s.PacketIn(now, watchCopy(3), tcp(macC, ipA, 22, macB, ipB, 40000, 0x12), nil)
		}},
		{"broadcast-lookup", func(s *Switch, now time.Time) {
			req := &packet.Packet{EthSrc: macB, EthDst: bcast, EthType: 0x0806, ARPOp: 1, ARPSenderMAC: macB, ARPSenderIP: ipB, ARPTargetIP: ipA}
			s.PacketIn(now, watchCopy(2), req, nil)
			rep := &packet.Packet{EthSrc: macC, EthDst: macB, EthType: 0x0806, ARPOp: 2, ARPSenderMAC: macC, ARPSenderIP: ipA, ARPTargetIP: ipB}
			s.PacketIn(now, watchCopy(3), rep, nil)
		}},
		{"own-port", func(s *Switch, now time.Time) {
			s.PacketIn(now, watchCopy(3), ping(macD, ipD, macC, ipA, false), nil)
			s.PacketIn(now, watchCopy(3), ping(macC, ipA, macD, ipD, true), nil)
		}},
		{"addressed-to-two-macs", func(s *Switch, now time.Time) {
			s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macA, ipA, 22, 0x02), nil)
			s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macC, ipA, 22, 0x02), nil)
			s.PacketIn(now, watchCopy(3), tcp(macC, ipA, 22, macB, ipB, 40000, 0x12), nil)
		}},
		{"late", func(s *Switch, now time.Time) {
			s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macC, ipA, 22, 0x02), nil)
			s.PacketIn(now.Add(AnswerWindow), watchCopy(3), tcp(macC, ipA, 22, macB, ipB, 40000, 0x12), nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stations(t)
			s.PacketIn(t0, learnMiss(4), ipPacket(macD, ipD), nil)
			// A's address is A's, taught by use; C must not take it over.
			tc.run(s, t0.Add(time.Second))
			if p := homeOf(s, ipA); p != 1 {
				t.Errorf("A's address lives at port %d, want 1: C took it over", p)
			}
			if st := s.Stats(); st.IPTakeovers != 0 {
				t.Errorf("IPTakeovers = %d", st.IPTakeovers)
			}
		})
	}
}

// An answer the switch can check confirms: a unicast ARP request (Linux's reachability probe)
// answered by ARP, a unicast neighbour solicitation answered by an advertisement, a datagram
// answered by the ICMP error that quotes it.
func TestAnswersThatConfirm(t *testing.T) {
	a6, b6, c6 := netip.MustParseAddr("fd00::a"), netip.MustParseAddr("fd00::b"), netip.MustParseAddr("fd00::c")
	for _, tc := range []struct {
		name string
		addr netip.Addr
		ask  *packet.Packet // from B at port 2
		ans  *packet.Packet // from A at port 1
	}{
		{"unicast-arp", ipA,
			&packet.Packet{EthSrc: macB, EthDst: macA, EthType: 0x0806, ARPOp: 1, ARPSenderMAC: macB, ARPSenderIP: ipB, ARPTargetIP: ipA},
			&packet.Packet{EthSrc: macA, EthDst: macB, EthType: 0x0806, ARPOp: 2, ARPSenderMAC: macA, ARPSenderIP: ipA, ARPTargetIP: ipB}},
		{"unicast-ns", a6,
			&packet.Packet{EthSrc: macB, EthDst: macA, EthType: 0x86dd, Src: b6, Dst: a6, Proto: 58, ICMPType: 135, NDTarget: a6},
			&packet.Packet{EthSrc: macA, EthDst: macB, EthType: 0x86dd, Src: a6, Dst: b6, Proto: 58, ICMPType: 136, NDTarget: a6}},
		{"udp-refused", ipA,
			&packet.Packet{EthSrc: macB, EthDst: macA, EthType: 0x0800, Src: ipB, Dst: ipA, Proto: 17, SrcPort: 40000, DstPort: 9},
			func() *packet.Packet {
				p := &packet.Packet{EthSrc: macA, EthDst: macB, EthType: 0x0800, Src: ipA, Dst: ipB, Proto: 1, ICMPType: 3, ICMPCode: 3, HasInner: true}
				p.Inner.Src, p.Inner.Dst, p.Inner.Proto, p.Inner.SrcPort, p.Inner.DstPort = ipB, ipA, 17, 40000, 9
				return p
			}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSwitch(Config{})
			s.PacketIn(t0, learnMiss(2), ipPacket(macB, ipB), nil)
			s.PacketIn(t0, learnMiss(2), ipPacket(macB, b6), nil)
			// C claims A's address first (c6 for C's own v6 presence).
			s.PacketIn(t0, learnMiss(3), ipPacket(macC, tc.addr), nil)
			s.PacketIn(t0, learnMiss(3), ipPacket(macC, c6), nil)
			s.PacketIn(t0, learnMiss(1), ipPacket(macA, netip.MustParseAddr("169.254.0.1")), nil)
			now := t0.Add(time.Second)
			s.PacketIn(now, watchCopy(2), tc.ask, nil)
			s.PacketIn(now, watchCopy(1), tc.ans, nil)
			if p, _, ok := s.IPLivesAt(tc.addr); !ok || p != 1 {
				t.Errorf("IPLivesAt(%v) = %d %v after A's answer, want 1", tc.addr, p, ok)
			}
		})
	}
}

// Once A's home is confirmed, C confirming the address as well (an accomplice addressing C's MAC,
// a peer whose neighbour cache C poisoned) does not move it, but A's answers to traffic
// delivered to A are never called spoofed; C's frames are.
func TestConfirmedHomeHolds(t *testing.T) {
	s := stations(t)
	s.PacketIn(t0, learnMiss(4), ipPacket(macD, ipD), nil)
	confirm(s, t0, 2, macB, ipB, 1, macA, ipA)
	now := t0.Add(time.Second)
	confirm(s, now, 4, macD, ipD, 3, macC, ipA) // D addresses C's MAC with A's address
	if p, _, ok := s.IPLivesAt(ipA); !ok || p != 1 {
		t.Fatalf("IPLivesAt(A) = %d %v, want 1", p, ok)
	}
	now = now.Add(time.Second)
	s.PacketIn(now, watchCopy(3), ipPacket(macC, ipA), nil)
	if a := s.Attribute(now, 3, macC, ipA); a != AttrIPElsewhere {
		t.Errorf("C with A's confirmed address: %v, want ip-elsewhere", a)
	}
	// Even were C's claim the first confirmed, A's answer to B's SYN, delivered to A, counts.
	s = stations(t)
	s.PacketIn(t0, learnMiss(4), ipPacket(macD, ipD), nil)
	confirm(s, now, 4, macD, ipD, 3, macC, ipA)
	s.PacketIn(now, watchCopy(2), tcp(macB, ipB, 40000, macA, ipA, 22, 0x02), nil)
	s.PacketIn(now, watchCopy(1), tcp(macA, ipA, 22, macB, ipB, 40000, 0x12), nil)
	if a := s.Attribute(now, 1, macA, ipA); a.Spoofed() {
		t.Errorf("A's answer to traffic delivered to it: %v, want no spoof", a)
	}
}

// Remembering where packets were addressed costs no allocation per packet once the table
// exists.
func TestAnswersDoNotAllocate(t *testing.T) {
	s := stations(t)
	out := make([]ofp.Message, 0, 8)
	ask, ans := tcp(macB, ipB, 40000, macA, ipA, 22, 0x02), tcp(macA, ipA, 22, macB, ipB, 40000, 0x12)
	wb, wa := watchCopy(2), watchCopy(1)
	i := 0
	step := func() {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		ask.SrcPort, ans.DstPort = uint16(i), uint16(i)
		out = s.PacketIn(now, wb, ask, out[:0])
		out = s.PacketIn(now, wa, ans, out[:0])
		s.Attribute(now, 1, macA, ipA)
		i++
	}
	step()
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Errorf("%v allocations per ask and answer, want 0", allocs)
	}
}

// A second MAC at the same port using an address taught by use disputes nothing: the address
// still lives behind its first MAC there, and the other MAC is a spoofer (nmap --spoof-mac).
func TestSamePortUseDisputesNothing(t *testing.T) {
	s := stations(t)
	now := t0.Add(time.Second)
	s.PacketIn(now, learnMiss(1), ipPacket(macD, ipA), nil)
	if p, m, ok := s.IPLivesAt(ipA); !ok || p != 1 || m != macA {
		t.Errorf("IPLivesAt(A) = %d %x %v, want 1 %x", p, m, ok, macA)
	}
	// From another port it is disputed.
	s.PacketIn(now, learnMiss(3), ipPacket(macC, ipA), nil)
	if _, _, ok := s.IPLivesAt(ipA); ok {
		t.Error("an address used at two ports, neither confirmed, is still vouched for")
	}
}
