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
			if n := len(s.byMAC); n > 3 {
				t.Fatalf("step %d: %d hosts, cap 3", i, n)
			}
			if n := len(s.ips); n > 3*IPsPerHost {
				t.Fatalf("step %d: %d IP bindings, cap %d", i, n, 3*IPsPerHost)
			}
			if n := len(s.Hosts()); n != len(s.byMAC) {
				t.Fatalf("step %d: LRU list has %d hosts, map %d", i, n, len(s.byMAC))
			}
			if err := s.checkBinds(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if i%2 == 0 {
				s.Recycle() // as the controller does after each send
			}
		}
	})
}

// checkBinds checks the address index against its list and the stations:
// every binding on the list is the index's slot for its key, the list holds
// them all, and a station lists only addresses bound to it.
func (s *Switch) checkBinds() error {
	n := 0
	for j := s.bhead; j != none; j = s.binds[j].next {
		if k, ok := s.ips[s.binds[j].key]; !ok || k != j {
			return fmt.Errorf("binding slot %d (%v) is not the index's", j, s.binds[j].key.addr())
		}
		if n++; n > len(s.binds) {
			return fmt.Errorf("the bindings' list loops")
		}
	}
	if n != len(s.ips) {
		return fmt.Errorf("the bindings' list holds %d, the index %d", n, len(s.ips))
	}
	for i := s.head; i != none; i = s.ents[i].next {
		e := &s.ents[i]
		for _, k := range e.ips[:e.nips] {
			if j, ok := s.ips[k]; !ok || s.binds[j].mac != e.mac || s.binds[j].port != e.port {
				return fmt.Errorf("station %x lists %v, not bound to it", e.mac, k.addr())
			}
		}
	}
	return nil
}
