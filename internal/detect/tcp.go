package detect

import (
	"fmt"
	"time"

	"portcullis/internal/packet"
)

func (d *Detector) observeTCP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	f := p.TCPFlags & 0x3f
	const (
		fin, syn, rst, psh, ack, urg = packet.TCPFin, packet.TCPSyn, packet.TCPRst, packet.TCPPsh, packet.TCPAck, packet.TCPUrg
	)
	// nmap OS detection shapes come first: some of them (T2, T3, T7) also
	// carry impossible flags, and the verdict should name what it is.
	if shape := tcpOSShape(p); shape != 0 && unicastTarget(p, p.Dst) {
		return d.osProbe(now, src, p, shape)
	}
	// Without SYN, ACK or RST: NULL, FIN (RFC 9293 section 3.1: once a
	// connection is established the ACK "is always sent", FIN included),
	// Xmas and every PSH/URG mix. The switch drops these (policy watch.go),
	// so no RST ever answers them: the probe itself is the evidence.
	impossible := f&(syn|fin) == syn|fin || f&(syn|rst) == syn|rst || f&(fin|rst) == fin|rst ||
		f&(syn|ack|rst) == 0
	if impossible {
		if !unicastTarget(p, p.Dst) {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.Src)
		a.probes++
		d.stats.Probes++
		d.addEvidence(a, evidence{at: now, kind: evImpossible, cls: clsTCP, port: p.DstPort, flags: p.TCPFlags, host: p.Dst})
		return d.decide(now, a, KindStealthScan, fmt.Sprintf("TCP flags %s from %s: no conforming stack sends them", flagString(p.TCPFlags), p.Src), 1)
	}
	rev := flowKey{a: p.Dst, b: p.Src, proto: packet.ProtoTCP, ap: p.DstPort, bp: p.SrcPort}
	switch {
	case f&(syn|ack) == syn:
		return d.tcpSYN(now, src, p)
	case f&(syn|ack) == syn|ack:
		d.rememberConn(p)
		rev.cls = clsTCP
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		rev.cls = clsStray
		d.takePending(rev) // the target answered a stray normally: a real conversation
		return Verdict{}, false
	case f&rst != 0:
		rev.cls = clsTCP
		if pe, ok := d.takePending(rev); ok {
			return d.outcome(now, pe, false, evFail)
		}
		rev.cls = clsStray
		if pe, ok := d.takePending(rev); ok {
			return d.strayEvidence(now, pe)
		}
		return Verdict{}, false
	}
	// ACK, FIN, FIN|ACK and data segments.
	rev.cls = clsStray
	if _, ok := d.takePending(rev); ok {
		d.rememberConn(p) // the target answered normally: a real conversation
		return Verdict{}, false
	}
	if d.knownConn(p) || !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	if f&ack == 0 {
		return Verdict{}, false
	}
	// A stray segment with ACK (pure ACK, FIN|ACK, PSH|ACK, URG|ACK, with
	// or without data) to a flow not seen starting. A data segment is no
	// different: a real conversation answers it with ACK, a port that has
	// none with RST (nmap -sA --scanflags ACKPSH, --data-length).
	if p.PayloadLen > 0 {
		d.stats.StrayData++
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsStray, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoTCP, cls: clsStray, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendStray, cls: clsStray, port: p.DstPort, host: p.Dst})
	return Verdict{}, false
}

func (d *Detector) tcpSYN(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, clsTCP, p.DstPort) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: packet.ProtoTCP, cls: clsTCP, ap: p.SrcPort, bp: p.DstPort},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsTCP, port: p.DstPort, host: p.Dst})
	if v, ok := d.fanout(now, a, p.Dst, p.DstPort, false); ok {
		return v, ok
	}
	if v, ok := d.rotated(now, a, p.Dst, p.DstPort); ok {
		return v, ok
	}
	if bareSYN(p) {
		return d.bareSYN(now, a, p)
	}
	if !nmapSYN(p) {
		return Verdict{}, false
	}
	if a.sigCount == 0 || a.sigSport != p.SrcPort {
		a.sigSport, a.sigCount, a.sigHost, a.sigManyHosts = p.SrcPort, 0, p.Dst, false
	}
	a.sigCount++
	if p.Dst != a.sigHost {
		a.sigManyHosts = true
	}
	d.addEvidence(a, evidence{at: now, kind: evSig, cls: clsTCP, port: p.DstPort, host: p.Dst, flags: p.TCPWindow})
	if a.sigCount >= d.cfg.SignatureProbes {
		kind := KindPortScan
		if a.sigManyHosts {
			kind = KindHostSweep
		}
		return d.decide(now, a, kind, fmt.Sprintf("%d nmap raw-SYN probes (window 1024-4096, MSS only, source port %d)", a.sigCount, a.sigSport),
			float64(a.sigCount)/float64(d.cfg.SignatureProbes))
	}
	return Verdict{}, false
}

func (d *Detector) osProbe(now time.Time, src Source, p *packet.Packet, shape uint32) (Verdict, bool) {
	a := d.actorFor(now, src, p.Src)
	if a.osMask&shape == 0 {
		a.probes++
		d.stats.Probes++
		a.osMask |= shape
		d.addEvidence(a, evidence{at: now, kind: evOS, port: p.DstPort, host: p.Dst, flags: uint16(shapeIndex(shape))})
	}
	n := popcount(a.osMask)
	if n >= d.cfg.OSProbeMin {
		return d.decide(now, a, KindOSFingerprint, fmt.Sprintf("%d distinct nmap OS-detection probe shapes", n), float64(n)/float64(d.cfg.OSProbeMin))
	}
	return Verdict{}, false
}

// bareSYN counts a SYN without TCP options, which no operating system's
// stack sends (every one offers at least its MSS, RFC 9293 section 3.7.1)
// and the raw-packet scanners do: masscan (window 1024), zmap (65535),
// hping3 (512), scapy's default TCP(). Config.SignatureProbes such first
// contacts decide port-scan (one host) or host-sweep, whatever their source
// ports (zmap draws a new one per probe), before any answer arrives.
func (d *Detector) bareSYN(now time.Time, a *actor, p *packet.Packet) (Verdict, bool) {
	if a.bareCount == 0 {
		a.bareHost, a.bareManyHosts = p.Dst, false
	}
	a.bareCount++
	if p.Dst != a.bareHost {
		a.bareManyHosts = true
	}
	d.addEvidence(a, evidence{at: now, kind: evBare, cls: clsTCP, port: p.DstPort, host: p.Dst, flags: p.TCPWindow})
	if a.bareCount < d.cfg.SignatureProbes {
		return Verdict{}, false
	}
	kind := KindPortScan
	if a.bareManyHosts {
		kind = KindHostSweep
	}
	return d.decide(now, a, kind, fmt.Sprintf("%d SYNs without TCP options (no stack sends them; masscan, zmap, hping3 do)", a.bareCount),
		float64(a.bareCount)/float64(d.cfg.SignatureProbes))
}

// bareSYN reports a SYN (without ACK) that carries no TCP options.
func bareSYN(p *packet.Packet) bool {
	return p.TCPFlags&0x3f == packet.TCPSyn && len(p.TCPOptions) == 0 && !p.FirstFragment
}
