package detect

import (
	"net/netip"
	"time"
)

// Suspicion: what the switch should do with a Source's next SYNs before any
// verdict. A verdict needs 6 distinct ports of one host (fanout.go) or 3
// raw SYNs, and a scanner's SYNs pass the first-contact budget while that
// verdict and its drop flow are on their way: the ports they reach are
// learned. The controller therefore holds a suspect's SYNs in the switch
// (policy.HoldFlows: to the controller only, no forwarding) and releases each
// one itself unless its verdict came, so the SYNs sent after the suspicion
// reach the victim only once judged (docs/pipeline.md "Hold").

// Suspicion is how close an actor is to a verdict.
type Suspicion uint8

// Suspicion levels.
const (
	SuspicionNone    Suspicion = iota // nothing against it
	SuspicionHold                     // evidence short of a verdict: hold its SYNs
	SuspicionDecided                  // decided: drop what is held
)

var suspicionNames = [...]string{"none", "hold", "decided"}

// String returns the level's name ("hold").
func (s Suspicion) String() string {
	if int(s) < len(suspicionNames) {
		return suspicionNames[s]
	}
	return "unknown"
}

// DefaultHoldPorts is Config.HoldPorts' default.
const DefaultHoldPorts = 2

// Suspicion reports how close the actor of src using address ip is to a
// verdict, without creating or touching it:
//
//   - SuspicionDecided once it was decided;
//   - SuspicionHold after first contacts to Config.HoldPorts (2) distinct TCP
//     ports of one host within the fan-out window (1 once one of them was
//     refused or unanswered: the fan-out rule then decides at 4), or after
//     one SYN no stack sends (without TCP options, or nmap's raw-SYN shape);
//   - SuspicionNone otherwise.
//
// A client of a few services of one host has its SYNs held only from its
// third port on (the hold lands while the second connects), and only for
// the seconds its hold lives: held SYNs are released by the controller,
// they are not dropped. Why 2 and not 3: the hold reaches the datapath
// 2-10 ms after the SYN that called for it, and a scan that connects to one
// port after the other (bash /dev/tcp) gets one more port through in that
// time with 3 (measured: 7 learned instead of 5 on a loaded machine).
func (d *Detector) Suspicion(now time.Time, src Source, ip netip.Addr) Suspicion {
	a, ok := d.actors[actorKey{src: src, ip: ip}]
	if !ok {
		if a, ok = d.actors[actorKey{src: src}]; !ok {
			return SuspicionNone
		}
	}
	if a.decided {
		return SuspicionDecided
	}
	if a.bareCount > 0 || a.sigCount > 0 {
		return SuspicionHold
	}
	k := int32(d.cfg.HoldPorts)
	if k <= 0 {
		return SuspicionNone
	}
	for i := range a.fan {
		e := &a.fan[i]
		if !e.host.IsValid() || now.Sub(e.at) > fanoutWindow {
			continue
		}
		if e.ports >= k || e.failed > 0 && e.ports >= max(k-1, 1) {
			return SuspicionHold
		}
	}
	return SuspicionNone
}
