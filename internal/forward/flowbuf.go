package forward

import (
	"net/netip"
	"time"

	"portcullis/ofp"
)

// Pointer-free tables. A station entry and an address binding hold no
// pointer (times are Unix nanoseconds, addresses 16-byte arrays), so the
// garbage collector never scans a switch's tables, and they are smaller:
// issue 9 measured half the controller's CPU in these tables at 1,000
// switches, much of it in the collector's marking of time.Time and
// netip.Addr pointers.

// nanos is a time as Unix nanoseconds; 0 is none (the zero time.Time).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// addrKey is an address as a map key without a pointer: its 16-byte form
// (IPv4 as v4-mapped; the addresses stored are unmapped first, so the form is
// unambiguous). Zones are dropped: packet sources carry none.
type addrKey [16]byte

func keyOf(a netip.Addr) addrKey { return a.As16() }

func (k addrKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// flowBuf holds one flow-mod and everything it points to (match fields,
// their values, the instruction and its action), so a flow-mod costs one
// slot of a chunk instead of a dozen allocations. A slot is handed out once
// and its message stays valid however long the caller keeps it, unless the
// caller calls Recycle: then the chunk's slots are used again.
type flowBuf struct {
	fm    ofp.FlowMod
	oxm   [2]ofp.OXM
	instr [1]ofp.Instruction
	gt    ofp.InstrGotoTable
	ap    ofp.InstrApplyActions
	act   [1]ofp.Action
	out   ofp.ActionOutput
	port  [4]byte
	mac   [6]byte
}

// flowBufChunk is how many flow-mods one allocation holds (about 12 KiB).
const flowBufChunk = 32

// flowBuf returns a slot not in use.
func (s *Switch) flowBuf() *flowBuf {
	if s.nbuf == len(s.bufs) {
		s.bufs = make([]flowBuf, flowBufChunk) // the full chunk is the messages' now
		s.nbuf = 0
	}
	b := &s.bufs[s.nbuf]
	s.nbuf++
	return b
}

// Recycle tells the switch that no message it returned is used any more
// (the caller encoded or dropped them all, and keeps no reference): their
// memory is reused by the next calls, which then allocate nothing for their
// flow-mods. A caller that keeps messages must not call it.
func (s *Switch) Recycle() { s.nbuf = 0 }

func (b *flowBuf) inPort(p uint32) ofp.OXM {
	b.port = [4]byte{byte(p >> 24), byte(p >> 16), byte(p >> 8), byte(p)}
	return ofp.OXM{Class: ofp.OXMClassOpenflowBasic, Field: ofp.OXMInPort, Value: b.port[:]}
}

func (b *flowBuf) ethField(field uint8, mac [6]byte) ofp.OXM {
	b.mac = mac
	return ofp.OXM{Class: ofp.OXMClassOpenflowBasic, Field: field, Value: b.mac[:]}
}

func (b *flowBuf) gotoTable(t uint8) []ofp.Instruction {
	b.gt.TableID = t
	b.instr[0] = &b.gt
	return b.instr[:]
}

func (b *flowBuf) applyOutput(port uint32, maxLen uint16) []ofp.Instruction {
	b.out = ofp.ActionOutput{Port: port, MaxLen: maxLen}
	b.act[0] = &b.out
	b.ap.Actions = b.act[:]
	b.instr[0] = &b.ap
	return b.instr[:]
}
