package forward

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"portcullis/internal/packet"
	"portcullis/ofp"
)

// FuzzSwitch feeds a Switch packet-ins built from arbitrary frames, ports and tables, interleaved with
// port-down and flow-removed events. Whatever the input, it must not panic, its tables must stay
// within their caps, the LRU list must hold exactly the learned hosts, and every message it returns
// must encode and decode.
func FuzzSwitch(f *testing.F) {
	arp := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x0a, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
	}
	f.Add(arp, []byte{1, 2, 0, 3, 2, 1})
	f.Add(arp[:20], []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, frame []byte, script []byte) {
		s := NewSwitch(Config{MaxHosts: 3, Holdoff: time.Second})
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var p packet.Packet
		var out []ofp.Message
		for i, op := range script {
			now = now.Add(time.Duration(op) * 100 * time.Millisecond)
			port := uint32(op%4 + 1)
			// Vary the source MAC and IP per step so the table fills and churns.
			fr := append([]byte(nil), frame...)
			if len(fr) >= 12 {
				fr[11] ^= byte(i)
			}
			packet.Parse(fr, &p)
			if p.Src.Is4() {
				a := p.Src.As4()
				binary.BigEndian.PutUint16(a[2:], uint16(i))
				p.Src = netip.AddrFrom4(a)
			}
			out = out[:0]
			switch op % 5 {
			case 0, 1, 2:
				pi := &ofp.PacketIn{TableID: TableLearn, Cookie: Cookie(KindBase, 0),
					Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(port)}}, Data: fr}
				if op%5 == 2 {
					pi.TableID, pi.Cookie = TableWatch, Cookie(KindWatch, 1)
				}
				out = s.PacketIn(now, pi, &p, out)
			case 3:
				out = s.PortStatus(now, &ofp.PortStatus{Reason: ofp.PortReasonModify,
					Port: ofp.Port{PortNo: port, State: ofp.PortStateLinkDown}}, out)
			case 4:
				out = s.FlowRemoved(now, &ofp.FlowRemoved{Cookie: Cookie(KindLearned, 0), TableID: TableForward,
					Reason: ofp.FlowRemovedReasonIdleTimeout, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthDst(p.EthSrc[:])}}}, out)
			}
			for _, m := range out {
				if _, _, err := ofp.Unmarshal(ofp.Marshal(1, m)); err != nil {
					t.Fatalf("step %d: %v does not decode: %v", i, m.Type(), err)
				}
			}
			if n := s.hosts(); n > 3 {
				t.Fatalf("step %d: %d hosts, cap 3", i, n)
			}
			if n := s.ipIdx.n; n > 3*IPsPerHost {
				t.Fatalf("step %d: %d IP bindings, cap %d", i, n, 3*IPsPerHost)
			}
			if n := len(s.Hosts()); n != s.hosts() {
				t.Fatalf("step %d: the ports' lists hold %d hosts, the index %d", i, n, s.hosts())
			}
			if err := s.check(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if i%2 == 0 {
				s.Recycle() // as the controller does after each send
			}
		}
	})
}

// check checks the tables against each other (tables.go): each index names
// exactly its table's live slots under their keys' hashes and finds each of
// them; every station is on its port's list and the record counts them; every
// binding is on the list by last seen and on its owner's list, which has
// nips of them; the free lists hold the rest.
func (s *Switch) check() error {
	live := 0
	for i := range s.ents {
		e := &s.ents[i]
		if e.mac == ([6]byte{}) {
			continue
		}
		live++
		if j, ok := s.find(e.mac); !ok || j != int32(i) {
			return fmt.Errorf("station %x (slot %d) found at %d, %v", e.mac, i, j, ok)
		}
		if e.hash != s.macHash(&e.mac) {
			return fmt.Errorf("station %x holds hash %x, its MAC hashes to %x", e.mac, e.hash, s.macHash(&e.mac))
		}
		if r, ok := s.portAt(e.port, portHash(e.port)); !ok || r != e.rec {
			return fmt.Errorf("station %x: port %d's record %d, %v; the station names %d", e.mac, e.port, r, ok, e.rec)
		}
		n := 0
		for j := e.ips; j != none; j = s.binds[j].sib {
			b := &s.binds[j]
			if b.owner != int32(i) || b.mac != e.mac || b.port != e.port {
				return fmt.Errorf("station %x lists %v, bound to slot %d (%x, port %d)", e.mac, b.key.addr(), b.owner, b.mac, b.port)
			}
			if n++; n > IPsPerHost {
				return fmt.Errorf("station %x lists more than %d addresses", e.mac, IPsPerHost)
			}
		}
		if n != int(e.nips) {
			return fmt.Errorf("station %x lists %d addresses, counts %d", e.mac, n, e.nips)
		}
	}
	if live != s.macIdx.n {
		return fmt.Errorf("%d live stations, the index holds %d", live, s.macIdx.n)
	}
	if err := checkIndex(&s.macIdx, func(v int32) (uint32, bool) {
		return s.macHash(&s.ents[v].mac), s.ents[v].mac != ([6]byte{})
	}); err != nil {
		return fmt.Errorf("station index: %v", err)
	}
	free := 0
	for i := s.efree; i != none; i = s.ents[i].next {
		if s.ents[i].mac != ([6]byte{}) {
			return fmt.Errorf("free station slot %d holds %x", i, s.ents[i].mac)
		}
		if free++; free > len(s.ents) {
			return fmt.Errorf("the free stations' list loops")
		}
	}
	if live+free != len(s.ents) {
		return fmt.Errorf("%d live and %d free station slots of %d", live, free, len(s.ents))
	}
	onLists := 0
	for r := range s.ports {
		pr := &s.ports[r]
		if pr.n == 0 {
			continue
		}
		n, prev := int32(0), int32(none)
		for i := pr.head; i != none; i = s.ents[i].next {
			if s.ents[i].rec != int32(r) || s.ents[i].prev != prev {
				return fmt.Errorf("port %d's list: slot %d names record %d, prev %d (want %d)", pr.port, i, s.ents[i].rec, s.ents[i].prev, prev)
			}
			prev = i
			if n++; n > pr.n {
				return fmt.Errorf("port %d's list is longer than its count %d", pr.port, pr.n)
			}
		}
		if n != pr.n || pr.tail != prev {
			return fmt.Errorf("port %d: list of %d ending at %d, count %d, tail %d", pr.port, n, prev, pr.n, pr.tail)
		}
		if pr.tailSeen != s.ents[prev].lastSeen {
			return fmt.Errorf("port %d: tail last seen %d, its record says %d", pr.port, s.ents[prev].lastSeen, pr.tailSeen)
		}
		onLists += int(n)
	}
	if onLists != live {
		return fmt.Errorf("the ports' lists hold %d stations, %d live", onLists, live)
	}
	if err := checkIndex(&s.portIdx, func(v int32) (uint32, bool) {
		return portHash(s.ports[v].port), s.ports[v].n > 0
	}); err != nil {
		return fmt.Errorf("port index: %v", err)
	}
	n := 0
	for j := s.bhead; j != none; j = s.binds[j].next {
		b := &s.binds[j]
		if k, ok := s.findBind(&b.key, s.addrHash(&b.key)); !ok || k != j || b.hash != s.addrHash(&b.key) {
			return fmt.Errorf("binding slot %d (%v) is not the index's", j, b.key.addr())
		}
		if !s.owned(b) {
			return fmt.Errorf("binding %v: its station (slot %d) is gone", b.key.addr(), b.owner)
		}
		listed := false
		for k := s.ents[b.owner].ips; k != none; k = s.binds[k].sib {
			listed = listed || k == j
		}
		if !listed {
			return fmt.Errorf("binding %v is not on its station's list", b.key.addr())
		}
		if n++; n > len(s.binds) {
			return fmt.Errorf("the bindings' list loops")
		}
	}
	if n != s.ipIdx.n {
		return fmt.Errorf("the bindings' list holds %d, the index %d", n, s.ipIdx.n)
	}
	return checkIndex(&s.ipIdx, func(v int32) (uint32, bool) {
		return s.addrHash(&s.binds[v].key), s.binds[v].key != (addrKey{})
	})
}

// checkIndex checks that x holds n slots, each a live value under its key's
// hash, reachable from its home without crossing an empty slot.
func checkIndex(x *index, key func(int32) (uint32, bool)) error {
	used := 0
	for p, v := range x.slots {
		if v == 0 {
			continue
		}
		used++
		h, live := key(valOf(v))
		if !live || h != tagOf(v) {
			return fmt.Errorf("slot %d holds value %d (live %v) under hash %x, its key hashes to %x", p, valOf(v), live, tagOf(v), h)
		}
		for q := x.home(h); q != uint32(p); q = x.next(q) {
			if x.slots[q] == 0 {
				return fmt.Errorf("slot %d (home %d) is past an empty slot %d", p, x.home(h), q)
			}
		}
	}
	if used != x.n {
		return fmt.Errorf("%d slots in use, n = %d", used, x.n)
	}
	if len(x.slots) > 0 && 2*x.n > len(x.slots) {
		return fmt.Errorf("%d of %d slots in use", x.n, len(x.slots))
	}
	return nil
}
