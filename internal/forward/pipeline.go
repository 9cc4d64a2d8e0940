package forward

import "portcullis/ofp"

// Tables of the Portcullis pipeline. Every packet walks them in this order; see docs/pipeline.md.
const (
	// TableAdmission drops traffic from blocked sources (policy block flows); its miss goes to
	// TableWatch.
	TableAdmission uint8 = 0
	// TableWatch copies what scan detection needs to the controller (metered) and always continues
	// to TableLearn, so forwarding never waits for the controller; its miss goes to TableLearn.
	TableWatch uint8 = 1
	// TableLearn matches source MACs already learned on their port; its miss copies the packet to
	// the controller (metered by OFPM_CONTROLLER) and continues to TableForward.
	TableLearn uint8 = 2
	// TableForward sends a packet to the port of its destination MAC; its miss floods.
	TableForward uint8 = 3
)

// Priorities. Within a table a higher priority wins; the table-miss flow of every table has
// PriorityMiss.
const (
	PriorityMiss uint16 = 0

	// TableAdmission: drop flows of blocks. All block flows share one priority: they only drop, so
	// their relative order never matters.
	PriorityBlock uint16 = 40000

	// TableWatch: watch flows sit between PriorityWatchLow and PriorityWatchHigh (policy orders
	// them within that band); bypass flows for conversations judged benign sit above all of them.
	PriorityWatchLow  uint16 = 1000
	PriorityWatchHigh uint16 = 1999
	PriorityBypass    uint16 = 3000

	// TableLearn and TableForward: learned MAC flows.
	PriorityLearned uint16 = 100
)

// Meter ids used by the pipeline. OFPM_CONTROLLER (ofp.MeterController) limits every packet-in that
// has no meter of its own: in practice the TableLearn misses. The watch classes each have a meter,
// applied through Open vSwitch's controller action with a meter_id (NXAST_CONTROLLER2), so a class
// that floods cannot starve the others and the forwarded packet is never metered.
const (
	MeterWatchTCPProbe uint32 = 1 // SYN without ACK, stealth flag combinations
	MeterWatchTCPReply uint32 = 2 // SYN-ACK, RST, FIN-ACK (outcomes of attempts)
	MeterWatchUDP      uint32 = 3 // UDP (first contacts)
	MeterWatchICMP     uint32 = 4 // ICMP and ICMPv6 probes and errors
	MeterWatchDiscover uint32 = 5 // ARP and IPv6 neighbour discovery
	MeterWatchTCPAck   uint32 = 6 // pure ACKs outside a bypassed conversation (ACK/window scans)
	MeterWatchOther    uint32 = 7 // IP protocols other than TCP, UDP, ICMP (IP protocol scans)
)

// WatchMeters lists the watch meter ids, in order.
var WatchMeters = [...]uint32{MeterWatchTCPProbe, MeterWatchTCPReply, MeterWatchUDP, MeterWatchICMP, MeterWatchDiscover,
	MeterWatchTCPAck, MeterWatchOther}

// Kind is what a flow is for, carried in bits 40-47 of its cookie.
type Kind uint8

// Flow kinds.
const (
	KindBase    Kind = 1 // table-miss flows of the pipeline
	KindLearned Kind = 2 // learned MAC flows in TableLearn and TableForward
	KindWatch   Kind = 3 // copies to the controller in TableWatch
	KindBypass  Kind = 4 // benign conversations no longer copied, in TableWatch
	KindBlock   Kind = 5 // drop flows of a block, in TableAdmission
	KindCount   Kind = 6 // counters the controller reads (per-port SYNs), in TableAdmission
)

var kindNames = [...]string{"unknown", "base", "learned", "watch", "bypass", "block", "count"}

// String returns the kind's name ("learned").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Cookie layout: | magic (16 bits) | kind (8 bits) | value (40 bits) |.
const (
	// CookieMagic marks a flow as installed by Portcullis ("PC" in the top 16 bits).
	CookieMagic uint64 = 0x5043 << 48
	// CookieMagicMask selects the magic: with it, a flow-stats request or delete covers every flow
	// of ours and nothing else.
	CookieMagicMask uint64 = 0xffff << 48
	// CookieKindMask selects magic and kind: every flow of ours of one kind.
	CookieKindMask uint64 = 0xffffff << 40
	// CookieValueMask selects the kind-specific value (block flows: the block's number).
	CookieValueMask uint64 = 1<<40 - 1
	// CookieExactMask selects the whole cookie.
	CookieExactMask uint64 = ^uint64(0)
)

// Cookie returns the cookie for a flow of kind k carrying value v (truncated to 40 bits).
func Cookie(k Kind, v uint64) uint64 {
	return CookieMagic | uint64(k)<<40 | v&CookieValueMask
}

// KindCookie returns the cookie and mask that select every flow of ours of kind k.
func KindCookie(k Kind) (cookie, mask uint64) {
	return Cookie(k, 0), CookieKindMask
}

// CookieKind returns the kind of a cookie of ours; ok is false for a cookie without our magic.
func CookieKind(c uint64) (k Kind, ok bool) {
	if c&CookieMagicMask != CookieMagic {
		return 0, false
	}
	return Kind(c >> 40), true
}

// CookieValue returns the 40-bit value of a cookie.
func CookieValue(c uint64) uint64 { return c & CookieValueMask }

// IsOurs reports whether cookie c carries the Portcullis magic.
func IsOurs(c uint64) bool { return c&CookieMagicMask == CookieMagic }

// DeleteKind returns a flow-mod that deletes every flow of ours of kind k in every table.
func DeleteKind(k Kind) *ofp.FlowMod {
	c, m := KindCookie(k)
	return &ofp.FlowMod{
		Cookie:     c,
		CookieMask: m,
		TableID:    ofp.TableAll,
		Command:    ofp.FlowDelete,
		BufferID:   ofp.NoBuffer,
		OutPort:    ofp.PortAny,
		OutGroup:   ofp.GroupAny,
	}
}

// Goto returns the goto-table instruction to table t.
func Goto(t uint8) ofp.Instruction { return &ofp.InstrGotoTable{TableID: t} }

// Apply returns an apply-actions instruction.
func Apply(actions ...ofp.Action) ofp.Instruction { return &ofp.InstrApplyActions{Actions: actions} }

// Output returns an output action to port p (maxLen only matters for ofp.PortController).
func Output(p uint32, maxLen uint16) ofp.Action { return &ofp.ActionOutput{Port: p, MaxLen: maxLen} }

// Probe budgets and evasion rules in TableWatch (internal/policy watch.go and budget.go; docs/pipeline.md
// "Table 1 WATCH" and "Probe budgets per port"). Kept apart from the constants above, which they do not
// renumber.
const (
	// PriorityWatchFragment: IP fragments with a nonzero offset (nw_frag=later) are copied and
	// forwarded before any other watch or bypass rule sees them: they carry no transport header, so
	// every rule below would judge them by zeroed fields.
	PriorityWatchFragment uint16 = 3200
	// PriorityWatchDrop: TCP flag combinations no stack sends outside a handshake (FIN, NULL, Xmas,
	// SYN+FIN, SYN+RST, FIN+RST) and first fragments too short for their TCP header are copied and
	// dropped, above the bypass flows: no conversation makes them legitimate.
	PriorityWatchDrop uint16 = 3100

	// MeterWatchFragment meters the copies of later fragments.
	MeterWatchFragment uint32 = 8
	// MeterBudgetBase | class<<16 | port is the meter of a port's probe budget of one class
	// (policy.BudgetFlows); classes 0-5, ports up to 0xfffe.
	MeterBudgetBase uint32 = 0x100000
)

// Per-port answer copies (policy.ReplyFlows, docs/pipeline.md "Meter-aware evidence"): the answers
// that enter at a switch port (SYN-ACK, RST, ICMP echo replies and errors, ARP replies, neighbour
// advertisements) are copied through that port's own meter, MeterReplyBase + port, so a station
// that floods answers overruns only its own meter and starves nobody else's evidence, and the
// controller knows whose answers a drop cost. Each sits one above the TableWatch row it refines.
const (
	PriorityReplySYNACK   uint16 = 1891 // above the SYN-ACK row (1890)
	PriorityReplyRST      uint16 = 1881 // above the RST row (1880)
	PriorityReplyICMP     uint16 = 1401 // above the ICMP rows (1400)
	PriorityReplyDiscover uint16 = 1301 // above the ARP and neighbour discovery rows (1300)

	// MeterReplyBase + port is the meter of a port's answer copies.
	MeterReplyBase uint32 = 0x20000
)
