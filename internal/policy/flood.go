package policy

import (
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// SYN counters. Every TCP SYN (without ACK) entering a switch port, whether
// a bypass flow covers its conversation or not, passes a per-port counter
// flow in TableAdmission that does nothing but count and continue to
// TableWatch, exactly like the table's miss. The controller reads the
// counters every second (SYNCountersRequest) and detect.Flood turns them
// into flood decisions. Counting in the switch costs the controller nothing
// per packet, and sees what the watch meters and bypass flows hide: the
// whole flood, not the copies a meter let through.

const (
	// PrioritySYNCount sits below the block flows (a blocked station's SYNs
	// are dropped and no longer counted) and above the table miss.
	PrioritySYNCount uint16 = 100

	// PrioritySYNCountStation is a station's own counter on a port shared by
	// several stations: above the port's, so the station's SYNs count there.
	PrioritySYNCountStation uint16 = PrioritySYNCount + 1

	cookieSYNCount        = 0x200 // cookie value marker (count kind), OR the port
	cookieSYNCountStation = 1 << 39
)

// SYNCountReset deletes every counter flow of ours (sent on connect, before
// the ports' counters are added).
func SYNCountReset() *ofp.FlowMod { return forward.DeleteKind(forward.KindCount) }

// SYNCountCookie is the cookie of port's SYN counter flows.
func SYNCountCookie(port uint32) uint64 {
	return forward.Cookie(forward.KindCount, cookieSYNCount<<16|uint64(port))
}

// SYNCountPort returns the port a SYN counter cookie counts; ok is false for
// any other cookie.
func SYNCountPort(cookie uint64) (port uint32, ok bool) {
	if k, ours := forward.CookieKind(cookie); !ours || k != forward.KindCount {
		return 0, false
	}
	v := forward.CookieValue(cookie)
	if v>>16 != cookieSYNCount {
		return 0, false
	}
	return uint32(v & 0xffff), true
}

// SYNCountFlows returns the counter flows (IPv4 and IPv6) of port. Nil for
// reserved ports and numbers above MaxFirstContactPort.
func SYNCountFlows(port uint32) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	return portSYNFlows(port, forward.TableAdmission, PrioritySYNCount, SYNCountCookie(port), forward.Goto(forward.TableWatch))
}

// SYNCountDelete removes a port's counter flows.
func SYNCountDelete(port uint32) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	return []ofp.Message{&ofp.FlowMod{Cookie: SYNCountCookie(port), CookieMask: forward.CookieExactMask,
		TableID: forward.TableAdmission, Command: ofp.FlowDelete, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny,
		OutGroup: ofp.GroupAny}}
}

// SYNCountersRequest asks for the statistics of every SYN counter flow, the
// ports' and the stations'.
func SYNCountersRequest() *ofp.MultipartRequest {
	return flowsOfKind(forward.TableAdmission, forward.KindCount)
}

// Station counters. A port with several stations behind it (a downstream
// switch, the LAN port of an edge network) cannot tell which one floods.
// When it does, the controller adds a counter per station for a while
// (SYNCountStationFlows, with a hard timeout), each under an id of its
// choosing, and reads them with the ports'.

// SYNCountStationCookie is the cookie of the station counter with id.
func SYNCountStationCookie(id uint32) uint64 {
	return forward.Cookie(forward.KindCount, cookieSYNCountStation|uint64(id))
}

// SYNCountStation returns the id of a station counter cookie; ok is false
// for any other cookie.
func SYNCountStation(cookie uint64) (id uint32, ok bool) {
	if k, ours := forward.CookieKind(cookie); !ours || k != forward.KindCount {
		return 0, false
	}
	v := forward.CookieValue(cookie)
	if v&cookieSYNCountStation == 0 || v>>32 != cookieSYNCountStation>>32 {
		return 0, false
	}
	return uint32(v), true
}

// SYNCountStationFlows returns the counter flows (IPv4 and IPv6) of the
// station mac behind port, under id; they expire after hardTimeout seconds.
func SYNCountStationFlows(port uint32, mac [6]byte, id uint32, hardTimeout uint16) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	msgs := portSYNFlows(port, forward.TableAdmission, PrioritySYNCountStation, SYNCountStationCookie(id),
		forward.Goto(forward.TableWatch))
	for _, m := range msgs {
		fm := m.(*ofp.FlowMod)
		fm.HardTimeout = hardTimeout
		fm.Match.Fields = append(fm.Match.Fields, ofp.MatchEthSrc(mac[:]))
	}
	return msgs
}

// SYNStationCounts sums a flow-stats reply's station counter packets per id.
func SYNStationCounts(stats []ofp.FlowStats, counts map[uint32]uint64) {
	for i := range stats {
		if id, ok := SYNCountStation(stats[i].Cookie); ok {
			counts[id] += stats[i].PacketCount
		}
	}
}

// SYNCounts sums a flow-stats reply's SYN counter packets per port (the IPv4
// and IPv6 flows of a port together), appending to counts. Flows that are not
// SYN counters are ignored.
func SYNCounts(stats []ofp.FlowStats, counts map[uint32]uint64) {
	for i := range stats {
		if port, ok := SYNCountPort(stats[i].Cookie); ok {
			counts[port] += stats[i].PacketCount
		}
	}
}
