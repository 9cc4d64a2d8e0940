package policy

import (
	"encoding/binary"
	"net"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Class is what a watch flow copies to the controller. It is the value of the watch flow's cookie,
// so a packet-in tells which class copied it (WatchClass), and each class has its own meter.
type Class uint8

// Watch classes.
const (
	ClassTCPProbe Class = 1 // SYN without ACK; flag combinations without ACK (FIN, NULL, Xmas ...); URG
	ClassTCPReply Class = 2 // SYN-ACK, RST, FIN-ACK: the outcome of attempts
	ClassUDP      Class = 3 // UDP
	ClassICMP     Class = 4 // ICMP, ICMPv6 echo and errors
	ClassDiscover Class = 5 // ARP, IPv6 neighbour solicitation/advertisement
	ClassTCPAck   Class = 6 // pure ACK (exactly ACK): ACK and window scans; benign streams are bypassed
	ClassOther    Class = 7 // IP protocols other than TCP, UDP and ICMP: IP protocol scans
	ClassFragment Class = 8 // IP fragments with a nonzero offset (overlap evidence)
)

var classNames = [...]string{"unknown", "tcp-probe", "tcp-reply", "udp", "icmp", "discover", "tcp-ack", "other", "fragment"}

// String returns the class name ("tcp-probe").
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Meter returns the meter id of the class (forward.MeterWatch*).
func (c Class) Meter() uint32 {
	switch c {
	case ClassTCPProbe:
		return forward.MeterWatchTCPProbe
	case ClassTCPReply:
		return forward.MeterWatchTCPReply
	case ClassUDP:
		return forward.MeterWatchUDP
	case ClassICMP:
		return forward.MeterWatchICMP
	case ClassDiscover:
		return forward.MeterWatchDiscover
	case ClassTCPAck:
		return forward.MeterWatchTCPAck
	case ClassOther:
		return forward.MeterWatchOther
	case ClassFragment:
		return forward.MeterWatchFragment
	}
	return 0
}

// WatchClass returns the class of a packet-in copied by a watch flow; ok is false for any other
// packet-in (a learning miss, a flow that is not ours).
func WatchClass(pi *ofp.PacketIn) (Class, bool) {
	k, ok := forward.CookieKind(pi.Cookie)
	if !ok || k != forward.KindWatch || pi.TableID != forward.TableWatch {
		return 0, false
	}
	c := Class(forward.CookieValue(pi.Cookie))
	if c < ClassTCPProbe || c > ClassFragment {
		return 0, false
	}
	return c, true
}

// WatchConfig tunes the watch table. Zero fields take their defaults.
type WatchConfig struct {
	// MaxLen is how many bytes of a copied packet reach the controller (default 192: Ethernet,
	// IPv6, TCP with options, or an ICMPv6 error quoting an IPv6+TCP header).
	MaxLen uint16
	// Rates in packets per second of each class's meter, and bursts in packets (default burst:
	// rate/2, at least 1).
	TCPProbeRate, TCPReplyRate, UDPRate, ICMPRate, DiscoverRate      uint32
	TCPProbeBurst, TCPReplyBurst, UDPBurst, ICMPBurst, DiscoverBurst uint32
	TCPAckRate, OtherRate                                            uint32
	TCPAckBurst, OtherBurst                                          uint32
	FragmentRate, FragmentBurst                                      uint32
	// PlainController copies with a plain output:CONTROLLER (all classes then share the
	// OFPM_CONTROLLER meter) instead of Open vSwitch's controller action with a per-class
	// meter_id. For switches without the Nicira extension.
	PlainController bool
}

// Default watch rates (packets per second).
const (
	DefaultWatchMaxLen  = 192
	DefaultTCPProbeRate = 500
	DefaultTCPReplyRate = 500
	DefaultUDPRate      = 300
	DefaultICMPRate     = 200
	DefaultDiscoverRate = 200
	DefaultTCPAckRate   = 200
	DefaultOtherRate    = 100
	DefaultFragmentRate = 100
)

func (c WatchConfig) withDefaults() WatchConfig {
	if c.MaxLen == 0 {
		c.MaxLen = DefaultWatchMaxLen
	}
	def := func(rate, burst *uint32, d uint32) {
		if *rate == 0 {
			*rate = d
		}
		if *burst == 0 {
			*burst = max(*rate/2, 1)
		}
	}
	def(&c.TCPProbeRate, &c.TCPProbeBurst, DefaultTCPProbeRate)
	def(&c.TCPReplyRate, &c.TCPReplyBurst, DefaultTCPReplyRate)
	def(&c.UDPRate, &c.UDPBurst, DefaultUDPRate)
	def(&c.ICMPRate, &c.ICMPBurst, DefaultICMPRate)
	def(&c.DiscoverRate, &c.DiscoverBurst, DefaultDiscoverRate)
	def(&c.TCPAckRate, &c.TCPAckBurst, DefaultTCPAckRate)
	def(&c.OtherRate, &c.OtherBurst, DefaultOtherRate)
	def(&c.FragmentRate, &c.FragmentBurst, DefaultFragmentRate)
	return c
}

func (c WatchConfig) rate(cl Class) (rate, burst uint32) {
	switch cl {
	case ClassTCPProbe:
		return c.TCPProbeRate, c.TCPProbeBurst
	case ClassTCPReply:
		return c.TCPReplyRate, c.TCPReplyBurst
	case ClassUDP:
		return c.UDPRate, c.UDPBurst
	case ClassICMP:
		return c.ICMPRate, c.ICMPBurst
	case ClassDiscover:
		return c.DiscoverRate, c.DiscoverBurst
	case ClassTCPAck:
		return c.TCPAckRate, c.TCPAckBurst
	case ClassOther:
		return c.OtherRate, c.OtherBurst
	case ClassFragment:
		return c.FragmentRate, c.FragmentBurst
	}
	return 0, 0
}

// Nicira extension: the controller action with properties (NXAST_CONTROLLER2), which is how Open
// vSwitch encodes controller(max_len=N,meter_id=M). Layout checked against the bytes ovs-ofctl 3.1
// sends for that action.
const (
	nxExperimenterID   uint32 = 0x00002320 // NX_VENDOR_ID
	nxastController2   uint16 = 37         // NXAST_CONTROLLER2
	nxac2ptMaxLen      uint16 = 0          // NXAC2PT_MAX_LEN
	nxac2ptMeterID     uint16 = 5          // NXAC2PT_METER_ID
	ethTypeIPv4        uint16 = 0x0800
	ethTypeIPv6        uint16 = 0x86dd
	ethTypeARP         uint16 = 0x0806
	ipProtoTCP         uint8  = 6
	ipProtoUDP         uint8  = 17
	ipProtoICMP        uint8  = 1
	ipProtoICMPv6      uint8  = 58
	ipProtoSCTP        uint8  = 132
	flagsFIN, flagsSYN        = ofp.TCPFlagFIN, ofp.TCPFlagSYN
	flagsRST, flagsACK        = ofp.TCPFlagRST, ofp.TCPFlagACK
	flagsURG                  = ofp.TCPFlagURG
	tcpFlagsAll        uint16 = 0x01ff // NS..FIN
)

// PriorityWatchAckOther is the watch row of PSH/ACK and every other segment
// with ACK but without SYN or RST that no row above took: below 1840 (exactly
// ACK), above 1200 (the TCP pass rule).
const PriorityWatchAckOther uint16 = 1835

// ControllerMetered returns Open vSwitch's controller action that sends at most maxLen bytes of the
// packet to the controller through meter meterID (NXAST_CONTROLLER2 with NXAC2PT_MAX_LEN and
// NXAC2PT_METER_ID). Unlike a meter instruction, it meters only the copy, never the packet that
// continues through the pipeline.
func ControllerMetered(maxLen uint16, meterID uint32) ofp.Action {
	d := make([]byte, 0, 24)
	d = binary.BigEndian.AppendUint16(d, nxastController2)
	d = append(d, 0, 0, 0, 0, 0, 0)
	d = binary.BigEndian.AppendUint16(d, nxac2ptMaxLen)
	d = binary.BigEndian.AppendUint16(d, 8) // OVS sends u16 properties padded to 32 bits, length 8
	d = binary.BigEndian.AppendUint16(d, maxLen)
	d = append(d, 0, 0)
	d = binary.BigEndian.AppendUint16(d, nxac2ptMeterID)
	d = binary.BigEndian.AppendUint16(d, 8)
	d = binary.BigEndian.AppendUint32(d, meterID)
	return &ofp.ActionExperimenter{Experimenter: nxExperimenterID, Data: d}
}

// watchRule is one row of the watch table, for one IP version.
type watchRule struct {
	class    Class
	priority uint16
	fields   []ofp.OXM
	drop     bool // copy and drop: the packet does not continue
}

// multicastDst matches a group (multicast or broadcast) destination MAC: the I/G bit.
var multicastDst = ofp.MatchEthDstMasked(net.HardwareAddr{1, 0, 0, 0, 0, 0}, net.HardwareAddr{1, 0, 0, 0, 0, 0})

// watchRules is the watch table (docs/pipeline.md explains each row).
func watchRules() []watchRule {
	var rs []watchRule
	tcp := func(et uint16, class Class, prio uint16, flags, mask uint16) {
		rs = append(rs, watchRule{class, prio, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flags, mask)}, false})
	}
	drop := func(et uint16, flags, mask uint16) {
		rs = append(rs, watchRule{ClassTCPProbe, forward.PriorityWatchDrop,
			[]ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP), ofp.MatchTCPFlags(flags, mask)}, true})
	}
	for _, et := range []uint16{ethTypeIPv4, ethTypeIPv6} {
		// Later fragments first: no transport header, so every rule below would see zeroed flags.
		rs = append(rs, watchRule{ClassFragment, forward.PriorityWatchFragment,
			[]ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPFrag(ofp.IPFragAny|ofp.IPFragLater, ofp.IPFragAny|ofp.IPFragLater)}, false})
		// Flag mixes no stack sends: copied and dropped. The last one also catches a first fragment
		// too short to hold the TCP flags (RFC 1858), which Open vSwitch matches with flags 0.
		drop(et, flagsSYN|flagsFIN, flagsSYN|flagsFIN)                                       // SYN+FIN
		drop(et, flagsSYN|flagsRST, flagsSYN|flagsRST)                                       // SYN+RST
		drop(et, flagsFIN|flagsRST, flagsFIN|flagsRST)                                       // FIN+RST
		drop(et, 0, flagsSYN|flagsACK|flagsRST)                                              // no SYN/ACK/RST: FIN, NULL, Xmas ...
		tcp(et, ClassTCPProbe, 1900, flagsSYN, flagsSYN|flagsACK)                            // SYN, no ACK
		tcp(et, ClassTCPReply, 1890, flagsSYN|flagsACK, flagsSYN|flagsACK)                   // SYN-ACK
		tcp(et, ClassTCPReply, 1880, flagsRST, flagsRST)                                     // any RST
		tcp(et, ClassTCPReply, 1860, flagsFIN|flagsACK, flagsFIN|flagsACK|flagsSYN|flagsRST) // FIN-ACK (Maimon)
		tcp(et, ClassTCPProbe, 1850, flagsURG|flagsACK, flagsURG|flagsACK|flagsSYN|flagsRST) // URG with ACK
		tcp(et, ClassTCPAck, 1840, flagsACK, tcpFlagsAll)                                    // exactly ACK: ACK/window probes
		// Any other segment with ACK and without SYN or RST (PSH/ACK, ACK with ECE or CWR): copied
		// under the tcp-ack meter, without a budget, so that a PSH/ACK probe (nmap -sA --scanflags
		// ACKPSH) is seen where it entered and paired with the RST it draws; a conversation's data
		// before its bypass lands is never held back.
		tcp(et, ClassTCPAck, PriorityWatchAckOther, flagsACK, flagsACK|flagsSYN|flagsRST)
		// Other TCP is never copied; the pass rule keeps it from the catch-all below.
		rs = append(rs, watchRule{0, 1200, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoTCP)}, false})
		// Any other IP protocol (GRE, ESP, SCTP, raw protocol numbers): IP protocol scans.
		rs = append(rs, watchRule{ClassOther, 1100, []ofp.OXM{ofp.MatchEthType(et)}, false})
		rs = append(rs, watchRule{ClassUDP, 1500, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoUDP)}, false})
		// UDP and other protocols to a group address (mDNS, SSDP, DHCP, IGMP, VRRP, OSPF) are
		// copied without the per-port budgets below them (budget.go): scans probe unicast.
		rs = append(rs, watchRule{ClassUDP, priorityGroupUDP, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoUDP), multicastDst}, false})
		rs = append(rs, watchRule{ClassOther, priorityGroupOther, []ofp.OXM{ofp.MatchEthType(et), multicastDst}, false})
		// UDP from a privileged port to an ephemeral one: a server's answer (DNS, NTP, SNMP ...) to a
		// client socket, copied without the sending port's budget (budget.go explains the trade).
		rs = append(rs, watchRule{ClassUDP, priorityServiceAnswer, []ofp.OXM{ofp.MatchEthType(et), ofp.MatchIPProto(ipProtoUDP),
			ofp.MatchUDPSrcMasked(0, 0xfc00), ofp.MatchUDPDstMasked(0x8000, 0x8000)}, false})
	}
	rs = append(rs, watchRule{ClassICMP, 1400, []ofp.OXM{ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(ipProtoICMP)}, false})
	for _, typ := range []uint8{1, 3, 4, 128, 129} {
		rs = append(rs, watchRule{ClassICMP, 1400, []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(typ)}, false})
	}
	for _, typ := range []uint8{135, 136} {
		rs = append(rs, watchRule{ClassDiscover, 1300, []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6), ofp.MatchICMPv6Type(typ)}, false})
	}
	rs = append(rs, watchRule{ClassDiscover, 1300, []ofp.OXM{ofp.MatchEthType(ethTypeARP)}, false})
	// ICMPv6 not listed above (router and multicast listener messages) is never copied.
	rs = append(rs, watchRule{0, 1200, []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(ipProtoICMPv6)}, false})
	return rs
}

// WatchFlows returns what to send to a switch (on connect, after forward.Switch.Setup) to build the
// watch table: delete our old watch flows, (re)create the per-class meters, add the watch flows.
// Every watch flow copies the packet to the controller and continues to the learning table in the
// same pass, so forwarding never waits for detection.
func WatchFlows(cfg WatchConfig) []ofp.Message {
	cfg = cfg.withDefaults()
	msgs := []ofp.Message{forward.DeleteKind(forward.KindWatch)}
	if !cfg.PlainController {
		for c := ClassTCPProbe; c <= ClassFragment; c++ {
			rate, burst := cfg.rate(c)
			msgs = appendMeterReplace(msgs, c.Meter(), rate, burst)
		}
	}
	for _, r := range watchRules() {
		var copyAct ofp.Action
		if cfg.PlainController {
			copyAct = forward.Output(ofp.PortController, cfg.MaxLen)
		} else {
			copyAct = ControllerMetered(cfg.MaxLen, r.class.Meter())
		}
		instrs := []ofp.Instruction{forward.Apply(copyAct), forward.Goto(forward.TableLearn)}
		switch {
		case r.class == 0: // a pass rule: shields traffic from a catch-all below it
			instrs = []ofp.Instruction{forward.Goto(forward.TableLearn)}
		case r.drop:
			instrs = instrs[:1]
		}
		msgs = append(msgs, &ofp.FlowMod{
			Cookie:       forward.Cookie(forward.KindWatch, uint64(r.class)),
			TableID:      forward.TableWatch,
			Command:      ofp.FlowAdd,
			Priority:     r.priority,
			BufferID:     ofp.NoBuffer,
			OutPort:      ofp.PortAny,
			OutGroup:     ofp.GroupAny,
			Match:        ofp.Match{Fields: r.fields},
			Instructions: instrs,
		})
	}
	return msgs
}
