package policy

import (
	"fmt"
	"net/netip"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/forward"
)

// Attribution one frame cannot abuse (issue 8, item 3; docs/pipeline.md "Learning events" and "IP
// attribution"). forward.Switch keeps each station's and each address's home; a frame that
// contradicts it is a spoof of the port it entered at. A MAC spoof is blocked where it entered
// (in_port + MAC, kind mac-spoof), and the port itself once a port spoofs again while it has at
// most one real station. A scan verdict whose source used addresses or a MAC that live elsewhere
// (nmap -S, -D, --spoof-mac, an idle scan's zombie) blocks the machine that sent it: its port, at
// an access port with at most one real station. A spoofer's block never leaves the ingress
// switch, so whoever it impersonated loses nothing anywhere.
//
// MAC rotation: a machine that takes a fresh MAC (and address) for each round of probes looks
// like a new, honest station every time, and each got a budget of its own (six macvlans on one
// port learned 15 ports). So the engine remembers, per port, the distinct MACs judged scanners or
// spoofers within RotationWindow; the RotationMACs-th one blocks the port whole, if the port is
// an access port with at most one real station that was there well before the first of them
// (long-lived: learned RotationWindow before it). A port with several long-lived stations (an
// unmanaged switch with a LAN behind it) keeps per-MAC blocks: blocking it would cut off its
// honest stations.

// Rotation rule parameters.
const (
	RotationWindow = 10 * time.Minute
	RotationMACs   = 2
	// rotationPorts bounds the ports remembered, rotationMACsMax the MACs per port.
	rotationPorts   = 4096
	rotationMACsMax = 16
	// strikePorts bounds the ports whose mac-spoof verdicts are counted.
	strikePorts = 256
)

type portKey struct {
	dpid uint64
	port uint32
}

// attribution is the engine's memory for attribution: mac-spoof verdicts per port, and the MACs
// judged per port (rotation).
type attribution struct {
	strikes   map[portKey]int
	offenders map[portKey]*offenders
}

// offenders are the distinct MACs judged at one port within RotationWindow.
type offenders struct {
	first time.Time             // the oldest judgement still in the window
	macs  map[[6]byte]time.Time // MAC -> when it was last judged
}

// offend records a judgement of src and returns the port's offenders.
func (a *attribution) offend(now time.Time, src Source) *offenders {
	if a.offenders == nil || len(a.offenders) >= rotationPorts {
		a.offenders = make(map[portKey]*offenders, 8)
	}
	k := portKey{src.DPID, src.Port}
	o := a.offenders[k]
	if o == nil {
		o = &offenders{macs: make(map[[6]byte]time.Time, 2)}
		a.offenders[k] = o
	}
	o.prune(now)
	if _, ok := o.macs[src.MAC]; !ok && len(o.macs) >= rotationMACsMax {
		return o
	}
	o.macs[src.MAC] = now
	if o.first.IsZero() || now.Before(o.first) {
		o.first = now
	}
	return o
}

func (o *offenders) prune(now time.Time) {
	o.first = time.Time{}
	for m, t := range o.macs {
		if now.Sub(t) > RotationWindow {
			delete(o.macs, m)
			continue
		}
		if o.first.IsZero() || t.Before(o.first) {
			o.first = t
		}
	}
}

func (a *attribution) expire(now time.Time) {
	for k, o := range a.offenders {
		o.prune(now)
		if len(o.macs) == 0 {
			delete(a.offenders, k)
		}
	}
}

// strike counts a mac-spoof verdict against src's port and returns the port's count (distinct
// spoofed MACs and repeats alike).
func (a *attribution) strike(src Source) int {
	if a.strikes == nil || len(a.strikes) >= strikePorts {
		a.strikes = make(map[portKey]int, 8)
	}
	k := portKey{src.DPID, src.Port}
	a.strikes[k]++
	return a.strikes[k]
}

// view is the Stations view with the homes this Ready released already gone.
type view struct{ e *Engine }

func (e *Engine) view() view { return view{e} }

func (v view) gone(dpid uint64, mac [6]byte) bool {
	for _, r := range v.e.released {
		if r.DPID == dpid && r.MAC == mac {
			return true
		}
	}
	return false
}

func (v view) PortOf(dpid uint64, mac [6]byte) (uint32, bool) {
	if v.e.sws[dpid] == nil || v.e.cfg.Stations == nil || v.gone(dpid, mac) {
		return 0, false
	}
	return v.e.cfg.Stations.PortOf(dpid, mac)
}

func (v view) IPLivesAt(dpid uint64, ip netip.Addr) (uint32, [6]byte, bool) {
	if v.e.sws[dpid] == nil || v.e.cfg.Stations == nil {
		return 0, [6]byte{}, false
	}
	p, m, ok := v.e.cfg.Stations.IPLivesAt(dpid, ip)
	if ok && v.gone(dpid, m) {
		return 0, [6]byte{}, false
	}
	return p, m, ok
}

func (v view) Hosts(dpid uint64) []forward.Host {
	if v.e.sws[dpid] == nil || v.e.cfg.Stations == nil {
		return nil
	}
	hs := v.e.cfg.Stations.Hosts(dpid)
	if len(v.e.released) == 0 {
		return hs
	}
	out := hs[:0:0]
	for _, h := range hs {
		if !v.gone(dpid, h.MAC) {
			out = append(out, h)
		}
	}
	return out
}

func stationsAt(hosts []forward.Host, port uint32) int {
	n := 0
	for _, h := range hosts {
		if h.Port == port {
			n++
		}
	}
	return n
}

// sourceOwns reports whether ip is known to live behind src's port and MAC.
func (e *Engine) sourceOwns(src Source, ip netip.Addr) bool {
	port, mac, ok := e.view().IPLivesAt(src.DPID, ip)
	return ok && port == src.Port && mac == src.MAC
}

// MACProtected reports whether the source's MAC, at its port, belongs to a never-block host (a
// router or server whose address was seen behind it), and which address of it is listed.
func MACProtected(st Stations, never *Allowlist, src Source) (netip.Addr, bool) {
	if st == nil || never == nil || never.Len() == 0 {
		return netip.Addr{}, false
	}
	for _, h := range st.Hosts(src.DPID) {
		if h.MAC != src.MAC || h.Port != src.Port {
			continue
		}
		for _, ip := range h.IPs {
			// A listed address the station only used while a station at another port used it
			// too is no proof: forward.Switch.IPLivesAt no longer vouches for it (an attacker's
			// first frame after a restart must not make it the gateway).
			if !never.ContainsAddr(ip) {
				continue
			}
			if p, m, ok := st.IPLivesAt(src.DPID, ip); ok && p == src.Port && m == src.MAC {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// placement decides where a verdict's block goes: spoofed when the source used a MAC or addresses
// that live elsewhere (the block then stays at the ingress switch), portWide when the machine
// behind the port is the spoofer and the port is an access port with at most one real station (a
// station with an address of its own there), or when the port rotates MACs (see RotationMACs).
//
// probes is the verdict's count: a mac-spoof verdict that folded in more (another report of the
// spoof, or the scan it carried) is a repeat.
func (e *Engine) placement(now time.Time, src Source, ips []netip.Addr, kind detect.Kind, probes int) (spoofed, portWide bool) {
	v := e.view()
	if e.sws[src.DPID] == nil {
		return kind == detect.KindMACSpoof, false
	}
	home, learned := v.PortOf(src.DPID, src.MAC)
	spoofed = kind == detect.KindMACSpoof || (learned && home != src.Port)
	for _, ip := range ips {
		if p, m, ok := v.IPLivesAt(src.DPID, ip); ok && (p != src.Port || m != src.MAC) {
			spoofed = true
		}
	}
	var macs [][6]byte
	var here []forward.Host
	real := 0
	for _, h := range v.Hosts(src.DPID) {
		if h.Port != src.Port {
			continue
		}
		macs = append(macs, h.MAC)
		here = append(here, h)
		if e.real(src.DPID, h) {
			real++
		}
	}
	if !spoofed && e.macHomeElsewhere(src) {
		spoofed = true
	}
	repeat := spoofed && kind != detect.KindMACSpoof
	if kind == detect.KindMACSpoof {
		repeat = e.attr.strike(src) >= 2 || probes > 1
	}
	o := e.attr.offend(now, src)
	rotated := false
	if len(o.macs) >= RotationMACs {
		settled := 0 // real stations there well before the first judgement
		for _, h := range here {
			if e.real(src.DPID, h) && !h.Learned.IsZero() && o.first.Sub(h.Learned) >= RotationWindow {
				settled++
			}
		}
		rotated = settled <= 1
	}
	if (repeat && real <= 1) || rotated {
		if e.accessPort(src.DPID, macs) {
			return spoofed || rotated, true
		}
	}
	return spoofed, false
}

// real reports whether station h has an address of its own behind its port.
func (e *Engine) real(dpid uint64, h forward.Host) bool {
	v := e.view()
	for _, ip := range h.IPs {
		if p, m, ok := v.IPLivesAt(dpid, ip); ok && p == h.Port && m == h.MAC {
			return true
		}
	}
	return false
}

// accessPort reports whether the port where macs are learned on switch dpid is an access port
// rather than a link toward another switch: every one of its stations that another switch knows
// sits there behind a port shared by more stations (that switch's uplink toward this one). A link
// whose far side has a single station looks the same from both ends and counts as a link: never
// blocked whole.
func (e *Engine) accessPort(dpid uint64, macs [][6]byte) bool {
	v := e.view()
	for _, sw := range e.switches() {
		if sw.dpid == dpid {
			continue
		}
		hosts := v.Hosts(sw.dpid)
		for _, m := range macs {
			if p, learned := v.PortOf(sw.dpid, m); learned && stationsAt(hosts, p) <= len(macs) {
				return false
			}
		}
	}
	return true
}

// macHomeElsewhere reports whether src's MAC lives at an access port (a port with that station
// alone) of another switch: then the source is a spoofer wherever else the MAC shows up, and its
// block must not follow the MAC to the switch where it lives.
func (e *Engine) macHomeElsewhere(src Source) bool {
	v := e.view()
	for _, sw := range e.switches() {
		if sw.dpid == src.DPID {
			continue
		}
		if port, ok := v.PortOf(sw.dpid, src.MAC); ok && stationsAt(v.Hosts(sw.dpid), port) == 1 {
			return true
		}
	}
	return false
}

func macsAt(hosts []forward.Host, port uint32) [][6]byte {
	var out [][6]byte
	for _, h := range hosts {
		if h.Port == port {
			out = append(out, h.MAC)
		}
	}
	return out
}

// stolenHome turns around a mac-spoof seen at a link between switches: the MAC's home on this
// switch is an access port, but the MAC lives at an access port of another switch and now comes
// in through the link. Then the home here was taken by a spoofer before the real station's
// traffic ever reached this switch (one frame on a switch that had not seen the MAC): the verdict
// is against that access port, and the MAC's home here is released so the real station is
// learned behind the link.
func (e *Engine) stolenHome(v detect.Verdict) detect.Verdict {
	src := v.Source
	if e.sws[src.DPID] == nil {
		return v
	}
	vw := e.view()
	home, ok := vw.PortOf(src.DPID, src.MAC)
	if !ok || home == src.Port {
		return v
	}
	hosts := vw.Hosts(src.DPID)
	atLink := macsAt(hosts, src.Port)
	var atHome [][6]byte
	for _, m := range macsAt(hosts, home) {
		if m != src.MAC {
			atHome = append(atHome, m)
		}
	}
	if len(atLink) == 0 || e.accessPort(src.DPID, atLink) || !e.accessPort(src.DPID, atHome) ||
		!e.macHomeElsewhere(Source{DPID: src.DPID, Port: src.Port, MAC: src.MAC}) {
		return v
	}
	e.release(Release{DPID: src.DPID, MAC: src.MAC, At: home})
	v.Source.Port = home
	v.Reason = fmt.Sprintf("frames with MAC %s, which lives on another switch, took it over at port %d; the station itself comes in at port %d",
		macString(src.MAC), home, src.Port)
	v.Evidence = []string{v.Reason}
	return v
}
