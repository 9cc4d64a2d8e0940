package detect

import (
	"time"

	"portcullis/internal/packet"
)

func (d *Detector) observeICMP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	v6 := p.Proto == packet.ProtoICMPv6
	var cls uint8
	request, reply := false, false
	switch {
	case !v6 && (p.ICMPType == packet.ICMPEcho || p.ICMPType == packet.ICMPEchoReply),
		v6 && (p.ICMPType == packet.ICMPv6EchoRequest || p.ICMPType == packet.ICMPv6EchoReply):
		cls = clsEcho
		request = p.ICMPType == packet.ICMPEcho || p.ICMPType == packet.ICMPv6EchoRequest
		reply = !request
	case !v6 && (p.ICMPType == packet.ICMPTimestamp || p.ICMPType == packet.ICMPTimestampRep):
		cls, request, reply = clsTimestamp, p.ICMPType == packet.ICMPTimestamp, p.ICMPType == packet.ICMPTimestampRep
	case !v6 && (p.ICMPType == packet.ICMPAddrMask || p.ICMPType == packet.ICMPAddrMaskReply):
		cls, request, reply = clsMask, p.ICMPType == packet.ICMPAddrMask, p.ICMPType == packet.ICMPAddrMaskReply
	case v6 && p.ICMPType == packet.ICMPv6NeighborSol:
		return d.observeNS(now, src, p)
	case v6 && p.ICMPType == packet.ICMPv6NeighborAdv:
		if pe, ok := d.takePending(flowKey{a: p.Dst, b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		return Verdict{}, false
	case !v6 && p.ICMPType == packet.ICMPUnreachable, v6 && p.ICMPType == packet.ICMPv6Unreachable,
		v6 && p.ICMPType == packet.ICMPv6ParamProblem && p.ICMPCode == 1:
		return d.unreachable(now, p)
	default:
		return Verdict{}, false
	}
	if reply {
		if pe, ok := d.takePending(flowKey{a: p.Dst, b: p.Src, proto: p.Proto, cls: cls, ap: p.ICMPID}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
		return Verdict{}, false
	}
	if !request || !unicastTarget(p, p.Dst) {
		return Verdict{}, false
	}
	if cls == clsEcho {
		if shape := icmpOSShape(p); shape != 0 {
			return d.osProbe(now, src, p, shape)
		}
	}
	a := d.actorFor(now, src, p.Src)
	if !d.firstContact(a, p.Dst, cls, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.Dst, proto: p.Proto, cls: cls, ap: p.ICMPID},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: cls, host: p.Dst})
	return Verdict{}, false
}

func (d *Detector) observeARP(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if !p.ARPSenderIP.IsValid() || !p.ARPTargetIP.IsValid() {
		return Verdict{}, false
	}
	d.noteAddr(src, p.ARPSenderIP)
	d.noteAlive(src, p.ARPSenderIP, now)
	switch p.ARPOp {
	case 1:
		// Probes (sender 0.0.0.0) and gratuitous announcements are not lookups.
		if p.ARPSenderIP.IsUnspecified() || p.ARPSenderIP == p.ARPTargetIP || p.ARPTargetIP.IsUnspecified() {
			return Verdict{}, false
		}
		a := d.actorFor(now, src, p.ARPSenderIP)
		if d.forwarder(src, 4) || !d.firstContact(a, p.ARPTargetIP, clsARP, 0) {
			return Verdict{}, false
		}
		a.probes++
		d.stats.Probes++
		d.addPending(now, flowKey{a: p.ARPSenderIP, b: p.ARPTargetIP, cls: clsARP},
			pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsARP, host: p.ARPTargetIP})
	case 2:
		if pe, ok := d.takePending(flowKey{a: p.ARPTargetIP, b: p.ARPSenderIP, cls: clsARP}); ok {
			return d.outcome(now, pe, true, evSuccess)
		}
	}
	return Verdict{}, false
}

func (d *Detector) observeNS(now time.Time, src Source, p *packet.Packet) (Verdict, bool) {
	if p.Src.IsUnspecified() || !p.NDTarget.IsValid() || p.NDTarget == p.Src || p.NDTarget.IsMulticast() {
		return Verdict{}, false // duplicate address detection, or nonsense
	}
	a := d.actorFor(now, src, p.Src)
	if d.forwarder(src, 6) || !d.firstContact(a, p.NDTarget, clsND, 0) {
		return Verdict{}, false
	}
	a.probes++
	d.stats.Probes++
	d.addPending(now, flowKey{a: p.Src, b: p.NDTarget, proto: packet.ProtoICMPv6, cls: clsND},
		pending{act: a, gen: a.gen, kind: pendAttempt, cls: clsND, host: p.NDTarget})
	return Verdict{}, false
}
