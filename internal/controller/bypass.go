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
	seen map[udpKey]time.Time
}

func (c *Controller) udpBypass(sw *switchState, now time.Time, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Dst.IsMulticast() || isBroadcast(p.Dst) {
		return
	}
	if sw.udp.seen == nil {
		sw.udp.seen = make(map[udpKey]time.Time, 256)
	}
	rev := udpKey{src: p.Dst, dst: p.Src, sport: p.DstPort, dport: p.SrcPort}
	if t, ok := sw.udp.seen[rev]; ok && now.Sub(t) < udpPairWindow {
		delete(sw.udp.seen, rev)
		// p answers rev: rev.src is the client, rev.dst:rev.dport the service.
		fwd := policy.Pair{Src: rev.src, Dst: rev.dst, Proto: 17, DstPort: rev.dport}
		back := policy.Pair{Src: rev.dst, Dst: rev.src, Proto: 17, SrcPort: rev.dport}
		for _, pr := range [2]policy.Pair{fwd, back} {
			if fm, err := policy.BypassFlow(pr, bypassIdleSecs); err == nil {
				sw.out = append(sw.out, ofp.Message(fm))
			}
		}
		c.send(sw)
		return
	}
	if len(sw.udp.seen) >= udpPairsMax {
		clear(sw.udp.seen)
	}
	sw.udp.seen[udpKey{src: p.Src, dst: p.Dst, sport: p.SrcPort, dport: p.DstPort}] = now
}

// tcpBypass stops copying a TCP conversation once the server accepted it: a
// SYN-ACK from server:port to client installs a bypass for client->server:port
// and its reverse. Later SYNs to that service, its FINs and the RSTs of its
// close stay in the switch. Other ports of the server stay watched.
func (c *Controller) tcpBypass(sw *switchState, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return
	}
	fwd := policy.Pair{Src: p.Dst, Dst: p.Src, Proto: 6, DstPort: p.SrcPort}
	back := fwd.Reverse()
	for _, pr := range [2]policy.Pair{fwd, back} {
		if fm, err := policy.BypassFlow(pr, bypassIdleSecs); err == nil {
			sw.out = append(sw.out, ofp.Message(fm))
		}
	}
	c.send(sw)
}

// ackBypass stops copying an established TCP conversation whose handshake the
// controller did not see (it started before the controller, or its bypass
// expired while idle): pure ACKs are copied because ACK and window scans look
// like them, but a conversation with pure ACKs in both directions is a real
// one (a scanned port answers an ACK probe with RST, never ACK). Both
// directions get a 5-tuple bypass.
func (c *Controller) ackBypass(sw *switchState, now time.Time, p *packet.Packet) {
	if !p.Src.IsValid() || !p.Dst.IsValid() {
		return
	}
	if sw.acks.seen == nil {
		sw.acks.seen = make(map[udpKey]time.Time, 256)
	}
	rev := udpKey{src: p.Dst, dst: p.Src, sport: p.DstPort, dport: p.SrcPort}
	if t, ok := sw.acks.seen[rev]; ok && now.Sub(t) < udpPairWindow {
		delete(sw.acks.seen, rev)
		fwd := policy.Pair{Src: p.Src, Dst: p.Dst, Proto: 6, SrcPort: p.SrcPort, DstPort: p.DstPort}
		for _, pr := range [2]policy.Pair{fwd, fwd.Reverse()} {
			if fm, err := policy.BypassFlow(pr, bypassIdleSecs); err == nil {
				sw.out = append(sw.out, ofp.Message(fm))
			}
		}
		c.send(sw)
		return
	}
	if len(sw.acks.seen) >= udpPairsMax {
		clear(sw.acks.seen)
	}
	sw.acks.seen[udpKey{src: p.Src, dst: p.Dst, sport: p.SrcPort, dport: p.DstPort}] = now
}

func isBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[3] == 255 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
