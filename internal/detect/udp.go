package detect

import (
	"fmt"
	"net/netip"
	"time"

	"portcullis/internal/packet"
)

// noisyUDP reports whether a UDP packet between these ports is a noisy
// service's own exchange (Config.NoisyPorts): both ports listed, and either
// the same port (NetBIOS, mDNS, LLMNR and SSDP peers) or DHCP's client and
// server pair. A scanner choosing a noisy source port (nmap -g 67) gains
// nothing for any other destination port.
func (d *Detector) noisyUDP(sport, dport uint16) bool {
	if !d.isNoisy(sport) || !d.isNoisy(dport) {
		return false
	}
	switch {
	case sport == dport:
		return true
	case sport > dport:
		sport, dport = dport, sport
	}
	return (sport == 67 && dport == 68) || (sport == 546 && dport == 547)
}

func (d *Detector) observeUDP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoUDP, cls: clsUDP, ap: p.DstPort, bp: p.SrcPort}
	if pe, ok := d.takePending(rev); ok {
		d.rememberConn(p)
		return d.outcome(now, pe, true, evSuccess)
	}
	if d.noisyUDP(p.SrcPort, p.DstPort) {
		return Verdict{}, false
	}
	if !unicastTarget(p, p.Dst) {
		return d.misdirected(now, src, p, clsUDP, p.DstPort)
	}
	if udpOSProbe(p) {
		return d.osProbe(now, src, p, shapeU1)
	}
	if p.DstPort >= traceroutePortMin && p.DstPort <= traceroutePortMax {
		// UDP traceroute: a new port per probe, and the destination answers
		// the ones that reach it with port unreachable by design.
		return Verdict{}, false
	}
	// Who started the exchange: a packet of a flow already seen (in either
	// direction) is not a probe. This keeps a server's second or late reply
	// (to a client that has since closed its port and answers with ICMP port
	// unreachable) from counting against the server.
	if d.knownConn(p) {
		return Verdict{}, false
	}
	d.rememberConn(p)
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsUDP, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoUDP, cls: clsUDP, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendSilent, cls: clsUDP, port: p.DstPort, host: p.Dst})
	return d.udpProbe(now, a, p.Dst)
}

// observeSCTP treats an SCTP INIT like a TCP SYN (nmap -sY): INIT-ACK is a
// success, ABORT or ICMP unreachable a failure, silence a failure at the
// timeout.
func (d *Detector) observeSCTP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if len(p.Payload) == 0 {
		return Verdict{}, false
	}
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoSCTP, cls: clsSCTP, ap: p.DstPort, bp: p.SrcPort}
	switch p.Payload[0] {
	case sctpInitAck:
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
	case sctpAbort:
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, false, evFail)
		}
	case sctpInit, sctpCookieEcho:
		if !unicastTarget(p, p.Dst) {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.Src)
		if !d.firstContact(a, p.Dst, clsSCTP, p.DstPort) {
			return Verdict{}, false
		}
		a.probes++
		d.stats.Probes++
		d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoSCTP, cls: clsSCTP, ap: p.SrcPort, bp: p.DstPort},
			pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsSCTP, port: p.DstPort, host: p.Dst})
	}
	return Verdict{}, false
}

// observeProto handles IP protocols other than TCP, UDP and ICMP: probes of
// nmap -sO, answered by ICMP protocol unreachable when closed.
func (d *Detector) observeProto(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	rev := flowKey{a: p.Dst, b: p.Src, proto: p.Proto, cls: clsProto}
	if pe, ok := d.takePending(rev); ok {
		return d.outcome(now, pe, true, evSuccess)
	}
	if !unicastTarget(p, p.Dst) {
		return d.misdirected(now, src, p, clsProto, uint16(p.Proto))
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsProto, uint16(p.Proto)) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: p.Proto, cls: clsProto},
		pending{act: a, gen: a.gen, kind: pendSilent, cls: clsProto, port: uint16(p.Proto), host: p.Dst})
	return Verdict{}, false
}

// unreachable turns an ICMP/ICMPv6 destination unreachable (or ICMPv6
// "unrecognized next header") into the failure of the attempt it quotes.
func (d *Detector) unreachable(now time.Time, p *packet.Packet) (Verdict, bool) {
	if !p.HasInner {
		return Verdict{}, false
	}
	in := &p.Inner
	k := flowKey{a: in.Src, b: in.Dst, proto: in.Proto}
	// The target itself refusing (port or protocol unreachable) is a
	// refusal; a router saying the target cannot be reached (host or net
	// unreachable, administratively prohibited) says no more than silence
	// would, and is judged like a timeout (see outcome).
	ek := evFail
	if p.Src != in.Dst {
		ek = evTimeout
	}
	switch in.Proto {
	case packet.ProtoTCP:
		k.cls, k.ap, k.bp = clsTCP, in.SrcPort, in.DstPort
	case packet.ProtoUDP:
		k.cls, k.ap, k.bp = clsUDP, in.SrcPort, in.DstPort
	case packet.ProtoSCTP:
		k.cls, k.ap, k.bp = clsSCTP, in.SrcPort, in.DstPort
	case packet.ProtoICMP, packet.ProtoICMPv6:
		// An echo, timestamp or mask request that could not be delivered.
		for _, c := range [...]uint8{clsEcho, clsTimestamp, clsMask} {
			k.cls = c
			if pe, ok := d.takePending(k); ok {
				return d.outcome(now, pe, false, ek)
			}
		}
		return Verdict{}, false
	default:
		k.cls = clsProto
	}
	if pe, ok := d.takePending(k); ok {
		return d.outcome(now, pe, false, ek)
	}
	return Verdict{}, false
}

// misdirected judges UDP (cls clsUDP, port its port) or another IP protocol
// (clsProto, port the protocol) sent to an Ethernet group address
// (broadcast or multicast MAC) with the unicast IP address of a host heard
// from. No stack sends one: it resolves a unicast address to its owner's
// MAC, and a broadcast (255.255.255.255, the subnet's) or multicast address
// is never a source. The switch floods it to every port, the owner accepts
// it and answers from its open ports (protocols), and Linux refuses nothing
// that did not come to its own MAC (no ICMP error for a frame not addressed
// to it), so the walk never sees a failure: the scanner maps the open
// services without being judged. (TCP and SCTP drop such frames; an echo
// request to a group MAC is dropped in the switch.) Config.RefusedPorts
// such first contacts decide udp-scan (ip-proto-scan).
func (d *Detector) misdirected(now time.Time, src Source, p *packet.Packet, cls uint8, port uint16) (Verdict, bool) {
	dst := p.Dst
	if !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast() || dst.IsLoopback() ||
		(dst.Is4() && dst == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return Verdict{}, false
	}
	if _, _, heard := d.heardAt(dst); !heard || d.knownConn(p) {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, dst, cls, port) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	a.misdirected++
	k, kind, what := flowKey{a: p.Src, b: dst, proto: p.Proto, cls: cls}, KindIPProtoScan, "IP protocol probes"
	if cls == clsUDP {
		d.rememberConn(p) // the owner's answer answers this, it is no probe of its own
		k.ap, k.bp, kind, what = p.SrcPort, p.DstPort, KindUDPScan, "UDP datagrams"
	}
	d.addPending(now, k, pending{act: a, gen: a.gen, kind: pendSilent, cls: cls, port: port, host: dst})
	d.addEvidence(a, evidence{at: now, kind: evMisdirected, cls: cls, port: port, host: dst})
	if a.misdirected < d.cfg.RefusedPorts {
		return Verdict{}, false
	}
	return d.decide(now, a, kind,
		fmt.Sprintf("%d %s to unicast addresses sent to a group MAC (no stack sends them)", a.misdirected, what),
		float64(a.misdirected)/float64(d.cfg.RefusedPorts))
}
