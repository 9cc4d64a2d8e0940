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
//     install (a match missing or extra), gets its flows deleted by cookie and installed again;
//   - a wanted block whose flows are all there is left alone (their hard timeouts keep running).
//
// Deletes come before adds. The result is deterministic: blocks in the order given, stale cookies in
// ascending order.
func Reconcile(want []Block, have []ofp.FlowStats, dpid uint64, now time.Time) []ofp.Message {
	haveByCookie := map[uint64][]string{}
	for i := range have {
		f := &have[i]
		if k, ok := forward.CookieKind(f.Cookie); !ok || k != forward.KindBlock {
			continue
		}
		haveByCookie[f.Cookie] = append(haveByCookie[f.Cookie], flowKey(f.TableID, f.Priority, f.Match))
	}

	var deletes, adds []ofp.Message
	wanted := map[uint64]bool{}
	for _, b := range want {
		c := b.FlowCookie()
		flows := BlockInstall(b, dpid, now)
		if len(flows) == 0 || wanted[c] {
			continue
		}
		wanted[c] = true
		wantKeys := make([]string, 0, len(flows))
		for _, m := range flows {
			fm := m.(*ofp.FlowMod)
			wantKeys = append(wantKeys, flowKey(fm.TableID, fm.Priority, fm.Match))
		}
		haveKeys, present := haveByCookie[c]
		if present && sameKeys(wantKeys, haveKeys) {
			continue
		}
		if present {
			deletes = append(deletes, deleteCookie(c))
		}
		adds = append(adds, flows...)
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
	return append(deletes, adds...)
}

func sameKeys(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
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
