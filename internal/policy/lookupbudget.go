package policy

import (
	"net"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Lookup budget (issue 8, host sweeps). On a LAN every first contact of a
// host's own stack with a new neighbour starts with an address lookup: an
// ARP request (IPv4) or a neighbour solicitation (IPv6). A sweep is a burst
// of lookups for many addresses, and each answer is a host learned; a
// reactive verdict comes only once enough lookups went unanswered, by which
// time a sweeper at full speed has asked for the whole /24 (nmap -sn -PR,
// arp-scan, fping -g, a connect() loop: the kernel resolves every address
// first). So each switch port's lookups pass a per-port meter instruction,
// as its SYNs pass the first-contact meter: Burst at once and Rate per
// second after that, ARP and neighbour solicitations each; a lookup beyond
// the budget is dropped in the switch (and not copied), and the stack asks
// again a second later (Linux retries ARP and NS three times, one second
// apart), by which time a sweeper is blocked (detect fails a lookup
// unanswered for 0.5 s, 0.25 s in a burst). Neighbour and ARP answers are not metered, and
// neither are lookups by ports exempt from the first-contact meter (uplinks,
// a never-block gateway's port).
//
// The budget is a compromise a switch cannot avoid: it sees the rate of
// lookups, not whether they are answered, so a host dialling many live
// neighbours at once looks like a sweeper until the answers are counted.
// The defaults (16 at once, 8 a second) let the benign e2e P2P dialers
// (56 peers on the link in 1.8 s, ndpi_ethereum's pace; and 80 peers in
// about a second, half of them over IPv6, each family with its own meter)
// resolve every peer within the kernel's three tries (16 + 8 x 3 = 40 per
// family), and hold a sweep of a /24 to a few answers before its failures
// decide (docs/BENCHMARKS.md).
//
// ICMP requests (echo, timestamp, mask), which a raw-frame sweeper such as
// zmap sends without any lookup, have the "icmp" probe budget of budget.go.
// An echo request to a group address is dropped here: one packet sweeps
// the link.

const (
	// LookupMeterBase + port is the meter of a port's ARP requests,
	// NDMeterBase + port that of its neighbour solicitations. The other
	// per-port meters: FirstContactMeterBase 0x10000, forward.MeterReplyBase
	// 0x20000, forward.MeterBudgetBase 0x100000-0x13ffff. (Deleting a meter
	// deletes the flows that use it, so two owners of one id lose flows.)
	LookupMeterBase uint32 = 0x30000
	NDMeterBase     uint32 = 0x40000

	DefaultLookupRate  = 8
	DefaultLookupBurst = 16

	cookieLookup = 0x400 // cookie value marker (watch kind), OR the port
)

// LookupConfig sets the per-port lookup meters.
type LookupConfig struct {
	Rate, Burst     uint32 // lookups per second, and at once, per family; 0 = defaults
	MaxLen          uint16 // bytes of the copy; 0 = DefaultWatchMaxLen
	PlainController bool   // see WatchConfig
}

// LookupCookie is the cookie of port's lookup flows.
func LookupCookie(port uint32) uint64 {
	return forward.Cookie(forward.KindWatch, cookieLookup<<16|uint64(port))
}

// LookupFlows returns the two meters and the flows that hold the lookups
// (ARP requests, neighbour solicitations) entering at port to their
// budgets, copying them to the controller as the discover watch class does,
// and the flows that drop echo requests to group addresses (copied as the
// icmp class). Nil for ports without a meter (reserved ports and numbers
// above MaxFirstContactPort).
func LookupFlows(port uint32, cfg LookupConfig) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultLookupRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultLookupBurst
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultWatchMaxLen
	}
	arp, nd := LookupMeterBase+port, NDMeterBase+port
	var msgs []ofp.Message
	for _, id := range [...]uint32{arp, nd} {
		msgs = appendMeterReplace(msgs, id, cfg.Rate, cfg.Burst)
	}
	copyAct := func(c Class) ofp.Action {
		if cfg.PlainController {
			return forward.Output(ofp.PortController, cfg.MaxLen)
		}
		return ControllerMetered(cfg.MaxLen, c.Meter())
	}
	flow := func(prio uint16, instrs []ofp.Instruction, fields ...ofp.OXM) {
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:       LookupCookie(port),
			TableID:      forward.TableWatch,
			Command:      ofp.FlowAdd,
			Priority:     prio,
			BufferID:     ofp.NoBuffer,
			OutPort:      ofp.PortAny,
			OutGroup:     ofp.GroupAny,
			Match:        ofp.Match{Fields: append([]ofp.OXM{ofp.MatchInPort(port)}, fields...)},
			Instructions: instrs,
		})
	}
	metered := func(meter uint32, copy ofp.Action) []ofp.Instruction {
		return []ofp.Instruction{&ofp.InstrMeter{MeterID: meter}, forward.Apply(copy), forward.Goto(forward.TableLearn)}
	}
	// ARP requests are broadcast; the match names the destination, not
	// the opcode: the blocks' datapath guards rely on no flow looking at
	// the ARP opcode (docs/pipeline.md), and a unicast request can only ask
	// the one station it is sent to. Their copies go through the port's own
	// answer meter, as the port's other ARP does (replies.go).
	arpCopy := copyAct(ClassDiscover)
	if !cfg.PlainController {
		arpCopy = ControllerMetered(cfg.MaxLen, ReplyMeter(port))
	}
	flow(PriorityFirstContact, metered(arp, arpCopy), ofp.MatchEthType(ethTypeARP),
		ofp.MatchEthDst(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	flow(PriorityFirstContact, metered(nd, copyAct(ClassDiscover)), ofp.MatchEthType(ethTypeIPv6),
		ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(135))
	// An echo request to a multicast or broadcast address sweeps the whole
	// link in one packet (ping ff02::1: every IPv6 host answers, as RFC
	// 4443 section 4.1 allows; 224.0.0.1 and broadcasts for stacks that
	// answer those): copied and dropped (no goto). No application needs it.
	group := net.HardwareAddr{1, 0, 0, 0, 0, 0} // the Ethernet group bit
	drop := []ofp.Instruction{forward.Apply(copyAct(ClassICMP))}
	flow(PriorityFirstContact, drop, ofp.MatchEthDstMasked(group, group),
		ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(ipProtoICMP), ofp.MatchICMPv4Type(8))
	flow(PriorityFirstContact, drop, ofp.MatchEthDstMasked(group, group),
		ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(128))
	return msgs
}

// LookupDelete removes a port's lookup flows and meters.
func LookupDelete(port uint32) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	return []ofp.Message{
		&ofp.FlowMod{Cookie: LookupCookie(port), CookieMask: forward.CookieExactMask, TableID: forward.TableWatch,
			Command: ofp.FlowDelete, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny},
		&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: LookupMeterBase + port},
		&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: NDMeterBase + port},
	}
}
