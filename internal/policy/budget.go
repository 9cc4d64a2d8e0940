package policy

import (
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Probe budgets per port. The first-contact meter (firstcontact.go) holds a
// scanner's SYNs back in the switch until its block lands; every other probe
// that teaches a scanner a port's state needs the same, or nmap learns the
// whole port list while the verdict is on its way (measured: an ACK scan 70
// ports, a UDP scan 30 of 30, an IP protocol scan 250 of 250). So each
// switch port gets a meter per probe class below, applied as a meter
// *instruction* (it drops the probe itself, not only its copy) on the
// packets of that class entering at the port that no bypass flow covers:
//
//	stray  pure ACK, FIN/ACK, URG/ACK: what an ACK, window or Maimon scan sends
//	       and what a conversation sends; a benign conversation is bypassed
//	       once its SYN-ACK was seen, so only its handshake's last ACK and the
//	       packets of a conversation whose handshake the controller missed meet it
//	udp    UDP to a unicast address; an answered exchange is bypassed (off by
//	       default: it did not lower what a UDP scan learns, docs/pipeline.md)
//	icmp   ICMP echo, timestamp, information and address-mask requests,
//	       ICMPv6 echo requests
//	other  every other IP protocol (SCTP, GRE, ESP, raw protocol numbers) to a
//	       unicast address
//	refusal the port's own refusals, not probes: ICMP port and protocol
//	       unreachable, ICMPv6 port unreachable and unrecognized next header.
//	       A UDP or IP-protocol scan's answers to its first burst of probes
//	       are on their way before the verdict (3 refusals) can be; held
//	       here, the scanner learns the refusals the verdict needs and no more.
//	       A benign client only waits for its timeout instead of a refusal.
//	reset  the port's TCP RSTs outside a bypassed conversation, for the same
//	       reason: the closed ports of a SYN scan whose probes the first-contact
//	       budget let through while the block was on its way. A client of a
//	       closed port beyond the budget learns it at its SYN's retransmission.
//
// Each flow sits just above the watch rule of its class and copies to the
// controller as that rule does; the copy comes after the meter, so the
// controller sees what the budget let through, which is also all the scanner
// can learn from. Group destinations (mDNS, SSDP, DHCP, IGMP, VRRP, OSPF) and
// UDP answers from privileged to ephemeral ports are copied by higher rules
// without a budget. docs/pipeline.md has the reasoning
// and the measurements.

// BudgetClass is one class of a port's probe budget.
type BudgetClass uint8

// Budget classes.
const (
	BudgetStray   BudgetClass = iota // ACK-shaped probes outside a bypassed conversation
	BudgetUDP                        // UDP first contacts
	BudgetICMP                       // ICMP requests
	BudgetOther                      // other IP protocols
	BudgetRefusal                    // the port's ICMP port and protocol unreachables
	BudgetReset                      // the port's TCP RSTs outside bypassed conversations
	numBudgetClasses
)

var budgetNames = [...]string{"stray", "udp", "icmp", "other", "refusal", "reset"}

// String returns the class name ("udp").
func (c BudgetClass) String() string {
	if int(c) < len(budgetNames) {
		return budgetNames[c]
	}
	return "unknown"
}

// BudgetMeter returns the meter id of port's budget of class c.
func BudgetMeter(port uint32, c BudgetClass) uint32 {
	return forward.MeterBudgetBase | uint32(c)<<16 | port&0xffff
}

// Priorities of the budget flows: each just above the shared watch rule of
// its class (watch.go), and the group-address rules above the budgets.
const (
	priorityBudgetFinAck uint16 = 1865 // above 1860 FIN-ACK
	priorityBudgetUrgAck uint16 = 1855 // above 1850 URG+ACK
	priorityBudgetAck    uint16 = 1845 // above 1840 exactly ACK
	priorityGroupUDP     uint16 = 1560 // UDP to a group address: copied, no budget
	// UDP from a port below 1024 to one of 32768 and above: copied, no budget. A UDP server
	// answers each new client socket before the controller has seen that exchange answered
	// and bypassed it, so under its own port's budget a server answering a burst of new
	// sockets (a resolver's queries, each from a new port) would lose answers (measured: 1-10
	// of 150 in the dns-ntp e2e workload). The price: a scanner sending from a privileged
	// source port (nmap -g 53) to ports 32768 and above is not held to the budget; it is still
	// copied and detected.
	priorityServiceAnswer uint16 = 1555
	priorityBudgetUDP     uint16 = 1550 // above 1500 UDP
	priorityBudgetICMP    uint16 = 1450 // above 1400 ICMP
	priorityBudgetRefusal uint16 = 1402 // above the port's answer rows (1401) and 1400 ICMP
	priorityBudgetReset   uint16 = 1882 // above the port's RST answer row (1881) and 1880 RST
	priorityGroupOther    uint16 = 1160 // other protocols to a group address: copied, no budget
	priorityBudgetOther   uint16 = 1150 // above 1100 other IP protocols; below every TCP, UDP, ICMP rule
)

// Budget defaults: packets per second and at once, per port and class.
const (
	DefaultBudgetStrayRate, DefaultBudgetStrayBurst = 50, 4
	DefaultBudgetUDPRate, DefaultBudgetUDPBurst     = 0, 16
	DefaultBudgetICMPRate, DefaultBudgetICMPBurst   = 20, 8
	DefaultBudgetOtherRate, DefaultBudgetOtherBurst = 20, 4
	// 3 refusals decide a UDP or IP-protocol scan (detect.Config.RefusedPorts); Linux itself
	// sends about one a second after a burst of 6.
	DefaultBudgetRefusalRate, DefaultBudgetRefusalBurst = 1, 3
	// 3 nmap-shaped SYNs (or 3 stray RSTs) decide; 10/s keeps a client retrying a closed port
	// a few times a second refused at once.
	DefaultBudgetResetRate, DefaultBudgetResetBurst = 10, 3
)

// BudgetConfig sets a port's probe budgets. A class with rate 0 has none.
type BudgetConfig struct {
	Rate, Burst [numBudgetClasses]uint32
	MaxLen      uint16 // bytes of the copy; 0 = DefaultWatchMaxLen
	// PlainController copies with a plain output:CONTROLLER (see WatchConfig).
	PlainController bool
}

// DefaultBudgetConfig returns the default budgets of every class.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{
		Rate: [numBudgetClasses]uint32{DefaultBudgetStrayRate, DefaultBudgetUDPRate, DefaultBudgetICMPRate, DefaultBudgetOtherRate,
			DefaultBudgetRefusalRate, DefaultBudgetResetRate},
		Burst: [numBudgetClasses]uint32{DefaultBudgetStrayBurst, DefaultBudgetUDPBurst, DefaultBudgetICMPBurst, DefaultBudgetOtherBurst,
			DefaultBudgetRefusalBurst, DefaultBudgetResetBurst},
	}
}

// budgetRule is one per-port budget flow, for one IP version.
type budgetRule struct {
	class    BudgetClass
	copy     Class
	priority uint16
	fields   []ofp.OXM
}

func budgetRules() []budgetRule {
	var rs []budgetRule
	for _, et := range []uint16{ethTypeIPv4, ethTypeIPv6} {
		tcp := func(copy Class, prio uint16, flags, mask uint16) {
			rs = append(rs, budgetRule{BudgetStray, copy, prio,
				[]ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flags, mask)}})
		}
		tcp(ClassTCPReply, priorityBudgetFinAck, flagsFIN|flagsACK, flagsFIN|flagsACK|flagsSYN|flagsRST)
		tcp(ClassTCPProbe, priorityBudgetUrgAck, flagsURG|flagsACK, flagsURG|flagsACK|flagsSYN|flagsRST)
		tcp(ClassTCPAck, priorityBudgetAck, flagsACK, tcpFlagsAll)
		rs = append(rs, budgetRule{BudgetReset, classAnswer, priorityBudgetReset,
			[]ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flagsRST, flagsRST)}})
		rs = append(rs, budgetRule{BudgetUDP, ClassUDP, priorityBudgetUDP, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoUDP)}})
		rs = append(rs, budgetRule{BudgetOther, ClassOther, priorityBudgetOther, []ofp.OXM{ofp.MatchEthType(et)}})
	}
	// Requests only: replies and errors are the targets' answers.
	for _, typ := range []uint8{8, 13, 15, 17} { // echo, timestamp, information, address mask
		rs = append(rs, budgetRule{BudgetICMP, ClassICMP, priorityBudgetICMP,
			[]ofp.OXM{ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(ipProtoICMP), ofp.MatchICMPv4Type(typ)}})
	}
	rs = append(rs, budgetRule{BudgetICMP, ClassICMP, priorityBudgetICMP,
		[]ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(128)}})
	// Refusals: ICMP destination unreachable, protocol (2) and port (3); ICMPv6 destination
	// unreachable, port (1/4), and parameter problem, unrecognized next header (4/1). Copied
	// through the port's answer meter (replies.go), as the answer rows they sit above.
	refusal := func(fields ...ofp.OXM) {
		rs = append(rs, budgetRule{BudgetRefusal, classAnswer, priorityBudgetRefusal, fields})
	}
	for _, code := range []uint8{2, 3} {
		refusal(ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(ipProtoICMP), ofp.MatchICMPv4Type(3), ofp.MatchICMPv4Code(code))
	}
	refusal(ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(1), ofp.MatchICMPv6Code(4))
	refusal(ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(4), ofp.MatchICMPv6Code(1))
	return rs
}

// BudgetFlows returns the meters and flows of port's probe budgets, with
// the cookie of its first-contact flows (FirstContactDelete removes both).
// Nil for ports without meters (reserved ports, numbers above
// MaxFirstContactPort) or when every class is off.
func BudgetFlows(port uint32, cfg BudgetConfig) []ofp.Message {
	if port == 0 || port > MaxFirstContactPort {
		return nil
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultWatchMaxLen
	}
	var msgs []ofp.Message
	for c := range numBudgetClasses {
		if cfg.Rate[c] == 0 {
			continue
		}
		m := BudgetMeter(port, c)
		msgs = appendMeterReplace(msgs, m, cfg.Rate[c], max(cfg.Burst[c], 1))
	}
	for _, r := range budgetRules() {
		if cfg.Rate[r.class] == 0 {
			continue
		}
		var copyAct ofp.Action
		switch {
		case cfg.PlainController:
			copyAct = forward.Output(ofp.PortController, cfg.MaxLen)
		case r.copy == classAnswer:
			copyAct = ControllerMetered(cfg.MaxLen, ReplyMeter(port))
		default:
			copyAct = ControllerMetered(cfg.MaxLen, r.copy.Meter())
		}
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:   FirstContactCookie(port),
			TableID:  forward.TableWatch,
			Command:  ofp.FlowAdd,
			Priority: r.priority,
			BufferID: ofp.NoBuffer,
			OutPort:  ofp.PortAny,
			OutGroup: ofp.GroupAny,
			Match:    ofp.Match{Fields: append([]ofp.OXM{ofp.MatchInPort(port)}, r.fields...)},
			Instructions: []ofp.Instruction{&ofp.InstrMeter{MeterID: BudgetMeter(port, r.class)},
				forward.Apply(copyAct), forward.Goto(forward.TableLearn)},
		})
	}
	return msgs
}

// budgetMeterDeletes returns the deletes of port's budget meters (deleting
// a meter that does not exist is not an error).
func budgetMeterDeletes(port uint32) []ofp.Message {
	msgs := make([]ofp.Message, 0, numBudgetClasses)
	for c := range numBudgetClasses {
		msgs = append(msgs, &ofp.MeterMod{Command: ofp.MeterDelete, MeterID: BudgetMeter(port, c)})
	}
	return msgs
}

// classAnswer marks a budget rule whose copies go through the port's answer
// meter (ReplyMeter), as the answer rows it sits above do.
const classAnswer Class = 0xff
