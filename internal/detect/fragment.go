package detect

import (
	"fmt"
	"net/netip"
	"time"

	"portcullis/internal/packet"
)

// IP fragments as evasion evidence (RFC 1858, "Security Considerations for
// IP Fragment Filtering"). Two shapes have no use but to slip a probe past
// a filter that judges packets by their transport header, and a single one
// decides, as impossible TCP flags do:
//
//   - a tiny fragment (section 3.1): a first fragment too short to hold its
//     whole transport header, so the TCP flags (or the UDP/SCTP ports) come
//     in a later fragment. nmap -f, -ff and --mtu 8/16 send these. No stack
//     fragments that way: the minimum IPv4 MTU (68) leaves 48 bytes after
//     the largest header, and RFC 7112 forbids it for IPv6;
//   - overlapping fragments (section 4): a later fragment that rewrites
//     bytes an earlier one of the same datagram already carried (the
//     transport header, typically). Retransmitted identical fragments are
//     not overlaps.
//
// The switch drops tiny TCP first fragments (Open vSwitch sees their flags
// as zero: the watch table's drop rule for flag mixes without SYN, ACK and
// RST), so the datagram never reassembles at the target. Whole-header first
// fragments go through the same rules as whole datagrams and later
// fragments are copied apart (watch class "fragment"). The overlap table is
// direct-mapped and fixed in size: a flood of fragments overwrites slots,
// it never grows memory.

const (
	fragSlots  = 1024
	fragRanges = 4                // ranges kept per datagram
	fragWindow = 30 * time.Second // IPv4 reassembly time (RFC 791 suggests 15 s; Linux uses 30 s)
)

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

type fragEntry struct {
	key    fragKey
	at     time.Time
	n      int
	ranges [fragRanges][2]uint32 // [lo, hi) in bytes
}

func fragSlot(k fragKey) int {
	h := uint64(k.id)*0x9e3779b97f4a7c15 ^ uint64(k.proto)
	for _, b := range k.src.As16() {
		h = (h ^ uint64(b)) * 1099511628211
	}
	for _, b := range k.dst.As16() {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return int(h % fragSlots)
}

// overlaps records the fragment [lo, hi) of datagram k and reports whether
// it overlaps a different fragment of it seen within fragWindow.
func (d *Detector) overlaps(now time.Time, k fragKey, lo, hi uint32) bool {
	e := &d.frags[fragSlot(k)]
	if e.key != k || now.Sub(e.at) > fragWindow {
		*e = fragEntry{key: k}
	}
	e.at = now
	for _, r := range e.ranges[:e.n] {
		if r == [2]uint32{lo, hi} {
			return false // the same fragment again
		}
		if lo < r[1] && r[0] < hi {
			return true
		}
	}
	if e.n < fragRanges {
		e.ranges[e.n] = [2]uint32{lo, hi}
		e.n++
	}
	return false
}

// observeFragment judges a fragment (p.Fragment or p.FirstFragment). It
// returns a verdict for a tiny or overlapping fragment; whole-header first
// fragments then continue as whole datagrams do.
func (d *Detector) observeFragment(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	k := fragKey{src: p.Src, dst: p.Dst, id: p.FragID, proto: p.Proto}
	overlap := d.overlaps(now, k, uint32(p.FragOffset), uint32(p.FragOffset)+uint32(p.FragLen))
	if !p.TinyFragment && !overlap {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	a.probes++
	d.stats.Probes++
	what := fmt.Sprintf("a %d-byte first fragment of IP protocol %d, too short for its header (RFC 1858 tiny fragment)", p.FragLen, p.Proto)
	ev := evTiny
	if !p.TinyFragment {
		what = fmt.Sprintf("IP protocol %d fragments overlapping at offset %d (RFC 1858 overlapping fragments)", p.Proto, p.FragOffset)
		ev = evOverlap
	}
	d.addEvidence(a, evidence{at: now, kind: ev, port: p.FragOffset, flags: p.FragLen, host: p.Dst})
	return d.decide(now, a, KindStealthScan, fmt.Sprintf("%s from %s to %s: fragmented to evade filtering", what, p.Src, p.Dst), 1)
}
