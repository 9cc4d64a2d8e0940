package policy

import (
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Per-port answer copies (issue 8, item 4). The answers to attempts are
// the detector's evidence: a SYN-ACK or an echo reply says a first contact
// succeeded, a RST or an ICMP error that it failed, and no answer at all
// counts as a failure after a timeout. A meter that drops an answer's copy
// turns a success into a failure, so the copies must be metered where one
// station cannot starve another, and the controller must know whose
// answers a drop cost. ReplyFlows gives each switch port its own meter for
// the answers entering there, in flows one priority above the watch table's
// class rows (which stay the fallback for ports without them); the
// controller reads the meters' drop counters and tells the detector whose
// answers may be missing (detect.Detector.ReplyLoss).

const (
	// MaxReplyPort is the highest port number that gets answer flows.
	MaxReplyPort uint32 = 0xfffe

	DefaultReplyRate  = 500
	DefaultReplyBurst = 250

	cookieReply = 0x200 // cookie value marker (watch kind), OR the port
)

// ReplyConfig sets the per-port answer meters.
type ReplyConfig struct {
	Rate, Burst uint32 // copies per second, and at once; 0 = defaults
	MaxLen      uint16 // bytes of the copy; 0 = DefaultWatchMaxLen
}

// ReplyCookie is the cookie of port's answer flows.
func ReplyCookie(port uint32) uint64 {
	return forward.Cookie(forward.KindWatch, cookieReply<<16|uint64(port))
}

// ReplyMeter is the meter of port's answer copies.
func ReplyMeter(port uint32) uint32 { return forward.MeterReplyBase + port }

// ReplyPort returns the switch port whose answer meter id is, if it is one.
func ReplyPort(id uint32) (uint32, bool) {
	if id <= forward.MeterReplyBase || id > forward.MeterReplyBase+MaxReplyPort {
		return 0, false
	}
	return id - forward.MeterReplyBase, true
}

// replyRule is one answer row for a port.
type replyRule struct {
	priority uint16
	fields   []ofp.OXM
}

func replyRules() []replyRule {
	var rs []replyRule
	for _, et := range []uint16{ethTypeIPv4, ethTypeIPv6} {
		tcp := []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP)}
		rs = append(rs,
			replyRule{forward.PriorityReplySYNACK, append(tcp[:2:2], ofp.MatchTCPFlags(flagsSYN|flagsACK, flagsSYN|flagsACK))},
			replyRule{forward.PriorityReplyRST, append(tcp[:2:2], ofp.MatchTCPFlags(flagsRST, flagsRST))})
	}
	// ICMP echo, timestamp and mask replies; unreachable, time exceeded, parameter problem.
	for _, typ := range []uint8{0, 3, 11, 12, 14, 18} {
		rs = append(rs, replyRule{forward.PriorityReplyICMP, []ofp.OXM{ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(ipProtoICMP), ofp.MatchICMPv4Type(typ)}})
	}
	for _, typ := range []uint8{1, 3, 4, 129} {
		rs = append(rs, replyRule{forward.PriorityReplyICMP, []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(typ)}})
	}
	// All ARP, not only replies: no flow of the pipeline may look at the ARP opcode, which the
	// blocks' datapath guards use (guard.go). A port's lookups go through its meter too.
	rs = append(rs,
		replyRule{forward.PriorityReplyDiscover, []ofp.OXM{ofp.MatchEthType(ethTypeARP)}},
		replyRule{forward.PriorityReplyDiscover, []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(136)}})
	return rs
}

// ReplyFlows returns the meter and the flows that copy the answers entering
// at port through that port's own meter, and continue to the learning
// table like every watch flow. Nil for ports without them (reserved ports
// and numbers above MaxReplyPort). It needs Open vSwitch's controller
// action with a meter (see ControllerMetered); with WatchConfig's
// PlainController there are no per-port answer flows.
func ReplyFlows(port uint32, cfg ReplyConfig) []ofp.Message {
	if port == 0 || port > MaxReplyPort {
		return nil
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultReplyRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(cfg.Rate/2, 1)
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultWatchMaxLen
	}
	meter := ReplyMeter(port)
	msgs := appendMeterReplace(nil, meter, cfg.Rate, cfg.Burst)
	instrs := []ofp.Instruction{forward.Apply(ControllerMetered(cfg.MaxLen, meter)), forward.Goto(forward.TableLearn)}
	for _, r := range replyRules() {
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:       ReplyCookie(port),
			TableID:      forward.TableWatch,
			Command:      ofp.FlowAdd,
			Priority:     r.priority,
			BufferID:     ofp.NoBuffer,
			OutPort:      ofp.PortAny,
			OutGroup:     ofp.GroupAny,
			Match:        ofp.Match{Fields: append([]ofp.OXM{ofp.MatchInPort(port)}, r.fields...)},
			Instructions: instrs,
		})
	}
	return msgs
}

// ReplyDelete removes port's answer flows and meter (the port was deleted).
func ReplyDelete(port uint32) []ofp.Message {
	if port == 0 || port > MaxReplyPort {
		return nil
	}
	return []ofp.Message{
		&ofp.FlowMod{Cookie: ReplyCookie(port), CookieMask: forward.CookieExactMask, TableID: forward.TableWatch,
			Command: ofp.FlowDelete, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny, OutGroup: ofp.GroupAny},
		&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: ReplyMeter(port)},
	}
}
