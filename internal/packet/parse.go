package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// EtherType values Parse understands.
const (
	EthTypeIPv4 = 0x0800
	EthTypeARP  = 0x0806
	EthTypeVLAN = 0x8100 // IEEE 802.1Q customer tag
	EthTypeQinQ = 0x88a8 // IEEE 802.1ad service tag
	EthType9100 = 0x9100 // legacy QinQ outer tag
	EthTypeIPv6 = 0x86dd
)

// IP protocol numbers Parse understands.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132

	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoNoNext   = 59
	protoDestOpts = 60
)

// TCP flag bits as stored in Packet.TCPFlags.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
	TCPNs  = 0x100
)

// ICMPv4 types Parse looks into.
const (
	ICMPEchoReply     = 0
	ICMPUnreachable   = 3
	ICMPSourceQuench  = 4
	ICMPRedirect      = 5
	ICMPEcho          = 8
	ICMPTimeExceeded  = 11
	ICMPParamProblem  = 12
	ICMPTimestamp     = 13
	ICMPTimestampRep  = 14
	ICMPInfoRequest   = 15
	ICMPInfoReply     = 16
	ICMPAddrMask      = 17
	ICMPAddrMaskReply = 18
)

// ICMPv6 types Parse looks into.
const (
	ICMPv6Unreachable   = 1
	ICMPv6PacketTooBig  = 2
	ICMPv6TimeExceeded  = 3
	ICMPv6ParamProblem  = 4
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6NeighborSol   = 135
	ICMPv6NeighborAdv   = 136
	maxVLANTags         = 4
	maxIPv6ExtHeaders   = 16
	ethHeaderLen        = 14
	arpIPv4Len          = 28
	ipv4MinHeaderLen    = 20
	ipv6HeaderLen       = 40
	tcpMinHeaderLen     = 20
	udpHeaderLen        = 8
	sctpCommonHeaderLen = 12
	icmpHeaderLen       = 8
)

// Errors returned by Parse. They are plain values so that returning one never
// allocates; compare with errors.Is.
var (
	ErrShortEthernet = errors.New("packet: frame shorter than an Ethernet header")
	ErrShortVLAN     = errors.New("packet: truncated VLAN tag")
	ErrTooManyVLAN   = errors.New("packet: too many VLAN tags")
	ErrShortARP      = errors.New("packet: truncated ARP packet")
	ErrShortIPv4     = errors.New("packet: truncated IPv4 header")
	ErrBadIPv4       = errors.New("packet: bad IPv4 header (version or header length)")
	ErrShortIPv6     = errors.New("packet: truncated IPv6 header")
	ErrBadIPv6       = errors.New("packet: bad IPv6 version")
	ErrShortExtHdr   = errors.New("packet: truncated IPv6 extension header")
	ErrTooManyExtHdr = errors.New("packet: too many IPv6 extension headers")
	ErrShortTCP      = errors.New("packet: truncated TCP header")
	ErrBadTCP        = errors.New("packet: bad TCP data offset")
	ErrShortUDP      = errors.New("packet: truncated UDP header")
	ErrShortSCTP     = errors.New("packet: truncated SCTP header")
	ErrShortICMP     = errors.New("packet: truncated ICMP header")
	ErrShortNDTarget = errors.New("packet: truncated neighbour discovery target")
)

// Parse decodes one Ethernet frame into p. It overwrites every field of p,
// never allocates, and never reads past frame. Slices in p (TCPOptions,
// Payload) alias frame.
//
// Frames may be truncated (a packet-in carries at most miss_send_len bytes):
// lengths declared in headers (IPLen, PayloadLen) keep their declared values
// while Payload holds only what was captured. A header that is itself cut
// short is an error. On error the fields decoded before the failing layer
// stay set (for example the Ethernet addresses, or Src and Dst when the TCP
// header is short), so a caller can still forward the frame.
//
// Frames that are neither ARP, IPv4 nor IPv6 (LLDP, STP, 802.3 LLC) are not an
// error: only the Ethernet fields are set. An IPv6 extension header Parse does
// not know ends the walk: Proto is that header's number and no L4 field is set.
// An ICMP or ICMPv6 error's quoted datagram is decoded into Inner, never into
// the outer fields.
func Parse(frame []byte, p *Packet) error {
	*p = Packet{}
	if len(frame) < ethHeaderLen {
		return ErrShortEthernet
	}
	copy(p.EthDst[:], frame[0:6])
	copy(p.EthSrc[:], frame[6:12])
	et := binary.BigEndian.Uint16(frame[12:14])
	b := frame[ethHeaderLen:]
	for tags := 0; et == EthTypeVLAN || et == EthTypeQinQ || et == EthType9100; tags++ {
		if tags == maxVLANTags {
			return ErrTooManyVLAN
		}
		if len(b) < 4 {
			return ErrShortVLAN
		}
		if !p.HasVLAN {
			p.HasVLAN = true
			p.VLAN = binary.BigEndian.Uint16(b[0:2]) & 0x0fff
		}
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	p.EthType = et
	switch et {
	case EthTypeARP:
		return parseARP(b, p)
	case EthTypeIPv4:
		return parseIPv4(b, p)
	case EthTypeIPv6:
		return parseIPv6(b, p)
	}
	return nil
}

func parseARP(b []byte, p *Packet) error {
	if len(b) < 8 {
		return ErrShortARP
	}
	htype := binary.BigEndian.Uint16(b[0:2])
	ptype := binary.BigEndian.Uint16(b[2:4])
	p.ARPOp = binary.BigEndian.Uint16(b[6:8])
	if htype != 1 || ptype != EthTypeIPv4 || b[4] != 6 || b[5] != 4 {
		// Not Ethernet/IPv4 ARP: keep the opcode only.
		return nil
	}
	if len(b) < arpIPv4Len {
		return ErrShortARP
	}
	copy(p.ARPSenderMAC[:], b[8:14])
	p.ARPSenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	p.ARPTargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

func parseIPv4(b []byte, p *Packet) error {
	if len(b) < ipv4MinHeaderLen {
		return ErrShortIPv4
	}
	if b[0]>>4 != 4 {
		return ErrBadIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen {
		return ErrBadIPv4
	}
	if len(b) < ihl {
		return ErrShortIPv4
	}
	p.TOS = b[1]
	p.IPLen = binary.BigEndian.Uint16(b[2:4])
	p.IPID = binary.BigEndian.Uint16(b[4:6])
	frag := binary.BigEndian.Uint16(b[6:8])
	p.DF = frag&0x4000 != 0
	p.Fragment = frag&0x1fff != 0
	p.FirstFragment = frag&0x3fff == 0x2000 // MF, offset 0
	p.TTL = b[8]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	// Declared L4 length; a bogus total length smaller than the header
	// means "unknown", so fall back to what was captured.
	l4len := int(p.IPLen) - ihl
	if l4len < 0 {
		l4len = len(b) - ihl
	}
	body := b[ihl:]
	if len(body) > l4len {
		body = body[:l4len] // strip Ethernet padding
	}
	if p.Fragment || p.FirstFragment {
		p.FragID = uint32(p.IPID)
		p.FragOffset = (frag & 0x1fff) * 8
		p.FragLen = uint16(l4len)
	}
	if p.Fragment {
		p.PayloadLen = l4len
		return nil
	}
	if p.FirstFragment && tinyFragment(p.Proto, l4len) {
		p.TinyFragment = true
		p.PayloadLen = l4len
		return nil
	}
	return parseL4(body, l4len, p)
}

// tinyFragment reports whether a first fragment whose fragmentable part is
// l4len bytes cannot hold the whole header of transport proto: RFC 1858's
// tiny fragment (and RFC 7112's incomplete header chain, for IPv6).
func tinyFragment(proto uint8, l4len int) bool {
	switch proto {
	case ProtoTCP:
		return l4len < tcpMinHeaderLen
	case ProtoUDP, ProtoICMP, ProtoICMPv6:
		return l4len < 8
	case ProtoSCTP:
		return l4len < sctpCommonHeaderLen
	}
	return false
}

func parseIPv6(b []byte, p *Packet) error {
	if len(b) < ipv6HeaderLen {
		return ErrShortIPv6
	}
	if b[0]>>4 != 6 {
		return ErrBadIPv6
	}
	p.TOS = b[0]<<4 | b[1]>>4
	p.IPLen = binary.BigEndian.Uint16(b[4:6])
	p.TTL = b[7]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	body := b[ipv6HeaderLen:]
	l4len := int(p.IPLen)
	if len(body) > l4len {
		body = body[:l4len]
	}
	proto, off, fr, err := walkIPv6Ext(b[6], body)
	p.Proto = proto
	p.Fragment = fr.later
	if err != nil {
		return err
	}
	l4len -= off
	if l4len < 0 {
		l4len = 0
	}
	if fr.present {
		p.FirstFragment = !fr.later && fr.more
		p.FragID, p.FragOffset, p.FragLen = fr.id, fr.offset, uint16(l4len)
	}
	if fr.later || !knownL4(proto) {
		p.PayloadLen = l4len
		return nil
	}
	if p.FirstFragment && tinyFragment(proto, l4len) {
		p.TinyFragment = true
		p.PayloadLen = l4len
		return nil
	}
	return parseL4(body[off:], l4len, p)
}

// walkIPv6Ext walks the IPv6 extension headers starting with next header nh
// at the start of b. It returns the upper-layer protocol, the offset of its
// header in b, and the fragment header's fields if there is one.
func walkIPv6Ext(nh uint8, b []byte) (proto uint8, off int, frag fragHeader, err error) {
	for n := 0; ; n++ {
		switch nh {
		case protoHopByHop, protoRouting, protoDestOpts:
			if len(b)-off < 8 {
				return nh, off, frag, ErrShortExtHdr
			}
			l := (int(b[off+1]) + 1) * 8
			if len(b)-off < l {
				return nh, off, frag, ErrShortExtHdr
			}
			nh = b[off]
			off += l
		case protoAH:
			if len(b)-off < 8 {
				return nh, off, frag, ErrShortExtHdr
			}
			l := (int(b[off+1]) + 2) * 4
			if len(b)-off < l {
				return nh, off, frag, ErrShortExtHdr
			}
			nh = b[off]
			off += l
		case protoFragment:
			if len(b)-off < 8 {
				return nh, off, frag, ErrShortExtHdr
			}
			fo := binary.BigEndian.Uint16(b[off+2 : off+4])
			frag = fragHeader{present: true, later: fo&0xfff8 != 0, more: fo&1 != 0, offset: fo & 0xfff8,
				id: binary.BigEndian.Uint32(b[off+4 : off+8])}
			nh = b[off]
			off += 8
		default:
			return nh, off, frag, nil
		}
		if n+1 == maxIPv6ExtHeaders {
			return nh, off, frag, ErrTooManyExtHdr
		}
	}
}

// fragHeader is what an IPv6 fragment header says.
type fragHeader struct {
	present, later, more bool
	offset               uint16 // bytes
	id                   uint32
}

func knownL4(proto uint8) bool {
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoICMP, ProtoICMPv6:
		return true
	}
	return false
}

// parseL4 decodes the transport header in b; l4len is the L4 length the IP
// header declared (b may be shorter when the frame was truncated).
func parseL4(b []byte, l4len int, p *Packet) error {
	switch p.Proto {
	case ProtoTCP:
		if len(b) < tcpMinHeaderLen {
			return ErrShortTCP
		}
		doff := int(b[12]>>4) * 4
		if doff < tcpMinHeaderLen {
			return ErrBadTCP
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.TCPSeq = binary.BigEndian.Uint32(b[4:8])
		p.TCPAck = binary.BigEndian.Uint32(b[8:12])
		p.TCPFlags = uint16(b[12]&0x01)<<8 | uint16(b[13])
		p.TCPWindow = binary.BigEndian.Uint16(b[14:16])
		p.TCPUrgent = binary.BigEndian.Uint16(b[18:20])
		// A data offset past the end of the segment (seen from real
		// scanners, and in frames cut by miss_send_len) keeps the fixed
		// header and the options that are present: the flags still matter.
		end := min(doff, len(b))
		if end > tcpMinHeaderLen {
			p.TCPOptions = b[tcpMinHeaderLen:end:end]
		}
		p.Payload = b[end:]
		p.PayloadLen = max(l4len-doff, 0)
	case ProtoUDP:
		if len(b) < udpHeaderLen {
			return ErrShortUDP
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Payload = b[udpHeaderLen:]
		p.PayloadLen = max(l4len-udpHeaderLen, 0)
	case ProtoSCTP:
		if len(b) < sctpCommonHeaderLen {
			return ErrShortSCTP
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Payload = b[sctpCommonHeaderLen:]
		p.PayloadLen = max(l4len-sctpCommonHeaderLen, 0)
	case ProtoICMP:
		if p.EthType != EthTypeIPv4 {
			return nil // ICMPv4 inside IPv6 is meaningless; leave it raw
		}
		return parseICMPv4(b, l4len, p)
	case ProtoICMPv6:
		if p.EthType != EthTypeIPv6 {
			return nil
		}
		return parseICMPv6(b, l4len, p)
	}
	return nil
}

func parseICMPv4(b []byte, l4len int, p *Packet) error {
	if len(b) < 4 {
		return ErrShortICMP
	}
	p.ICMPType, p.ICMPCode = b[0], b[1]
	if len(b) < icmpHeaderLen {
		return ErrShortICMP
	}
	p.Payload = b[icmpHeaderLen:]
	p.PayloadLen = max(l4len-icmpHeaderLen, 0)
	switch p.ICMPType {
	case ICMPEcho, ICMPEchoReply, ICMPTimestamp, ICMPTimestampRep,
		ICMPInfoRequest, ICMPInfoReply, ICMPAddrMask, ICMPAddrMaskReply:
		p.ICMPID = binary.BigEndian.Uint16(b[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
	case ICMPUnreachable, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		parseInnerIPv4(b[icmpHeaderLen:], p)
	}
	return nil
}

// parseInnerIPv4 fills p.Inner from the datagram an ICMP error quotes (its IP
// header and at least 8 bytes of its payload, RFC 792). A quote too short to
// hold an IP header leaves HasInner false; one too short for ports leaves
// the ports zero. It never fails the outer parse.
func parseInnerIPv4(b []byte, p *Packet) {
	if len(b) < ipv4MinHeaderLen || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen || len(b) < ihl {
		return
	}
	p.HasInner = true
	p.Inner.Proto = b[9]
	p.Inner.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Inner.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return // quoted a non-first fragment: no ports
	}
	innerPorts(b[ihl:], p)
}

func innerPorts(l4 []byte, p *Packet) {
	switch p.Inner.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		if len(l4) >= 4 {
			p.Inner.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			p.Inner.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
	}
}

func parseICMPv6(b []byte, l4len int, p *Packet) error {
	if len(b) < 4 {
		return ErrShortICMP
	}
	p.ICMPType, p.ICMPCode = b[0], b[1]
	if len(b) < icmpHeaderLen {
		return ErrShortICMP
	}
	p.Payload = b[icmpHeaderLen:]
	p.PayloadLen = max(l4len-icmpHeaderLen, 0)
	switch p.ICMPType {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		p.ICMPID = binary.BigEndian.Uint16(b[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
	case ICMPv6NeighborSol, ICMPv6NeighborAdv:
		if len(b) < icmpHeaderLen+16 {
			return ErrShortNDTarget
		}
		p.NDTarget = netip.AddrFrom16([16]byte(b[8:24]))
		p.Payload = b[24:]
		p.PayloadLen = max(l4len-24, 0)
	case ICMPv6Unreachable, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem:
		parseInnerIPv6(b[icmpHeaderLen:], p)
	}
	return nil
}

// parseInnerIPv6 fills p.Inner from the packet an ICMPv6 error quotes,
// walking its extension headers as far as the quote goes.
func parseInnerIPv6(b []byte, p *Packet) {
	if len(b) < ipv6HeaderLen || b[0]>>4 != 6 {
		return
	}
	p.HasInner = true
	p.Inner.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Inner.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	proto, off, frag, err := walkIPv6Ext(b[6], b[ipv6HeaderLen:])
	p.Inner.Proto = proto
	if err != nil || frag.later {
		return
	}
	innerPorts(b[ipv6HeaderLen+off:], p)
}
