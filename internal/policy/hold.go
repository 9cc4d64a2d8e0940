package policy

import (
	"net"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Hold flows. The first-contact budget (firstcontact.go) forwards a burst of
// SYNs and then 500 a second while a scanner's verdict and its drop flow are
// on their way, and every SYN that reaches an open or closed port is a port
// state learned (5-7 for a connect scan that tries open services first, or a
// raw-SYN scanner at 100k/s). No decision threshold can move lower without
// blocking benign clients, so the switch holds a suspect instead: once a
// source looks like the start of a scan (detect.Detector.Suspicion), its
// SYNs go to the controller only, never on, and the controller releases
// each one by packet-out unless its verdict came. What reaches the victim
// after the suspicion is therefore only what the controller judged benign.
//
// One flow per IP version, in TableWatch: in_port, eth_src, TCP +syn -ack,
// priority PriorityHold (above the first-contact rule and every watch rule,
// below the bypass flows of conversations judged benign, so a new
// connection to a service the source already reached is not held, and
// below the drop rule for impossible flags). The copy is the whole frame
// (the controller sends it on; this Open vSwitch does not buffer) through
// the tcp-probe meter, after the port's first-contact meter (the rate
// stays the port's budget). A hold lives HoldIdleTimeout seconds after its
// last SYN and at most HoldHardTimeout; the block, in TableAdmission, takes
// over before either.

const (
	// PriorityHold sits between the watch rules (PriorityWatchHigh) and the
	// bypass flows (forward.PriorityBypass).
	PriorityHold uint16 = 2500
	// HoldIdleTimeout and HoldHardTimeout are a hold flow's timeouts, in
	// seconds.
	HoldIdleTimeout uint16 = 10
	HoldHardTimeout uint16 = 60
	// HoldMaxLen asks for the whole frame (OFPCML_NO_BUFFER).
	HoldMaxLen uint16 = 0xffff

	cookieHold = 0x800 // cookie value marker (watch kind), OR the port
)

// HoldConfig shapes a hold flow.
type HoldConfig struct {
	// Meter is the port's first-contact meter (FirstContactMeterBase +
	// port), applied as an instruction before the copy; 0 for none.
	Meter uint32
	// PlainController copies with a plain output:CONTROLLER (see WatchConfig).
	PlainController bool
}

// HoldCookie is the cookie of the hold flows of sources entering at port.
func HoldCookie(port uint32) uint64 {
	return forward.Cookie(forward.KindWatch, cookieHold<<16|uint64(port&0xffff))
}

// IsHoldCookie reports whether a packet-in's cookie is a hold flow's: the
// packet went to the controller only and is forwarded only by packet-out.
func IsHoldCookie(c uint64) bool {
	k, ok := forward.CookieKind(c)
	return ok && k == forward.KindWatch && forward.CookieValue(c)>>16 == cookieHold
}

// HoldFlows returns the hold flows (IPv4 and IPv6) for the station mac
// entering at port. Adding them again replaces them (and restarts their
// timeouts).
func HoldFlows(port uint32, mac [6]byte, cfg HoldConfig) []ofp.Message {
	var copyAct ofp.Action
	if cfg.PlainController {
		copyAct = forward.Output(ofp.PortController, HoldMaxLen)
	} else {
		copyAct = ControllerMetered(HoldMaxLen, ClassTCPProbe.Meter())
	}
	var instrs []ofp.Instruction
	if cfg.Meter != 0 {
		instrs = append(instrs, &ofp.InstrMeter{MeterID: cfg.Meter})
	}
	instrs = append(instrs, forward.Apply(copyAct)) // no goto: the controller forwards
	msgs := make([]ofp.Message, 0, 2)
	for _, et := range []uint16{ethTypeIPv4, ethTypeIPv6} {
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:      HoldCookie(port),
			TableID:     forward.TableWatch,
			Command:     ofp.FlowAdd,
			IdleTimeout: HoldIdleTimeout,
			HardTimeout: HoldHardTimeout,
			Priority:    PriorityHold,
			BufferID:    ofp.NoBuffer,
			OutPort:     ofp.PortAny,
			OutGroup:    ofp.GroupAny,
			Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port), ofp.MatchEthSrc(net.HardwareAddr(mac[:])),
				ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flagsSYN, flagsSYN|flagsACK)}},
			Instructions: instrs,
		})
	}
	return msgs
}
