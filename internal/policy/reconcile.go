package policy

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// BlockFlowsRequest returns the flow-stats request that lists every block flow of ours on a switch
// (cookie-masked on magic and kind): its reply is the "have" of Reconcile.
func BlockFlowsRequest() *ofp.MultipartRequest {
	return flowsOfKind(ofp.TableAll, forward.KindBlock)
}

// BlockFlowRequest returns the flow-stats request that lists the flows of block b alone (by its
// exact cookie): Reconcile([]Block{b}, reply, ...) returns nothing when they are all there.
func BlockFlowRequest(b Block) *ofp.MultipartRequest {
	return &ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{
		TableID:    ofp.TableAll,
		OutPort:    ofp.PortAny,
		OutGroup:   ofp.GroupAny,
		Cookie:     b.FlowCookie(),
		CookieMask: forward.CookieExactMask,
	}}
}

// flowsOfKind is a flow-stats request for every flow of ours of kind k in
// table (ofp.TableAll: every table).
func flowsOfKind(table uint8, k forward.Kind) *ofp.MultipartRequest {
	c, m := forward.KindCookie(k)
	return &ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{
		TableID:    table,
		OutPort:    ofp.PortAny,
		OutGroup:   ofp.GroupAny,
		Cookie:     c,
		CookieMask: m,
	}}
}

// Reconcile compares the blocks that should be in force (want) with the flows switch dpid has
// (have: a flow-stats reply; flows that are not block flows of ours are ignored, so the reply to
// any request can be passed) and returns the messages that make the switch agree at now:
//
//   - a block flow whose cookie belongs to no active wanted block is stale: deleted by its cookie;
//   - a wanted block whose flows are missing on the switch, or differ from what BlockInstall would
//     install (a match missing or extra), gets all its flows added again (an ADD of a flow that is
//     there replaces it) and each extra flow of its cookie deleted strictly (table, priority,
//     match, cookie), so the block never has a moment without its drops;
//   - a wanted block whose flows are all there is left alone (their hard timeouts keep running).
//
// Adds come before deletes, for the same reason. The result is deterministic: blocks in the order
// given, then extra flows in the order the switch reported them, then stale cookies in ascending
// order. The returned messages share nothing with have.
func Reconcile(want []Block, have []ofp.FlowStats, dpid uint64, now time.Time) []ofp.Message {
	type haveFlow struct {
		key   string
		table uint8
		prio  uint16
		match ofp.Match
	}
	haveByCookie := map[uint64][]haveFlow{}
	for i := range have {
		f := &have[i]
		if k, ok := forward.CookieKind(f.Cookie); !ok || k != forward.KindBlock {
			continue
		}
		haveByCookie[f.Cookie] = append(haveByCookie[f.Cookie],
			haveFlow{flowKey(f.TableID, f.Priority, f.Match), f.TableID, f.Priority, f.Match})
	}

	var adds, deletes []ofp.Message
	wanted := map[uint64]bool{}
	for _, b := range want {
		c := b.FlowCookie()
		flows := BlockInstall(b, dpid, now)
		if len(flows) == 0 || wanted[c] {
			continue
		}
		wanted[c] = true
		wantKeys := make(map[string]bool, len(flows))
		for _, m := range flows {
			fm := m.(*ofp.FlowMod)
			wantKeys[flowKey(fm.TableID, fm.Priority, fm.Match)] = true
		}
		hv := haveByCookie[c]
		same := len(hv) > 0
		haveKeys := make(map[string]bool, len(hv))
		for _, h := range hv {
			haveKeys[h.key] = true
			if !wantKeys[h.key] {
				same = false
			}
		}
		for k := range wantKeys {
			if !haveKeys[k] {
				same = false
			}
		}
		if same {
			continue
		}
		adds = append(adds, flows...)
		for _, h := range hv {
			if !wantKeys[h.key] {
				deletes = append(deletes, deleteStrict(c, h.table, h.prio, h.match))
			}
		}
	}
	var stale []uint64
	for c := range haveByCookie {
		if !wanted[c] {
			stale = append(stale, c)
		}
	}
	slices.Sort(stale)
	for _, c := range stale {
		deletes = append(deletes, deleteCookie(c))
	}
	return append(adds, deletes...)
}

// deleteStrict removes exactly one flow of cookie c; the match is copied (a reply's fields alias
// its buffer).
func deleteStrict(c uint64, table uint8, prio uint16, m ofp.Match) *ofp.FlowMod {
	fields := make([]ofp.OXM, len(m.Fields))
	for i, f := range m.Fields {
		f.Value = slices.Clone(f.Value)
		f.Mask = slices.Clone(f.Mask)
		fields[i] = f
	}
	return &ofp.FlowMod{
		Cookie:     c,
		CookieMask: forward.CookieExactMask,
		TableID:    table,
		Command:    ofp.FlowDeleteStrict,
		Priority:   prio,
		BufferID:   ofp.NoBuffer,
		OutPort:    ofp.PortAny,
		OutGroup:   ofp.GroupAny,
		Match:      ofp.Match{Fields: fields},
	}
}

// flowKey identifies a flow by table, priority and match, independent of the order of the match's
// fields (a switch reports them in its own order).
func flowKey(table uint8, prio uint16, m ofp.Match) string {
	fields := make([][]byte, 0, len(m.Fields))
	for _, f := range m.Fields {
		var b []byte
		b = binary.BigEndian.AppendUint16(b, f.Class)
		b = append(b, f.Field)
		b = binary.BigEndian.AppendUint32(b, f.Experimenter)
		b = append(b, byte(len(f.Value)))
		b = append(b, f.Value...)
		b = append(b, byte(len(f.Mask)))
		b = append(b, f.Mask...)
		fields = append(fields, b)
	}
	slices.SortFunc(fields, bytes.Compare)
	k := []byte{table, byte(prio >> 8), byte(prio)}
	for _, f := range fields {
		k = append(k, f...)
	}
	return string(k)
}
