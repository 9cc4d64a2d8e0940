package policy

import (
	"time"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// PriorityBlockGuard is the priority of a block's datapath guards: above its drop flows, so Open
// vSwitch's classifier looks at the guards first for every packet the block drops.
const PriorityBlockGuard = forward.PriorityBlock + 1

// BlockInstall returns the flow-mods that install block b on switch dpid at now: its drop flows
// (BlockFlows) and, after them, its datapath guards; nothing where the block has no flows.
//
// A guard is one more drop flow per drop flow and EtherType (IPv4, IPv6, ARP): the drop flow's
// match plus a field no flow of the pipeline looks at (IP ECN = CE, ARP opcode 255), so it drops a
// subset of what the block drops, with the block's cookie and hard timeout. It exists for what
// Open vSwitch caches in its datapath, not for what it matches. Looking it up makes the classifier
// un-wildcard that field for every packet of the blocked traffic. So when the block lands, the
// revalidator finds every cached forwarding megaflow of that traffic too generic (it wildcards the
// field) and deletes it, instead of rewriting its actions to drop in place; and the drops cached
// while the block holds carry that field but not the destination MAC every forwarding decision
// needs, so the lift deletes them too.
//
// Without guards, a forwarding megaflow rewritten to drop keeps its wide mask, and at the lift the
// revalidator rewrites it back in place. Open vSwitch's userspace datapath before 3.1.3 looks the
// megaflow to rewrite up by key, not by its UFID (fixed upstream by commit 21410ff80,
// "dpif-netdev: Fix dpif_netdev_flow_put"): the rewrite can land on another, narrower drop megaflow
// cached during the block that also matches the key, and the wide one keeps dropping for as long
// as the host keeps sending into it, while the switch's flow table and ofproto/trace say it
// forwards (the lifted host stayed cut off in about 1 lift of 15, with Debian's 3.1.0). The guards
// come after the drop flows, so a megaflow rewritten to drop in between is deleted once they are in.
func BlockInstall(b Block, dpid uint64, now time.Time) []ofp.Message {
	msgs := BlockFlows(b, dpid, now)
	n := len(msgs)
	for _, m := range msgs[:n] {
		fm, ok := m.(*ofp.FlowMod)
		if !ok {
			continue
		}
		_, typed := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthType)
		for _, gf := range guardFields {
			et := gf.ethType
			if typed && !hasEthType(fm.Match, et) {
				continue
			}
			g := *fm
			g.Priority = PriorityBlockGuard
			fields := make([]ofp.OXM, 0, len(fm.Match.Fields)+2)
			fields = append(fields, fm.Match.Fields...)
			if !typed {
				fields = append(fields, ofp.MatchEthType(et))
			}
			g.Match = ofp.Match{Fields: append(fields, gf.field)}
			msgs = append(msgs, &g)
		}
	}
	return msgs
}

// guardFields are, per EtherType, the field a guard adds and the value it matches: one that no
// flow of the pipeline looks at (so forwarding megaflows wildcard it) and whose match is a subset of
// what the drop flow drops anyway. IPv4 and IPv6: ECN CE; ARP: an opcode nobody sends.
var guardFields = []struct {
	ethType uint16
	field   ofp.OXM
}{
	{ethTypeIPv4, ofp.MatchIPECN(3)},
	{ethTypeIPv6, ofp.MatchIPECN(3)},
	{ethTypeARP, ofp.MatchARPOp(0xff)},
}

func hasEthType(m ofp.Match, et uint16) bool {
	f, ok := m.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthType)
	return ok && len(f.Value) == 2 && uint16(f.Value[0])<<8|uint16(f.Value[1]) == et
}
