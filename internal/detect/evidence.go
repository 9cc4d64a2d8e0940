package detect

import (
	"fmt"
	"net/netip"
	"slices"
)

// Evidence.

func (d *Detector) addEvidence(a *actor, e evidence) {
	if a.nEv < evidenceLen {
		a.ev[a.nEv] = e
		a.nEv++
		return
	}
	copy(a.ev[:], a.ev[1:])
	a.ev[evidenceLen-1] = e
}

// maxTargets bounds Verdict.Targets.
const maxTargets = 8

// evidenceTargets lists the distinct hosts in a's evidence.
func evidenceTargets(a *actor) []netip.Addr {
	var out []netip.Addr
	add := func(ip netip.Addr) {
		if ip.IsValid() && len(out) < maxTargets && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	for _, e := range a.ev[:a.nEv] {
		add(e.host)
	}
	add(a.sigHost)
	return out
}

func (d *Detector) evidenceLines(a *actor) []string {
	out := make([]string, 0, a.nEv)
	for _, e := range a.ev[:a.nEv] {
		t := e.at.Sub(a.first).Seconds()
		var s string
		switch e.kind {
		case evFail:
			s = fmt.Sprintf("+%.3fs %s refused (RST or ICMP unreachable)", t, target(e))
		case evTimeout, evSilence:
			s = fmt.Sprintf("+%.3fs %s unanswered", t, target(e))
		case evSuccess: // only anonymous lookups keep answers as evidence (discover.go)
			s = fmt.Sprintf("+%.3fs %s answered", t, target(e))
		case evStray:
			s = fmt.Sprintf("+%.3fs stray ACK segment to %s:%d on no known connection, answered by RST", t, e.host, e.port)
		case evImpossible:
			s = fmt.Sprintf("+%.3fs TCP %s to %s:%d", t, flagString(e.flags), e.host, e.port)
		case evSig:
			s = fmt.Sprintf("+%.3fs nmap raw SYN (window %d, MSS only) to %s:%d", t, e.flags, e.host, e.port)
		case evOS:
			s = fmt.Sprintf("+%.3fs nmap OS probe %s to %s", t, shapeNames[e.flags], e.host)
		case evTiny:
			s = fmt.Sprintf("+%.3fs tiny first fragment (%d bytes) to %s", t, e.flags, e.host)
		case evOverlap:
			s = fmt.Sprintf("+%.3fs fragment overlapping an earlier one at offset %d to %s", t, e.port, e.host)
		case evBare:
			s = fmt.Sprintf("+%.3fs SYN without TCP options (window %d) to %s:%d", t, e.flags, e.host, e.port)
		case evFanout:
			s = fmt.Sprintf("+%.3fs first contact to %s:%d, its %dth port within %v", t, e.host, e.port, e.flags, fanoutWindow)
		case evBudget:
			s = fmt.Sprintf("+%.3fs %d probes dropped by its port's budget", t, e.flags)
		case evRotation:
			s = fmt.Sprintf("+%.3fs first contact to %s:%d from a new MAC at the port of a scanner of %s", t, e.host, e.port, e.host)
		case evMisdirected:
			s = fmt.Sprintf("+%.3fs %s sent to a group MAC", t, target(e))
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

func target(e evidence) string {
	switch e.cls {
	case clsTCP:
		return fmt.Sprintf("TCP %s", netip.AddrPortFrom(e.host, e.port))
	case clsUDP:
		return fmt.Sprintf("UDP %s", netip.AddrPortFrom(e.host, e.port))
	case clsSCTP:
		return fmt.Sprintf("SCTP %s", netip.AddrPortFrom(e.host, e.port))
	case clsProto:
		return fmt.Sprintf("IP protocol %d to %s", e.port, e.host)
	}
	return fmt.Sprintf("%s to %s", clsNoun(e.cls), e.host)
}

func walkKind(k walkKey) Kind {
	switch k.cls {
	case clsTCP, clsSCTP:
		if k.dim == dimHost {
			return KindPortScan
		}
		return KindHostSweep
	case clsUDP:
		return KindUDPScan
	case clsProto:
		return KindIPProtoScan
	case clsEcho, clsTimestamp, clsMask:
		return KindPingSweep
	case clsARP:
		return KindARPSweep
	case clsND:
		return KindNDSweep
	}
	return KindPortScan
}

func clsNoun(c uint8) string {
	switch c {
	case clsTCP:
		return "TCP port"
	case clsUDP:
		return "UDP port"
	case clsSCTP:
		return "SCTP port"
	case clsProto:
		return "IP protocol"
	case clsEcho:
		return "echo request"
	case clsTimestamp:
		return "timestamp request"
	case clsMask:
		return "address mask request"
	case clsARP:
		return "ARP who-has"
	case clsND:
		return "neighbour solicitation"
	}
	return "probe"
}

func svcName(c uint8, port uint16) string {
	switch c {
	case clsTCP:
		return fmt.Sprintf("TCP port %d", port)
	case clsUDP:
		return fmt.Sprintf("UDP port %d", port)
	case clsSCTP:
		return fmt.Sprintf("SCTP port %d", port)
	}
	return clsNoun(c)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 failed " + noun
	}
	return fmt.Sprintf("%d failed %ss", n, noun)
}

func flagString(f uint16) string {
	if f&0x1ff == 0 {
		return "NULL"
	}
	names := [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	return s
}

func popcount(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}
