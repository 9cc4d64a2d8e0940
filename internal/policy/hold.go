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
// the tcp-probe meter, after the port's hold meter (HoldMeter: the
// first-contact budget in a bucket of its own). A hold lives
// HoldIdleTimeout seconds after its last SYN and at most HoldHardTimeout;
// the block, in TableAdmission, takes over before either.
//
// A new flow takes effect in the datapath only once Open vSwitch has
// revalidated the cached megaflows it changes (they wildcard most of the
// destination port), measured at 2-10 ms on a loaded machine, in which
// the first-contact meter lets a SYN through every 2 ms. A meter
// modification takes effect at once, so with the hold the controller
// squeezes the port's first-contact meter (FirstContactSqueeze) and
// restores it (FirstContactRestore) once the hold is surely in place: the
// held SYNs have their own meter and are not squeezed.

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

	// HoldMeterBase + port is the meter of the held SYNs entering at port.
	HoldMeterBase uint32 = 0x50000
)

// HoldMeter returns the meter of port's held SYNs (replacing one there):
// the first-contact budget's rate and burst (cfg), in a bucket apart from
// the first-contact meter's. Nil for ports without a first-contact meter.
func HoldMeter(port uint32, cfg FirstContactConfig) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	id := HoldMeterBase + port
	return []ofp.Message{
		&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: id},
		firstContactMeter(ofp.MeterAdd, id, cfg),
	}
}

// FirstContactSqueeze returns the modification of port's first-contact
// meter that lets almost nothing through (1 SYN a second, burst 1), while a
// hold is on its way.
func FirstContactSqueeze(port uint32) ofp.Message {
	return firstContactMeter(ofp.MeterModify, FirstContactMeterBase+port, FirstContactConfig{Rate: 1, Burst: 1})
}

// FirstContactRestore returns the modification that gives port's
// first-contact meter its budget (cfg) back.
func FirstContactRestore(port uint32, cfg FirstContactConfig) ofp.Message {
	return firstContactMeter(ofp.MeterModify, FirstContactMeterBase+port, cfg)
}

func firstContactMeter(cmd uint16, id uint32, cfg FirstContactConfig) *ofp.MeterMod {
	if cfg.Rate == 0 {
		cfg.Rate = DefaultFirstContactRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultFirstContactBurst
	}
	return dropMeter(cmd, id, cfg.Rate, cfg.Burst)
}

// HoldConfig shapes a hold flow.
type HoldConfig struct {
	// Meter is the port's hold meter (HoldMeterBase + port), applied as an
	// instruction before the copy; 0 for none.
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

// HoldPortTimeout is the idle and hard timeout, in seconds, of a port hold
// (HoldPortFlows).
const HoldPortTimeout uint16 = 120

// HoldPortFlows returns the hold flows for every station entering at port,
// whatever its MAC: installed after a scan verdict there, so that a machine
// that takes a new MAC (MAC rotation, detect/rotation.go) has its first SYN
// judged by the controller before it reaches anyone. They live
// HoldPortTimeout seconds; stations of a shared port pay a controller
// round trip per new connection meanwhile.
func HoldPortFlows(port uint32, cfg HoldConfig) []ofp.Message {
	msgs := HoldFlows(port, [6]byte{}, cfg)
	for _, m := range msgs {
		fm := m.(*ofp.FlowMod)
		fm.IdleTimeout, fm.HardTimeout = HoldPortTimeout, HoldPortTimeout
	}
	return msgs
}

// HoldFlows returns the hold flows (IPv4 and IPv6) for the station mac
// entering at port (every station there for the zero MAC: HoldPortFlows).
// Adding them again replaces them (and restarts their timeouts).
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
			Cookie:       HoldCookie(port),
			TableID:      forward.TableWatch,
			Command:      ofp.FlowAdd,
			IdleTimeout:  HoldIdleTimeout,
			HardTimeout:  HoldHardTimeout,
			Priority:     PriorityHold,
			BufferID:     ofp.NoBuffer,
			OutPort:      ofp.PortAny,
			OutGroup:     ofp.GroupAny,
			Match:        ofp.Match{Fields: holdMatch(port, mac, et)},
			Instructions: instrs,
		})
	}
	return msgs
}

func holdMatch(port uint32, mac [6]byte, et uint16) []ofp.OXM {
	f := []ofp.OXM{ofp.MatchInPort(port)}
	if mac != ([6]byte{}) {
		f = append(f, ofp.MatchEthSrc(net.HardwareAddr(mac[:])))
	}
	return append(f, ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flagsSYN, flagsSYN|flagsACK))
}
