package detect

import (
	"fmt"
	"net/netip"
	"time"
)

// Fan-out: many ports of one host within seconds.
//
// The walk lets every answered first contact buy a scanner one more
// failure (a success multiplies the ratio by 1/4), so a connect scan that
// tries the ports it expects open first (22, 80, 443, ...) learns those and
// 6-9 closed ones before the walk decides. A client reaches the few ports of
// the services it uses; a browser opens several connections, but to one or
// two ports (80, 443), and a monitoring poller checks a handful of services
// per host, the same ones every round (a port tried before is no first
// contact). So first contacts to Config.FanoutPorts (6) distinct TCP ports
// of one host within fanoutWindow decide port-scan whatever their outcomes,
// and two fewer (4) decide once one of them was refused (RST) or went
// unanswered by a live host. A poller checking five services of a host at
// once, all up, is not decided; one checking four, one of them down, is.

const (
	fanSlots     = 4
	fanoutWindow = 10 * time.Second
)

// fanEntry counts an actor's first contacts to one host's TCP ports since at.
type fanEntry struct {
	host   netip.Addr
	at     time.Time
	ports  int32 // distinct ports (first contacts) since at
	failed int32 // of which refused or unanswered
}

// fanout records a first contact to host (failure false), or the failure of
// one (failure true), and decides when the host's ports add up.
func (d *Detector) fanout(now time.Time, a *actor, host netip.Addr, port uint16, failure bool) (Verdict, bool) {
	if d.cfg.FanoutPorts <= 0 {
		return Verdict{}, false
	}
	var e *fanEntry
	for i := range a.fan {
		if a.fan[i].host == host {
			e = &a.fan[i]
			break
		}
	}
	if e != nil && now.Sub(e.at) > fanoutWindow {
		*e = fanEntry{host: host, at: now}
	}
	if e == nil {
		if failure {
			return Verdict{}, false // its first contact is no longer counted
		}
		e = &a.fan[0]
		for i := 1; i < len(a.fan); i++ {
			if a.fan[i].at.Before(e.at) {
				e = &a.fan[i]
			}
		}
		*e = fanEntry{host: host, at: now}
	}
	if failure {
		e.failed++
	} else {
		e.ports++
	}
	need := int32(d.cfg.FanoutPorts)
	if e.failed > 0 {
		need = max(need-2, 1)
	}
	if e.ports < need {
		return Verdict{}, false
	}
	if !failure {
		d.addEvidence(a, evidence{at: now, kind: evFanout, cls: clsTCP, port: port, host: host, flags: uint16(e.ports)})
	}
	return d.decide(now, a, KindPortScan,
		fmt.Sprintf("first contacts to %d TCP ports of %s within %v (%d refused or unanswered)", e.ports, host, fanoutWindow, e.failed),
		float64(e.ports)/float64(need))
}
