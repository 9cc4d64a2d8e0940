package forward

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"time"

	"portcullis/internal/packet"
)

// Answers: which station answered traffic the switch delivered to it.
//
// An address's home is taught by use (bind), and the first user after a
// controller start, or after the home went quiet, is whoever sends first:
// an attacker's forged frame can be that user. What a station at another
// port cannot forge is an answer to traffic addressed to someone else's MAC:
// the switch delivers a frame to the port where its destination MAC lives
// (that home one frame cannot move, see elsewhere), and the station there
// answers from that MAC. So the switch remembers, for the packets it copies
// to the controller, where each was addressed (asks: its destination MAC and
// where it entered), and a packet from station (port, MAC) with source
// address A that answers one of them, addressed to that MAC with destination
// A, from another port within AnswerWindow, confirms A's home there (see
// bind and Attribute). The same conversation seen addressed to two MACs, or
// from two ports, within the window proves nothing (mixed): no stack sends
// it, an attacker with an accomplice would.
//
// A lookup sent to the broadcast address is answered by whoever wants to
// answer it (an attacker as well as the owner): it is not remembered, and
// its answer confirms nothing; a unicast lookup (Linux's reachability
// probe) is.

// AnswerWindow is how long after a packet addressed to a station the
// station's answer to it confirms the address it answers from.
const AnswerWindow = 2 * time.Second

// askSlots is the size of the direct-mapped table of asks (a power of two):
// about 16 KiB a switch, allocated at the first packet that needs it.
const askSlots = 256

// askKey is one direction of a conversation as the packets of its other
// direction reverse it: source and destination address, protocol, ports
// (ICMP: the echo identifier in both; ARP: protocol 0).
type askKey struct {
	src, dst     addrKey
	proto        uint8
	sport, dport uint16
}

func (k askKey) reverse() askKey {
	return askKey{src: k.dst, dst: k.src, proto: k.proto, sport: k.dport, dport: k.sport}
}

// ask is one packet's direction, where it was addressed.
type ask struct {
	k     askKey
	mac   [6]byte // the destination MAC it was sent to
	port  uint32  // where it entered
	at    int64
	mixed bool // seen addressed to another MAC, or entering elsewhere, within the window
}

// answered is what PacketIn found about the packet it handled, for
// Attribute: station (port, mac) answered traffic addressed to it, from addr.
type answered struct {
	port uint32
	mac  [6]byte
	addr addrKey
	ok   bool
}

const protoARP = 0 // askKey.proto of ARP (IP protocol 0 is never a datagram's own)

// askOf returns the key of what p asks of its destination, and the
// destination address, if p is a unicast packet worth remembering.
func askOf(p *packet.Packet) (askKey, bool) {
	if p.EthDst[0]&1 == 1 {
		return askKey{}, false // group-addressed: anyone may answer
	}
	switch {
	case p.EthType == packet.EthTypeARP:
		if p.ARPOp != 1 || !usableIP(p.ARPTargetIP.Unmap()) {
			return askKey{}, false
		}
		return askKey{src: keyOf(p.ARPSenderIP.Unmap()), dst: keyOf(p.ARPTargetIP.Unmap()), proto: protoARP}, true
	case !p.Src.IsValid() || p.Fragment:
		return askKey{}, false
	case p.Proto == 58 && p.ICMPType == 135 && p.NDTarget.IsValid(): // neighbour solicitation
		return askKey{src: keyOf(p.Src.Unmap()), dst: keyOf(p.NDTarget.Unmap()), proto: 58}, true
	}
	if !usableIP(p.Dst.Unmap()) {
		return askKey{}, false
	}
	return ipKey(p), true
}

// ipKey is p's own direction.
func ipKey(p *packet.Packet) askKey {
	k := askKey{src: keyOf(p.Src.Unmap()), dst: keyOf(p.Dst.Unmap()), proto: p.Proto}
	switch p.Proto {
	case 1, 58:
		if isEcho(p) {
			k.sport, k.dport = p.ICMPID, p.ICMPID
		}
	default:
		k.sport, k.dport = p.SrcPort, p.DstPort
	}
	return k
}

func isEcho(p *packet.Packet) bool {
	if p.Proto == 1 {
		return p.ICMPType == 0 || p.ICMPType == 8
	}
	return p.ICMPType == 128 || p.ICMPType == 129
}

// answerOf returns the key of the ask p would answer and the address the
// answer is from (the one it confirms), if p is an answer at all.
func answerOf(p *packet.Packet) (askKey, netip.Addr, bool) {
	switch {
	case p.EthType == packet.EthTypeARP:
		if p.ARPOp != 2 || p.ARPSenderMAC != p.EthSrc {
			return askKey{}, netip.Addr{}, false
		}
		a := p.ARPSenderIP.Unmap()
		return askKey{src: keyOf(p.ARPTargetIP.Unmap()), dst: keyOf(a), proto: protoARP}, a, true
	case !p.Src.IsValid() || p.Fragment:
		return askKey{}, netip.Addr{}, false
	case p.Proto == 58 && p.ICMPType == 136 && p.NDTarget.IsValid(): // neighbour advertisement
		a := p.NDTarget.Unmap()
		return askKey{src: keyOf(p.Dst.Unmap()), dst: keyOf(a), proto: 58}, a, true
	case p.HasInner && (p.Proto == 1 || p.Proto == 58):
		// An ICMP error answers the datagram it quotes, if it comes from that datagram's destination.
		in := &p.Inner
		if in.Dst.Unmap() != p.Src.Unmap() {
			return askKey{}, netip.Addr{}, false
		}
		return askKey{src: keyOf(in.Src.Unmap()), dst: keyOf(in.Dst.Unmap()), proto: in.Proto, sport: in.SrcPort, dport: in.DstPort}, p.Src.Unmap(), true
	}
	return ipKey(p).reverse(), p.Src.Unmap(), true
}

// slot returns k's place in the table of asks.
func (s *Switch) slot(k *askKey) *ask {
	var b [2*16 + 1 + 4]byte
	copy(b[:16], k.src[:])
	copy(b[16:32], k.dst[:])
	b[32] = k.proto
	binary.BigEndian.PutUint16(b[33:], k.sport)
	binary.BigEndian.PutUint16(b[35:], k.dport)
	return &s.asks[maphash.Bytes(s.seed, b[:])&(askSlots-1)]
}

// noteAsk remembers where p, entering at port, was addressed. It never
// allocates but for the table itself, the first time.
func (s *Switch) noteAsk(now int64, port uint32, p *packet.Packet) {
	k, ok := askOf(p)
	if !ok {
		return
	}
	if s.asks == nil {
		s.asks = new([askSlots]ask)
	}
	a := s.slot(&k)
	if a.k == k && now-a.at < int64(AnswerWindow) {
		if a.mac != p.EthDst || a.port != port {
			a.mixed = true
		}
		a.at = now
		return
	}
	*a = ask{k: k, mac: p.EthDst, port: port, at: now}
}

// answers reports whether p, from the station with p.EthSrc entering at
// port, answers a packet the switch saw addressed to that MAC from another
// port, and which address it answers from.
func (s *Switch) answers(now int64, port uint32, p *packet.Packet) (netip.Addr, bool) {
	if s.asks == nil {
		return netip.Addr{}, false
	}
	k, addr, ok := answerOf(p)
	if !ok || !usableIP(addr) {
		return netip.Addr{}, false
	}
	a := s.slot(&k)
	if a.k != k || now-a.at >= int64(AnswerWindow) || a.mixed || a.mac != p.EthSrc || a.port == port {
		return netip.Addr{}, false
	}
	return addr, true
}
