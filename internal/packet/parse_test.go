package packet

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// Frame builders for the tests. They write headers by hand (no checksums:
// Parse does not verify them) so every byte under test is visible here.

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	v4A  = netip.MustParseAddr("10.0.0.1")
	v4B  = netip.MustParseAddr("10.0.0.2")
	v6A  = netip.MustParseAddr("2001:db8::1")
	v6B  = netip.MustParseAddr("2001:db8::2")
)

func eth(etype uint16, vlans []uint16, payload []byte) []byte {
	b := append([]byte{}, macB[:]...)
	b = append(b, macA[:]...)
	for i, v := range vlans {
		tpid := uint16(EthTypeVLAN)
		if i == 0 && len(vlans) > 1 {
			tpid = EthTypeQinQ
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

type v4opts struct {
	tos     uint8
	id      uint16
	df      bool
	fragOff uint16
	ttl     uint8
	options []byte
}

func ipv4(src, dst netip.Addr, proto uint8, o v4opts, payload []byte) []byte {
	ihl := 20 + len(o.options)
	b := make([]byte, ihl)
	b[0] = 0x40 | byte(ihl/4)
	b[1] = o.tos
	binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(payload)))
	binary.BigEndian.PutUint16(b[4:], o.id)
	frag := o.fragOff
	if o.df {
		frag |= 0x4000
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = o.ttl
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], o.options)
	return append(b, payload...)
}

// ipv6 builds an IPv6 header; ext is a list of (next-header-of-this-ext,
// raw ext header) pairs flattened by the caller via exts().
func ipv6(src, dst netip.Addr, firstNH uint8, tc uint8, payload []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60 | tc>>4
	b[1] = tc << 4
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = firstNH
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

func tcp(sport, dport uint16, flags uint16, win uint16, opts []byte, payload []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	doff := 20 + len(opts)
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	b[12] = byte(doff/4)<<4 | byte(flags>>8&1)
	b[13] = byte(flags)
	binary.BigEndian.PutUint16(b[14:], win)
	binary.BigEndian.PutUint16(b[18:], 7)
	b = append(b, opts...)
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func icmp(typ, code uint8, rest4 [4]byte, payload []byte) []byte {
	b := []byte{typ, code, 0, 0}
	b = append(b, rest4[:]...)
	return append(b, payload...)
}

func idseq(id, seq uint16) [4]byte {
	var r [4]byte
	binary.BigEndian.PutUint16(r[0:], id)
	binary.BigEndian.PutUint16(r[2:], seq)
	return r
}

func arp(op uint16, sha [6]byte, spa, tpa netip.Addr) []byte {
	b := []byte{0, 1, 8, 0, 6, 4}
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(b, sha[:]...)
	s := spa.As4()
	b = append(b, s[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	t := tpa.As4()
	return append(b, t[:]...)
}

func ext(nh uint8, lenUnits uint8, fill int) []byte {
	b := make([]byte, (int(lenUnits)+1)*8)
	b[0] = nh
	b[1] = lenUnits
	_ = fill
	return b
}

func fragHdr(nh uint8, offset8 uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = nh
	v := offset8 << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// nmapSYNOpts is the only option nmap's raw SYN scan sends: MSS 1460.
var nmapSYNOpts = []byte{2, 4, 0x05, 0xb4}

func TestParse(t *testing.T) {
	tcpSyn := tcp(40000, 22, TCPSyn, 1024, nmapSYNOpts, nil)
	quotedUDP := ipv4(v4A, v4B, ProtoUDP, v4opts{ttl: 64}, udp(50000, 161, []byte("abcd")))
	quotedTCPv6 := ipv6(v6A, v6B, ProtoTCP, 0, tcp(33000, 443, TCPSyn, 65535, nil, nil))
	quotedFragv6 := ipv6(v6A, v6B, protoDestOpts, 0, cat(ext(protoFragment, 0, 0), fragHdr(ProtoUDP, 0, true), udp(5000, 6000, nil)))

	tests := []struct {
		name  string
		frame []byte
		check func(t *testing.T, p *Packet)
	}{
		{"ipv4 tcp syn nmap shape", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{ttl: 44, id: 77, df: false}, tcpSyn)),
			func(t *testing.T, p *Packet) {
				eq(t, "EthSrc", p.EthSrc, macA)
				eq(t, "EthDst", p.EthDst, macB)
				eq(t, "EthType", p.EthType, uint16(EthTypeIPv4))
				eq(t, "Src", p.Src, v4A)
				eq(t, "Dst", p.Dst, v4B)
				eq(t, "Proto", p.Proto, uint8(ProtoTCP))
				eq(t, "TTL", p.TTL, uint8(44))
				eq(t, "IPID", p.IPID, uint16(77))
				eq(t, "IPLen", p.IPLen, uint16(44))
				eq(t, "ports", [2]uint16{p.SrcPort, p.DstPort}, [2]uint16{40000, 22})
				eq(t, "TCPFlags", p.TCPFlags, uint16(TCPSyn))
				eq(t, "TCPWindow", p.TCPWindow, uint16(1024))
				eq(t, "TCPSeq", p.TCPSeq, uint32(1000))
				eq(t, "TCPAck", p.TCPAck, uint32(2000))
				eq(t, "TCPUrgent", p.TCPUrgent, uint16(7))
				eq(t, "TCPOptions", hex.EncodeToString(p.TCPOptions), "020405b4")
				eq(t, "PayloadLen", p.PayloadLen, 0)
				eq(t, "HasVLAN", p.HasVLAN, false)
			}},
		{"ipv4 with options, DF, tos, xmas+NS flags, payload", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP,
			v4opts{ttl: 64, df: true, tos: 0x04, options: []byte{1, 1, 1, 0}},
			tcp(1, 2, TCPFin|TCPPsh|TCPUrg|TCPNs, 0, nil, []byte("hello")))),
			func(t *testing.T, p *Packet) {
				eq(t, "DF", p.DF, true)
				eq(t, "TOS", p.TOS, uint8(4))
				eq(t, "TCPFlags", p.TCPFlags, uint16(TCPFin|TCPPsh|TCPUrg|TCPNs))
				eq(t, "TCPOptions nil", p.TCPOptions == nil, true)
				eq(t, "PayloadLen", p.PayloadLen, 5)
				eq(t, "Payload", string(p.Payload), "hello")
			}},
		{"ethernet padding is not payload", append(eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(1, 2, TCPRst|TCPAck, 0, nil, nil))), 0, 0, 0, 0, 0, 0),
			func(t *testing.T, p *Packet) {
				eq(t, "PayloadLen", p.PayloadLen, 0)
				eq(t, "len(Payload)", len(p.Payload), 0)
				eq(t, "TCPFlags", p.TCPFlags, uint16(TCPRst|TCPAck))
			}},
		{"802.1Q", eth(EthTypeIPv4, []uint16{0x2064}, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(5353, 5353, nil))),
			func(t *testing.T, p *Packet) {
				eq(t, "HasVLAN", p.HasVLAN, true)
				eq(t, "VLAN", p.VLAN, uint16(0x064))
				eq(t, "EthType", p.EthType, uint16(EthTypeIPv4))
				eq(t, "DstPort", p.DstPort, uint16(5353))
			}},
		{"QinQ keeps the outer VLAN", eth(EthTypeIPv6, []uint16{100, 200}, ipv6(v6A, v6B, ProtoUDP, 0, udp(1, 2, []byte{9}))),
			func(t *testing.T, p *Packet) {
				eq(t, "VLAN", p.VLAN, uint16(100))
				eq(t, "EthType", p.EthType, uint16(EthTypeIPv6))
				eq(t, "Src", p.Src, v6A)
				eq(t, "PayloadLen", p.PayloadLen, 1)
			}},
		{"udp 300 C bytes (nmap U1)", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoUDP, v4opts{id: 0x1042}, udp(45000, 40125, []byte(strings.Repeat("C", 300))))),
			func(t *testing.T, p *Packet) {
				eq(t, "Proto", p.Proto, uint8(ProtoUDP))
				eq(t, "PayloadLen", p.PayloadLen, 300)
				eq(t, "Payload[299]", p.Payload[299], byte('C'))
			}},
		{"sctp init", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoSCTP, v4opts{}, append([]byte{0x9c, 0x40, 0x0b, 0x59, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 0, 0, 4))),
			func(t *testing.T, p *Packet) {
				eq(t, "ports", [2]uint16{p.SrcPort, p.DstPort}, [2]uint16{40000, 2905})
				eq(t, "PayloadLen", p.PayloadLen, 4)
			}},
		{"arp who-has", eth(EthTypeARP, nil, arp(1, macA, v4A, v4B)),
			func(t *testing.T, p *Packet) {
				eq(t, "ARPOp", p.ARPOp, uint16(1))
				eq(t, "ARPSenderMAC", p.ARPSenderMAC, macA)
				eq(t, "ARPSenderIP", p.ARPSenderIP, v4A)
				eq(t, "ARPTargetIP", p.ARPTargetIP, v4B)
				eq(t, "Src invalid", p.Src.IsValid(), false)
			}},
		{"icmp echo", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoICMP, v4opts{tos: 0}, icmp(ICMPEcho, 9, idseq(0xabcd, 295), make([]byte, 120)))),
			func(t *testing.T, p *Packet) {
				eq(t, "type/code", [2]uint8{p.ICMPType, p.ICMPCode}, [2]uint8{8, 9})
				eq(t, "ICMPID", p.ICMPID, uint16(0xabcd))
				eq(t, "ICMPSeq", p.ICMPSeq, uint16(295))
				eq(t, "PayloadLen", p.PayloadLen, 120)
				eq(t, "HasInner", p.HasInner, false)
			}},
		{"icmp timestamp", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoICMP, v4opts{}, icmp(ICMPTimestamp, 0, idseq(5, 6), make([]byte, 12)))),
			func(t *testing.T, p *Packet) {
				eq(t, "ICMPType", p.ICMPType, uint8(ICMPTimestamp))
				eq(t, "ICMPID/Seq", [2]uint16{p.ICMPID, p.ICMPSeq}, [2]uint16{5, 6})
			}},
		{"icmp port unreachable quotes udp", eth(EthTypeIPv4, nil, ipv4(v4B, v4A, ProtoICMP, v4opts{}, icmp(ICMPUnreachable, 3, [4]byte{}, quotedUDP[:28]))),
			func(t *testing.T, p *Packet) {
				eq(t, "outer Src", p.Src, v4B)
				eq(t, "outer ports zero", [2]uint16{p.SrcPort, p.DstPort}, [2]uint16{0, 0})
				eq(t, "HasInner", p.HasInner, true)
				eq(t, "Inner.Src", p.Inner.Src, v4A)
				eq(t, "Inner.Dst", p.Inner.Dst, v4B)
				eq(t, "Inner.Proto", p.Inner.Proto, uint8(ProtoUDP))
				eq(t, "Inner ports", [2]uint16{p.Inner.SrcPort, p.Inner.DstPort}, [2]uint16{50000, 161})
			}},
		{"icmp unreachable quoting only an IP header", eth(EthTypeIPv4, nil, ipv4(v4B, v4A, ProtoICMP, v4opts{}, icmp(ICMPUnreachable, 2, [4]byte{}, quotedUDP[:22]))),
			func(t *testing.T, p *Packet) {
				eq(t, "HasInner", p.HasInner, true)
				eq(t, "Inner.Proto", p.Inner.Proto, uint8(ProtoUDP))
				eq(t, "Inner ports zero", [2]uint16{p.Inner.SrcPort, p.Inner.DstPort}, [2]uint16{0, 0})
			}},
		{"icmp unreachable with garbage quote", eth(EthTypeIPv4, nil, ipv4(v4B, v4A, ProtoICMP, v4opts{}, icmp(ICMPUnreachable, 3, [4]byte{}, []byte{1, 2, 3}))),
			func(t *testing.T, p *Packet) {
				eq(t, "HasInner", p.HasInner, false)
				eq(t, "ICMPCode", p.ICMPCode, uint8(3))
			}},
		{"ipv4 non-first fragment has no L4", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{fragOff: 3}, []byte("0123456789abcdefghijklmn"))),
			func(t *testing.T, p *Packet) {
				eq(t, "Fragment", p.Fragment, true)
				eq(t, "ports zero", [2]uint16{p.SrcPort, p.DstPort}, [2]uint16{0, 0})
				eq(t, "TCPFlags", p.TCPFlags, uint16(0))
				eq(t, "PayloadLen", p.PayloadLen, 24)
			}},
		{"ipv4 first fragment (MF) parses L4", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{fragOff: 0x2000, id: 9}, tcp(1, 80, TCPSyn, 1, nil, nil))),
			func(t *testing.T, p *Packet) {
				eq(t, "Fragment", p.Fragment, false)
				eq(t, "DstPort", p.DstPort, uint16(80))
				eq(t, "FirstFragment", p.FirstFragment, true)
				eq(t, "TinyFragment", p.TinyFragment, false)
				eq(t, "frag", [3]uint32{p.FragID, uint32(p.FragOffset), uint32(p.FragLen)}, [3]uint32{9, 0, 20})
			}},
		// nmap -f: the first fragment carries 8 bytes of the TCP header (ports and sequence
		// number); the flags come in the second. RFC 1858 section 3.1.
		{"ipv4 tiny first fragment (nmap -f)", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{fragOff: 0x2000, id: 5},
			tcp(40000, 22, TCPSyn, 1024, nil, nil)[:8])),
			func(t *testing.T, p *Packet) {
				eq(t, "FirstFragment", p.FirstFragment, true)
				eq(t, "TinyFragment", p.TinyFragment, true)
				eq(t, "no L4", [3]uint16{p.SrcPort, p.DstPort, p.TCPFlags}, [3]uint16{0, 0, 0})
				eq(t, "FragLen", p.FragLen, uint16(8))
			}},
		{"ipv4 later fragment offset and id", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{fragOff: 0x2001, id: 5}, []byte("01234567"))),
			func(t *testing.T, p *Packet) {
				eq(t, "Fragment", p.Fragment, true)
				eq(t, "FirstFragment", p.FirstFragment, false)
				eq(t, "frag", [3]uint32{p.FragID, uint32(p.FragOffset), uint32(p.FragLen)}, [3]uint32{5, 8, 8})
			}},
		{"ipv4 whole datagram is no fragment", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoUDP, v4opts{df: true}, udp(1, 2, nil))),
			func(t *testing.T, p *Packet) {
				eq(t, "fragment fields", [3]bool{p.Fragment, p.FirstFragment, p.TinyFragment}, [3]bool{})
			}},
		{"ipv6 tiny first fragment", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoFragment, 0,
			cat(fragHdr(ProtoTCP, 0, true), tcp(40000, 22, TCPSyn, 1024, nil, nil)[:16]))),
			func(t *testing.T, p *Packet) {
				eq(t, "FirstFragment", p.FirstFragment, true)
				eq(t, "TinyFragment", p.TinyFragment, true)
				eq(t, "DstPort", p.DstPort, uint16(0))
				eq(t, "FragLen", p.FragLen, uint16(16))
			}},
		{"ipv6 tcp with hop-by-hop, routing, dest opts", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoHopByHop, 0xb8,
			cat(ext(protoRouting, 0, 0), ext(protoDestOpts, 1, 0), ext(ProtoTCP, 0, 0), tcp(5555, 8080, TCPSyn|TCPEce|TCPCwr, 3, []byte{3, 3, 10, 1}, nil)))),
			func(t *testing.T, p *Packet) {
				eq(t, "Proto", p.Proto, uint8(ProtoTCP))
				eq(t, "TOS", p.TOS, uint8(0xb8))
				eq(t, "ports", [2]uint16{p.SrcPort, p.DstPort}, [2]uint16{5555, 8080})
				eq(t, "TCPFlags", p.TCPFlags, uint16(TCPSyn|TCPEce|TCPCwr))
				eq(t, "TCPOptions", hex.EncodeToString(p.TCPOptions), "03030a01")
				eq(t, "TTL (hop limit)", p.TTL, uint8(64))
				eq(t, "IPLen", p.IPLen, uint16(8+16+8+24))
			}},
		{"ipv6 first fragment parses L4", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoFragment, 0, cat(fragHdr(ProtoUDP, 0, true), udp(7, 9, []byte{1, 2})))),
			func(t *testing.T, p *Packet) {
				eq(t, "Fragment", p.Fragment, false)
				eq(t, "Proto", p.Proto, uint8(ProtoUDP))
				eq(t, "DstPort", p.DstPort, uint16(9))
			}},
		{"ipv6 later fragment has no L4", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoFragment, 0, cat(fragHdr(ProtoUDP, 100, false), []byte{0, 7, 0, 9, 0, 0, 0, 0}))),
			func(t *testing.T, p *Packet) {
				eq(t, "Fragment", p.Fragment, true)
				eq(t, "Proto", p.Proto, uint8(ProtoUDP))
				eq(t, "DstPort", p.DstPort, uint16(0))
			}},
		{"ipv6 unknown next header stops", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoHopByHop, 0, cat(ext(253, 0, 0), []byte{1, 2, 3, 4}))),
			func(t *testing.T, p *Packet) {
				eq(t, "Proto", p.Proto, uint8(253))
				eq(t, "PayloadLen", p.PayloadLen, 4)
			}},
		{"ipv6 no next header", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoNoNext, 0, nil)),
			func(t *testing.T, p *Packet) { eq(t, "Proto", p.Proto, uint8(protoNoNext)) }},
		{"icmpv6 echo", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, ProtoICMPv6, 0, icmp(ICMPv6EchoRequest, 0, idseq(11, 12), []byte{1}))),
			func(t *testing.T, p *Packet) {
				eq(t, "ICMPType", p.ICMPType, uint8(ICMPv6EchoRequest))
				eq(t, "ICMPID/Seq", [2]uint16{p.ICMPID, p.ICMPSeq}, [2]uint16{11, 12})
			}},
		{"icmpv6 neighbour solicitation", eth(EthTypeIPv6, nil, ipv6(v6A, netip.MustParseAddr("ff02::1:ff00:2"), ProtoICMPv6, 0, icmp(ICMPv6NeighborSol, 0, [4]byte{}, v6B.AsSlice()))),
			func(t *testing.T, p *Packet) {
				eq(t, "ICMPType", p.ICMPType, uint8(ICMPv6NeighborSol))
				eq(t, "NDTarget", p.NDTarget, v6B)
			}},
		{"icmpv6 neighbour advertisement", eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6NeighborAdv, 0, [4]byte{0x60}, cat(v6B.AsSlice(), []byte{2, 1, 1, 2, 3, 4, 5, 6})))),
			func(t *testing.T, p *Packet) { eq(t, "NDTarget", p.NDTarget, v6B) }},
		{"icmpv6 port unreachable quotes tcp", eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6Unreachable, 4, [4]byte{}, quotedTCPv6))),
			func(t *testing.T, p *Packet) {
				eq(t, "HasInner", p.HasInner, true)
				eq(t, "Inner.Src", p.Inner.Src, v6A)
				eq(t, "Inner.Dst", p.Inner.Dst, v6B)
				eq(t, "Inner.Proto", p.Inner.Proto, uint8(ProtoTCP))
				eq(t, "Inner ports", [2]uint16{p.Inner.SrcPort, p.Inner.DstPort}, [2]uint16{33000, 443})
			}},
		{"icmpv6 error quoting ext headers", eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6TimeExceeded, 0, [4]byte{}, quotedFragv6))),
			func(t *testing.T, p *Packet) {
				eq(t, "Inner.Proto", p.Inner.Proto, uint8(ProtoUDP))
				eq(t, "Inner ports", [2]uint16{p.Inner.SrcPort, p.Inner.DstPort}, [2]uint16{5000, 6000})
			}},
		{"lldp is not an error", eth(0x88cc, nil, []byte{1, 2, 3}),
			func(t *testing.T, p *Packet) {
				eq(t, "EthType", p.EthType, uint16(0x88cc))
				eq(t, "Src invalid", p.Src.IsValid(), false)
			}},
		{"802.3 LLC (STP) is not an error", eth(0x0026, nil, []byte{0x42, 0x42, 3}),
			func(t *testing.T, p *Packet) { eq(t, "EthType", p.EthType, uint16(0x0026)) }},
		{"truncated packet-in keeps declared lengths", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(1, 2, make([]byte, 1000))))[:14+20+8+10],
			func(t *testing.T, p *Packet) {
				eq(t, "IPLen", p.IPLen, uint16(1028))
				eq(t, "PayloadLen", p.PayloadLen, 1000)
				eq(t, "len(Payload)", len(p.Payload), 10)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			if err := Parse(tc.frame, &p); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, &p)
		})
	}
}

func TestParseOverwritesEveryField(t *testing.T) {
	var p Packet
	full := eth(EthTypeIPv4, []uint16{5}, ipv4(v4B, v4A, ProtoICMP, v4opts{df: true, ttl: 3, id: 4}, icmp(ICMPUnreachable, 3, [4]byte{}, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(1, 2, nil)))))
	if err := Parse(full, &p); err != nil {
		t.Fatal(err)
	}
	if !p.HasInner {
		t.Fatal("setup: expected an inner header")
	}
	if err := Parse(eth(EthTypeARP, nil, arp(2, macB, v4B, v4A)), &p); err != nil {
		t.Fatal(err)
	}
	want := Packet{EthDst: macB, EthSrc: macA, EthType: EthTypeARP, ARPOp: 2, ARPSenderMAC: macB, ARPSenderIP: v4B, ARPTargetIP: v4A}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("stale fields after reparse:\n got %+v\nwant %+v", p, want)
	}
}

func TestParseErrors(t *testing.T) {
	good := eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(1, 2, TCPSyn, 1, nmapSYNOpts, nil)))
	badDoff := append([]byte{}, good...)
	badDoff[14+20+12] = 0x40 // data offset 4 words
	badIHL := append([]byte{}, good...)
	badIHL[14] = 0x44
	tooManyExt := eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoDestOpts, 0, cat(
		ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0),
		ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(60, 0, 0), ext(6, 0, 0))))
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrShortEthernet},
		{"13 bytes", good[:13], ErrShortEthernet},
		{"vlan cut", eth(EthTypeIPv4, []uint16{1}, nil)[:16], ErrShortVLAN},
		{"five vlan tags", eth(EthTypeIPv4, []uint16{1, 2, 3, 4, 5}, nil), ErrTooManyVLAN},
		{"arp cut", eth(EthTypeARP, nil, arp(1, macA, v4A, v4B))[:14+20], ErrShortARP},
		{"ipv4 cut", good[:14+19], ErrShortIPv4},
		{"ipv4 version 6 in a v4 frame", eth(EthTypeIPv4, nil, ipv6(v6A, v6B, 59, 0, nil)), ErrBadIPv4},
		{"ipv4 ihl 4 words", badIHL, ErrBadIPv4},
		{"tcp cut", good[:14+20+19], ErrShortTCP},
		{"tcp data offset < 5", badDoff, ErrBadTCP},
		{"udp cut", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(1, 2, nil)))[:14+20+7], ErrShortUDP},
		{"sctp cut", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoSCTP, v4opts{}, make([]byte, 11))), ErrShortSCTP},
		{"icmp cut", eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoICMP, v4opts{}, []byte{8, 0, 0})), ErrShortICMP},
		{"ipv6 cut", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, 59, 0, nil))[:14+39], ErrShortIPv6},
		{"ipv6 ext cut", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoHopByHop, 0, ext(6, 1, 0)[:12])), ErrShortExtHdr},
		{"ipv6 ext loop", tooManyExt, ErrTooManyExtHdr},
		{"ns without target", eth(EthTypeIPv6, nil, ipv6(v6A, v6B, ProtoICMPv6, 0, icmp(ICMPv6NeighborSol, 0, [4]byte{}, []byte{1, 2}))), ErrShortNDTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := Parse(tc.frame, &p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "packet: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// A real scanner in scanng_23-tcp.pcap (frame 456) sends a SYN whose data
// offset says 24 bytes while the IP total length leaves room for 20; the flags
// must still be seen.
func TestParseTCPDataOffsetPastSegment(t *testing.T) {
	f := eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(1, 23, TCPSyn, 1, nmapSYNOpts, nil)))
	f[14+2], f[14+3] = 0, 40 // IP total length: 20 + 20, options outside the datagram
	longDoff := append([]byte{}, f...)
	longDoff[14+20+12] = 0xf0 // 60-byte TCP header claimed
	for _, frame := range [][]byte{f, longDoff} {
		var p Packet
		if err := Parse(frame, &p); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		eq(t, "DstPort", p.DstPort, uint16(23))
		eq(t, "TCPFlags", p.TCPFlags, uint16(TCPSyn))
		eq(t, "len(TCPOptions)", len(p.TCPOptions), 0)
		eq(t, "PayloadLen", p.PayloadLen, 0)
	}
}

func TestParseErrorKeepsOuterFields(t *testing.T) {
	f := eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(1, 2, TCPSyn, 1, nil, nil)))[:14+20+10]
	var p Packet
	if err := Parse(f, &p); !errors.Is(err, ErrShortTCP) {
		t.Fatalf("err = %v", err)
	}
	eq(t, "EthSrc", p.EthSrc, macA)
	eq(t, "Src", p.Src, v4A)
	eq(t, "Dst", p.Dst, v4B)
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func BenchmarkParse(b *testing.B) {
	frames := map[string][]byte{
		"ipv4-tcp-syn":      eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(40000, 22, TCPSyn, 1024, nmapSYNOpts, nil))),
		"ipv6-ext-tcp":      eth(EthTypeIPv6, []uint16{7}, ipv6(v6A, v6B, protoHopByHop, 0, cat(ext(ProtoTCP, 0, 0), tcp(1, 2, TCPSyn, 1, nmapSYNOpts, nil)))),
		"icmp-unreach-udp":  eth(EthTypeIPv4, nil, ipv4(v4B, v4A, ProtoICMP, v4opts{}, icmp(ICMPUnreachable, 3, [4]byte{}, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(1, 2, nil))))),
		"icmpv6-nd-sol":     eth(EthTypeIPv6, nil, ipv6(v6A, v6B, ProtoICMPv6, 0, icmp(ICMPv6NeighborSol, 0, [4]byte{}, v6B.AsSlice()))),
		"arp":               eth(EthTypeARP, nil, arp(1, macA, v4A, v4B)),
		"ipv6-icmp-unreach": eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6Unreachable, 4, [4]byte{}, ipv6(v6A, v6B, ProtoUDP, 0, udp(1, 2, nil))))),
	}
	for name, f := range frames {
		b.Run(name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				if err := Parse(f, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParseAllocs makes the zero-allocation promise a test: AllocsPerRun
// counts allocations, not time, so it is deterministic.
func TestParseAllocs(t *testing.T) {
	f := eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6Unreachable, 4, [4]byte{}, ipv6(v6A, v6B, ProtoTCP, 0, tcp(1, 2, TCPSyn, 1, nmapSYNOpts, nil)))))
	g := eth(EthTypeIPv4, []uint16{3}, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(40000, 22, TCPSyn, 1024, nmapSYNOpts, nil)))
	var p Packet
	n := testing.AllocsPerRun(100, func() {
		_ = Parse(f, &p)
		_ = Parse(g, &p)
		_ = Parse(g[:20], &p)
	})
	if n != 0 {
		t.Fatalf("Parse allocates %v times per run, want 0", n)
	}
}
