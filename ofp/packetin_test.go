package ofp

import (
	"errors"
	"testing"
)

// FuzzUnmarshalPacketIn: decoding into a PacketIn that holds an earlier
// packet-in (with more match fields than most) gives what Unmarshal gives,
// or the same kind of error; messages of other types are refused.
func FuzzUnmarshalPacketIn(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		reused := dirtyPacketIn(t)
		h, err := UnmarshalPacketIn(b, reused)
		h1, m1, err1 := Unmarshal(b)
		if ph, perr := ParseHeader(b); perr == nil && ph.Type != TypePacketIn {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("a %v: err %v, want a *DecodeError", ph.Type, err)
			}
			return
		}
		if (err == nil) != (err1 == nil) {
			t.Fatalf("UnmarshalPacketIn err %v, Unmarshal err %v", err, err1)
		}
		if err != nil {
			var de, de1 *DecodeError
			if !errors.As(err, &de) || !errors.As(err1, &de1) || de.ErrType != de1.ErrType || de.Code != de1.Code {
				t.Fatalf("UnmarshalPacketIn err %v, Unmarshal err %v", err, err1)
			}
			return
		}
		if h != h1 {
			t.Fatalf("header %+v, Unmarshal's %+v", h, h1)
		}
		if !equalMsg(reused, m1) {
			t.Fatalf("reused decoding differs:\n%#v\n%#v", reused, m1)
		}
	})
}

// dirtyPacketIn returns a PacketIn decoded from a packet-in with four
// match fields.
func dirtyPacketIn(t testing.TB) *PacketIn {
	b := Marshal(7, &PacketIn{BufferID: 9, TotalLen: 3, Reason: 1, TableID: 2, Cookie: 5,
		Match: Match{Fields: []OXM{MatchInPort(3), MatchInPort(4), MatchInPort(5), MatchInPort(6)}}, Data: []byte{1, 2, 3}})
	var m PacketIn
	if _, err := UnmarshalPacketIn(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestUnmarshalPacketInReusesFields(t *testing.T) {
	m := dirtyPacketIn(t)
	b := Marshal(8, &PacketIn{BufferID: NoBuffer, TotalLen: 1, Match: Match{Fields: []OXM{MatchInPort(1)}}, Data: []byte{1}})
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := UnmarshalPacketIn(b, m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet-in decoded into a reused PacketIn, want 0", allocs)
	}
	if p, ok := m.Match.InPort(); !ok || p != 1 || len(m.Match.Fields) != 1 || m.TableID != 0 || m.Cookie != 0 {
		t.Errorf("decoded %+v: fields of the earlier packet-in left", m)
	}
}
