package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// MAC rotation (issue 8, item 4). A machine that takes a fresh MAC (and
// address: a macvlan) for each round of probes is a new actor each time,
// with a budget of its own: three macvlans on one access port, each running
// nmap -sS in turn, learned 4-6 ports each before the block engine's
// rotation rule (policy/engine_attr.go) blocked the port whole at the
// second MAC judged there. So the second MAC is judged at its first
// contact: a TCP first contact to a host that the last scanner decided at
// the same switch port probed, from a MAC other than that scanner's, first
// seen at that port no earlier than rotationNew before that verdict and
// within rotationWindow after it, decides port-scan. With the controller's
// port-wide hold after a verdict (controller/hold.go), that first SYN never
// reaches the victim, and the verdict of the second MAC at the port is what
// makes the engine block the port whole (an access port) or that MAC (a
// port shared by several long-lived stations).
//
// Why these conditions: a neighbour on a shared port (a LAN behind an
// unmanaged switch) that was there before the scanner's verdict, or that
// contacts another host, is judged on its own evidence, as before; only a
// station new at the port that goes on with the scanned host is taken for
// the scanner. The price: a new station at that port that contacts the
// scanned host within rotationWindow (a laptop plugged into the same
// downstream switch minutes after a scan, using the scanned server) is
// judged a scanner. Limits: TCP first contacts only (UDP, ICMP and other
// probes from a rotated MAC are judged on their own evidence); a MAC
// created more than rotationNew before the first verdict and kept quiet
// is not new; the table holds the last verdict per port (judgedSlots,
// direct-mapped).

const (
	judgedSlots    = 1024
	rotationWindow = 10 * time.Minute // policy.RotationWindow
	rotationNew    = time.Minute
	judgedTargets  = 4
)

// judgedPort is the last scanner decided at a port and the hosts it probed.
type judgedPort struct {
	dpid    uint64
	port    uint32
	mac     [6]byte
	at      time.Time
	targets [judgedTargets]netip.Addr
}

func judgedSlot(dpid uint64, port uint32) int {
	return int((dpid*0x9e3779b97f4a7c15 ^ uint64(port)*0xbf58476d1ce4e5b9) % judgedSlots)
}

// noteJudged records a verdict against src that named targets. A verdict
// at the same port within the window keeps the hosts the one before named.
func (d *Detector) noteJudged(now time.Time, src Source, targets []netip.Addr) {
	if len(targets) == 0 {
		return
	}
	e := &d.judged[judgedSlot(src.DPID, src.Port)]
	old := *e
	*e = judgedPort{dpid: src.DPID, port: src.Port, mac: src.MAC, at: now}
	n := 0
	for _, ip := range targets {
		if n < judgedTargets && !slices.Contains(e.targets[:n], ip) {
			e.targets[n] = ip
			n++
		}
	}
	if old.dpid == src.DPID && old.port == src.Port && now.Sub(old.at) <= rotationWindow {
		for _, ip := range old.targets {
			if ip.IsValid() && n < judgedTargets && !slices.Contains(e.targets[:n], ip) {
				e.targets[n] = ip
				n++
			}
		}
	}
}

// rotated decides actor a on its first contact to host:port when a is a
// new MAC at the port of a scanner of host (see above).
func (d *Detector) rotated(now time.Time, a *actor, host netip.Addr, port uint16) (Verdict, bool) {
	src := a.key.src
	e := &d.judged[judgedSlot(src.DPID, src.Port)]
	if e.at.IsZero() || e.dpid != src.DPID || e.port != src.Port || e.mac == src.MAC ||
		now.Sub(e.at) > rotationWindow || !slices.Contains(e.targets[:], host) {
		return Verdict{}, false
	}
	since := d.stationSince(src)
	if since.IsZero() || since.Before(e.at.Add(-rotationNew)) {
		return Verdict{}, false
	}
	d.addEvidence(a, evidence{at: now, kind: evRotation, cls: clsTCP, port: port, host: host})
	return d.decide(now, a, KindPortScan, fmt.Sprintf(
		"MAC rotation: first contact to %s from a MAC new at this port, %v after %s was judged scanning it here",
		host, now.Sub(e.at).Round(time.Millisecond), macString(e.mac)), 1)
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
