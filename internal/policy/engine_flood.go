package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// SYN floods: who is behind a flooding port. The switch counts each port's TCP SYNs
// (SYNCountFlows); the driver reads the counters about once a second and hands each switch's
// reading to SYNCounters with the time it was read. detect.Flood decides per port. A decided
// flood from a port with exactly one station behind it becomes a verdict against that station
// (Verdict: blocked like a scanner, escalated, attributed); a port with several stations gets a
// counter per station for StationCountFor (Ready.Flows), and the station whose own counter then
// shows the flood is the verdict's source. A station that sends for many addresses (a router
// forwarding for others, or a host spoofing random sources: its flood is held by the
// first-contact meter instead, as no bypass covers spoofed pairs), a never-block host, and a port
// with no station known are reported (an unattributed scan_detected), not blocked.
//
//	reading ──► port counter decided? ──► stations behind the port: 0 ──► reported
//	   │                                                            1 ──► floodFrom
//	   │                                                           2+ ──► station counters
//	   └──► station counter decided? ─────────────────────────────────────► floodFrom
//	floodFrom: never-block host, forwarder or router-shaped ──► reported; else a verdict

// StationCountFor is how long station counters stay (their hard timeout); MaxStationCounters
// bounds them per flooding port.
const (
	StationCountFor    = 30 * time.Second
	MaxStationCounters = 32
)

// Senders is what the detector knows of a source that the flood attribution asks: whether it
// forwards for other addresses, and the addresses it probed. Safe to call from the engine's
// goroutine (the detector has its own lock).
type Senders interface {
	Forwarder(src detect.Source) bool
	TargetsOf(src detect.Source) []netip.Addr
}

// FlowSend is flow-mods for one switch session outside the block lifecycle (SYN station
// counters): the driver sends them; a failure only counts (the counter is not needed to stay
// safe: the port's counter keeps reporting the flood).
type FlowSend struct {
	DPID, Epoch uint64
	Msgs        []ofp.Message
}

// stationRef is a station counter: which station behind which port it counts.
type stationRef struct {
	dpid  uint64
	port  uint32
	mac   [6]byte
	ips   []netip.Addr
	until time.Time // its flows' hard timeout
}

// floodState is the engine's SYN-flood memory.
type floodState struct {
	on       bool
	port     *detect.Flood                // per-port counters
	station  *detect.Flood                // per-station counters, keyed by counter id as the port
	stations map[uint32]stationRef        // station counters by id
	seq      uint32                       // the last station counter id
	read     map[uint64]map[uint32]uint64 // per switch, the ports of its last reading
}

func (e *Engine) floodInit(cfg detect.FloodConfig) {
	e.fl = floodState{on: cfg.SYNRate > 0, port: detect.NewFlood(cfg), station: detect.NewFlood(cfg),
		stations: map[uint32]stationRef{}, read: map[uint64]map[uint32]uint64{}}
}

// floodForget forgets a switch's counters: it (re)connected, and its counter flows start again
// from zero (the pipeline's set-up deletes every counter flow of ours, the stations' with them),
// or its session ended (nothing of a switch that is gone is kept).
func (e *Engine) floodForget(dpid uint64) {
	if e.fl.port == nil {
		return
	}
	e.fl.port.ForgetSwitch(dpid)
	e.fl.station.ForgetSwitch(dpid)
	delete(e.fl.read, dpid)
	for id, ref := range e.fl.stations {
		if ref.dpid == dpid {
			delete(e.fl.stations, id)
		}
	}
}

// SYNCounters hands the engine one switch's SYN counter reading (the reply to
// SYNCountersRequest), read at now. It returns the highest port SYN rate of the reading (for the
// driver's gauge). Decided floods become verdicts (reported in Ready.Verdicts), reports (events)
// or station counters to install (Ready.Flows). Readings during the start-up grace period, and of
// a switch session the engine does not hold (a follower holds none), are ignored.
func (e *Engine) SYNCounters(now time.Time, dpid, epoch uint64, stats []ofp.FlowStats) float64 {
	if !e.fl.on || e.follower || e.sw(dpid, epoch) == nil || now.Before(e.cfg.Started.Add(e.cfg.Grace)) {
		return 0
	}
	counts := make(map[uint32]uint64, len(stats)/2+1)
	SYNCounts(stats, counts)
	// A port whose counter flows are gone (the port went away, or a never-block host lives
	// behind it) starts afresh if they come back.
	for port := range e.fl.read[dpid] {
		if _, ok := counts[port]; !ok {
			e.fl.port.Forget(detect.PortKey{DPID: dpid, Port: port})
		}
	}
	e.fl.read[dpid] = counts

	type decision struct {
		port   uint32
		s      detect.FloodSample
		reason string
	}
	var decided []decision
	var top float64
	for _, port := range sortedPorts(counts) {
		k := detect.PortKey{DPID: dpid, Port: port}
		s := e.fl.port.Sample(now, k, counts[port])
		top = max(top, s.Rate)
		switch {
		case s.Decided:
			decided = append(decided, decision{port, s, e.fl.port.Reason(k, s, now)})
		case s.Ended:
			e.log("info", "SYN flood over", "dpid", fmtDPID(dpid), "port", port, "rate", int(s.Rate))
		}
	}

	// Station counters of ports shared by several stations.
	stations := map[uint32]uint64{}
	SYNStationCounts(stats, stations)
	type found struct {
		ref    stationRef
		s      detect.FloodSample
		reason string
	}
	var from []found
	for _, id := range sortedPorts(stations) {
		ref, ok := e.fl.stations[id]
		if !ok || ref.dpid != dpid {
			continue
		}
		k := detect.PortKey{DPID: dpid, Port: id}
		if s := e.fl.station.Sample(now, k, stations[id]); s.Decided {
			where := fmt.Sprintf("station %s behind switch port %d", macString(ref.mac), ref.port)
			from = append(from, found{ref, s, e.fl.station.ReasonFrom(k, s, now, where)})
		}
	}
	for id, ref := range e.fl.stations {
		if now.After(ref.until) {
			delete(e.fl.stations, id)
			e.fl.station.Forget(detect.PortKey{DPID: ref.dpid, Port: id})
		}
	}
	for _, d := range decided {
		e.onFlood(now, dpid, epoch, d.port, d.s, d.reason)
	}
	for _, d := range from {
		e.floodFrom(now, dpid, d.ref.port, d.ref.mac, d.ref.ips, d.s, d.reason)
	}
	return top
}

// sortedPorts returns m's keys in order: decisions in a deterministic order.
func sortedPorts(m map[uint32]uint64) []uint32 { return slices.Sorted(maps.Keys(m)) }

// onFlood attributes a decided flood to the one station behind the port. A port with several
// stations behind it (a downstream switch, an edge network's LAN port) gets a counter per station
// (refine), and a station whose own counter then shows the flood is the source. A port with no
// station learned is reported.
func (e *Engine) onFlood(now time.Time, dpid, epoch uint64, port uint32, s detect.FloodSample, reason string) {
	var behind []forward.Host
	for _, h := range e.view().Hosts(dpid) {
		if h.Port == port {
			behind = append(behind, h)
		}
	}
	switch len(behind) {
	case 0:
		e.floodReport(dpid, port, s, reason, "no station learned behind the port: not attributed, not blocked")
	case 1:
		e.floodFrom(now, dpid, port, behind[0].MAC, behind[0].IPs, s, reason)
	default:
		n := e.refine(now, dpid, epoch, port, behind)
		e.floodReport(dpid, port, s, reason, fmt.Sprintf(
			"%d stations behind the port: counting the SYNs of %d of them separately for %v to find the sender",
			len(behind), n, StationCountFor))
	}
}

// refine asks for station counters for the stations behind port (in the order the station view
// lists them, at most MaxStationCounters) that have none yet, and returns how many stations are
// being counted.
func (e *Engine) refine(now time.Time, dpid, epoch uint64, port uint32, behind []forward.Host) int {
	var msgs []ofp.Message
	n := 0
	for _, h := range behind {
		if n == MaxStationCounters {
			break
		}
		n++
		counted := false
		for _, ref := range e.fl.stations {
			if ref.dpid == dpid && ref.port == port && ref.mac == h.MAC && now.Before(ref.until) {
				counted = true
				break
			}
		}
		if counted {
			continue
		}
		e.fl.seq++
		id := e.fl.seq
		e.fl.stations[id] = stationRef{dpid: dpid, port: port, mac: h.MAC, ips: h.IPs, until: now.Add(StationCountFor)}
		msgs = append(msgs, SYNCountStationFlows(port, h.MAC, id, uint16(StationCountFor/time.Second))...)
	}
	if len(msgs) > 0 {
		e.rd.Flows = append(e.rd.Flows, FlowSend{DPID: dpid, Epoch: epoch, Msgs: msgs})
	}
	return n
}

// floodReport publishes a flood that blocks no one.
func (e *Engine) floodReport(dpid uint64, port uint32, s detect.FloodSample, reason, why string) {
	e.log("warn", "SYN flood", "dpid", fmtDPID(dpid), "port", port, "rate", int(s.Rate), "note", why)
	e.publish(event.Event{Type: event.ScanDetected, DPID: dpid, Port: port, Kind: string(detect.KindSYNFlood),
		Reason: "unattributed", Message: fmt.Sprintf("%s on %s (%s)", reason, fmtDPID(dpid), why)})
}

// floodFrom makes a verdict against the station mac behind port, unless it is a never-block host
// or sends for many addresses.
func (e *Engine) floodFrom(now time.Time, dpid uint64, port uint32, mac [6]byte, ips []netip.Addr,
	s detect.FloodSample, reason string) {
	src := detect.Source{DPID: dpid, Port: port, MAC: mac}
	if ip, ok := MACProtected(e.view(), e.set.Never, Source{DPID: dpid, Port: port, MAC: mac}); ok {
		e.floodReport(dpid, port, s, reason, "the sending station is never-block host "+ip.String()+": not blocked")
		return
	}
	var forwarder bool
	var targets []netip.Addr
	if d := e.cfg.Senders; d != nil {
		forwarder = d.Forwarder(src)
		targets = d.TargetsOf(src)
	}
	if forwarder || RouterShaped(ips) {
		e.floodReport(dpid, port, s, reason, "the sending station sends for many addresses (a router, or spoofed sources): not blocked")
		return
	}
	v := detect.Verdict{
		Source:   src,
		IPs:      ips,
		Kind:     detect.KindSYNFlood,
		Reason:   reason,
		Evidence: []string{reason},
		Targets:  targets,
		Probes:   int(s.Rate * now.Sub(s.Since).Seconds()),
		First:    s.Since,
		At:       now,
		Score:    1,
	}
	e.rd.Verdicts = append(e.rd.Verdicts, v)
	e.Verdict(now, v)
}

// RouterShaped reports whether a station's addresses look like a router's (or a spoofer's): a
// third IPv4 address, or a third IPv6 address outside link-local. A host has one IPv4 address
// (two across a DHCP change).
func RouterShaped(ips []netip.Addr) bool {
	var v4, v6 int
	for _, ip := range ips {
		switch {
		case ip.Is4():
			v4++
		case !ip.IsLinkLocalUnicast():
			v6++
		}
	}
	return v4 > 2 || v6 > 2
}
