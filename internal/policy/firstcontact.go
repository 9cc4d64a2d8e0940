package policy

import (
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// First-contact metering. A reactive verdict, however fast, lets through
// every probe sent before the drop flow exists: nmap -T4 opens with about 25
// SYNs per millisecond, so a 4 ms verdict-to-barrier path still leaks around
// a hundred port states. So the switch itself holds back a burst of first
// contacts per ingress port: a TCP SYN (without ACK) that no bypass flow
// covers goes through a per-port meter whose drop band drops the SYN itself
// (a meter *instruction*, unlike the watch copies' meters). A port may open
// FirstContactBurst connections at once and FirstContactRate per second
// after that; a dropped SYN is retransmitted by a real stack after a second,
// by which time a scanner is blocked. Conversations judged benign skip the
// meter through their bypass flows (higher priority), so a busy client of one
// service is metered only on its first connection.

const (
	// PriorityFirstContact sits above every watch rule: the per-port SYN rule
	// replaces the generic SYN copy for that port.
	PriorityFirstContact uint16 = forward.PriorityWatchHigh
	// FirstContactMeterBase + port is the meter of a port's first contacts.
	FirstContactMeterBase uint32 = 0x10000
	// MaxFirstContactPort is the highest port number that gets a meter.
	MaxFirstContactPort uint32 = 0xfffe

	DefaultFirstContactRate  = 500
	DefaultFirstContactBurst = 4

	cookieFirstContact = 0x100 // cookie value marker (watch kind), OR the port
)

// FirstContactConfig sets the per-port first-contact meter.
type FirstContactConfig struct {
	Rate, Burst uint32 // SYNs per second, and at once; 0 = defaults
	MaxLen      uint16 // bytes of the copy; 0 = DefaultWatchMaxLen
	// PlainController copies with a plain output:CONTROLLER (see WatchConfig).
	PlainController bool
}

// FirstContactCookie is the cookie of port's first-contact flows.
func FirstContactCookie(port uint32) uint64 {
	return forward.Cookie(forward.KindWatch, cookieFirstContact<<16|uint64(port))
}

// FirstContactFlows returns the meter and the flows (IPv4 and IPv6) that
// meter the first contacts entering at port, and copy them to the
// controller as the tcp-probe class does. Nil for ports without a meter
// (reserved ports and numbers above MaxFirstContactPort).
func FirstContactFlows(port uint32, cfg FirstContactConfig) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultFirstContactRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultFirstContactBurst
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultWatchMaxLen
	}
	meter := FirstContactMeterBase + port
	msgs := appendMeterReplace(nil, meter, cfg.Rate, cfg.Burst)
	var copyAct ofp.Action
	if cfg.PlainController {
		copyAct = forward.Output(ofp.PortController, cfg.MaxLen)
	} else {
		copyAct = ControllerMetered(cfg.MaxLen, ClassTCPProbe.Meter())
	}
	return append(msgs, portSYNFlows(port, forward.TableWatch, PriorityFirstContact, FirstContactCookie(port),
		&ofp.InstrMeter{MeterID: meter}, forward.Apply(copyAct), forward.Goto(forward.TableLearn))...)
}

// portSYNFlows returns the two flows (IPv4 and IPv6) that match the TCP SYNs
// without ACK entering at port, in table with priority and cookie, each
// with instrs.
func portSYNFlows(port uint32, table uint8, priority uint16, cookie uint64, instrs ...ofp.Instruction) []ofp.Message {
	msgs := make([]ofp.Message, 0, 2)
	for _, et := range []uint16{ethTypeIPv4, ethTypeIPv6} {
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:   cookie,
			TableID:  table,
			Command:  ofp.FlowAdd,
			Priority: priority,
			BufferID: ofp.NoBuffer,
			OutPort:  ofp.PortAny,
			OutGroup: ofp.GroupAny,
			Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port), ofp.MatchEthType(et),
				ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flagsSYN, flagsSYN|flagsACK)}},
			Instructions: instrs,
		})
	}
	return msgs
}

// FirstContactDelete removes a port's first-contact flows and meter and its
// probe budgets (BudgetFlows), which share the cookie (the port went away,
// or it is exempt).
func FirstContactDelete(port uint32) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	return append([]ofp.Message{
		&ofp.FlowMod{Cookie: FirstContactCookie(port), CookieMask: forward.CookieExactMask, TableID: forward.TableWatch,
			Command: ofp.FlowDelete, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny},
		&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: FirstContactMeterBase + port},
	}, budgetMeterDeletes(port)...)
}
