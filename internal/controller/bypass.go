package controller

import (
	"net/netip"
	"time"

	"portcullis/internal/packet"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// A UDP exchange is judged benign when the destination answers from the port
// that was addressed: then both directions get a bypass flow in the watch
// table and stop being copied to the controller (docs/pipeline.md). A UDP
// scan gets no bypass for the ports that answer ICMP unreachable, and a bypass
// names the service port, so the scanner's other probes stay watched.
//
// Only an answer that entered where its sender lives opens a bypass (the
// caller checks forward.Switch.Attribute), and each direction's flow names
// the switch port its sender lives behind (in_port): a forged answer from
// another port opens nothing, and a bypass never covers packets with the
// same addresses entering anywhere else.

const (
	udpPairsMax    = 4096
	udpPairWindow  = 30 * time.Second
	bypassIdleSecs = 60
)

type udpKey struct {
	src, dst     netip.Addr
	sport, dport uint16
}

// udpPairs remembers recent UDP first packets of one switch. Bounded: when
// full it starts over (losing only bypass opportunities, never correctness).
type udpPairs struct {
	seen map[udpKey]pairNote
}

// pairNote is when a packet was seen and, for echo requests, the port of
// the station it was sent to (0: a MAC not learned).
type pairNote struct {
	at   time.Time
	port uint32
}

// answers reports whether p answers a packet recorded in m within the
// window (and forgets that one); otherwise it records p.
func (m *udpPairs) answers(now time.Time, p *packet.Packet) bool {
	if m.seen == nil {
		m.seen = make(map[udpKey]pairNote, 256)
	}
	rev := udpKey{src: p.Dst, dst: p.Src, sport: p.DstPort, dport: p.SrcPort}
	if n, ok := m.seen[rev]; ok && now.Sub(n.at) < udpPairWindow {
		delete(m.seen, rev)
		return true
	}
	if len(m.seen) >= udpPairsMax {
		clear(m.seen)
	}
	m.seen[udpKey{src: p.Src, dst: p.Dst, sport: p.SrcPort, dport: p.DstPort}] = pairNote{at: now}
	return false
}

// bypass sends the bypass flows of pr and its reverse. Must hold sw.mu.
func (c *Controller) bypass(sw *switchState, pr policy.Pair) {
	for _, x := range [2]policy.Pair{pr, pr.Reverse()} {
		if fm, err := policy.BypassFlow(x, bypassIdleSecs); err == nil {
			sw.out = append(sw.out, ofp.Message(fm))
		}
	}
	c.send(sw)
}

// peerPort returns the port behind which the other side of p (its
// destination) lives on this switch. Must hold sw.mu.
func peerPort(sw *switchState, p *packet.Packet) (uint32, bool) {
	port, _, ok := sw.fwd.IPLivesAt(p.Dst)
	return port, ok
}

func (c *Controller) udpBypass(sw *switchState, now time.Time, inPort uint32, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Dst.IsMulticast() || isBroadcast(p.Dst) {
		return
	}
	if sw.udp.answers(now, p) {
		// p answers the client p.Dst from the service p.Src:p.SrcPort.
		if cport, ok := peerPort(sw, p); ok {
			c.bypass(sw, policy.Pair{Src: p.Dst, Dst: p.Src, Proto: 17, DstPort: p.SrcPort, InPort: cport, DstInPort: inPort})
		}
	}
}

// tcpBypass stops copying a TCP conversation once the server accepted it: a
// SYN-ACK from server:port to client installs a bypass for client->server:port
// and its reverse. Later SYNs to that service, its FINs and the RSTs of its
// close stay in the switch. Other ports of the server stay watched.
func (c *Controller) tcpBypass(sw *switchState, inPort uint32, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return
	}
	if cport, ok := peerPort(sw, p); ok {
		c.bypass(sw, policy.Pair{Src: p.Dst, Dst: p.Src, Proto: 6, DstPort: p.SrcPort, InPort: cport, DstInPort: inPort})
	}
}

// ackBypass stops copying an established TCP conversation whose handshake the
// controller did not see (it started before the controller, or its bypass
// expired while idle): pure ACKs are copied because ACK and window scans look
// like them, but a conversation with pure ACKs in both directions is a real
// one (a scanned port answers an ACK probe with RST, never ACK). Both
// directions get a 5-tuple bypass.
func (c *Controller) ackBypass(sw *switchState, now time.Time, inPort uint32, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return
	}
	if sw.acks.answers(now, p) {
		if dport, ok := peerPort(sw, p); ok {
			c.bypass(sw, policy.Pair{Src: p.Src, Dst: p.Dst, Proto: 6, SrcPort: p.SrcPort, DstPort: p.DstPort, InPort: inPort, DstInPort: dport})
		}
	}
}

// echoBypass stops copying (and budgeting) the pings between two hosts once
// one was answered: an echo reply from where the pinged host lives, to a
// request this switch saw from where the pinger lives within the window,
// installs a bypass for the requests (pinger to pinged) and the replies.
// Only first pings meet the switch's per-port ICMP budget, so it can be
// small enough that a ping sweep learns little before its unanswered
// requests time out (docs/pipeline.md). Other ICMP, errors above all, stays
// watched.
//
// The reply must enter at the port of the station the request was sent to
// (when its MAC is learned): a request to h2's MAC reaches h2's port only,
// so a "reply" from another port is forged, even from an address nobody
// held before, which the forger's first packet with it made its own
// (detect/station.go says the same for the detector).
func (c *Controller) echoBypass(sw *switchState, now time.Time, inPort uint32, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Dst.IsMulticast() || isBroadcast(p.Dst) {
		return
	}
	v6 := p.Proto == 58
	switch {
	case !v6 && p.ICMPType == packet.ICMPEcho, v6 && p.ICMPType == packet.ICMPv6EchoRequest:
		var to uint32
		if dst := p.EthDst; dst[0]&1 == 0 {
			to, _ = sw.fwd.PortOf(dst)
		}
		sw.echoes.note(now, udpKey{src: p.Src, dst: p.Dst, sport: p.ICMPID}, to)
	case !v6 && p.ICMPType == packet.ICMPEchoReply, v6 && p.ICMPType == packet.ICMPv6EchoReply:
		if !sw.echoes.take(now, udpKey{src: p.Dst, dst: p.Src, sport: p.ICMPID}, inPort) {
			return
		}
		if cport, ok := peerPort(sw, p); ok {
			c.bypass(sw, policy.EchoPair(p.Dst, p.Src, cport, inPort))
		}
	}
}

// note records k at now with port (starting over when full, like answers).
func (m *udpPairs) note(now time.Time, k udpKey, port uint32) {
	if m.seen == nil {
		m.seen = make(map[udpKey]pairNote, 64)
	}
	if len(m.seen) >= udpPairsMax {
		clear(m.seen)
	}
	m.seen[k] = pairNote{at: now, port: port}
}

// take reports whether k was noted within the window with port (or no
// port), and forgets it then. A packet from another port leaves the note
// for the real answer.
func (m *udpPairs) take(now time.Time, k udpKey, port uint32) bool {
	n, ok := m.seen[k]
	if !ok || n.port != 0 && n.port != port {
		return false
	}
	delete(m.seen, k)
	return now.Sub(n.at) < udpPairWindow
}

func isBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[3] == 255 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
