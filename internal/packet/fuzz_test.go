package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func v4(s string) netip.Addr { return netip.MustParseAddr(s) }

// FuzzParse checks that Parse never panics, never reads past the frame
// (slices it returns lie inside it) and is deterministic.
func FuzzParse(f *testing.F) {
	seeds := [][]byte{
		eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{}, tcp(1, 2, TCPSyn, 1024, nmapSYNOpts, nil))),
		eth(EthTypeIPv4, []uint16{1, 2}, ipv4(v4A, v4B, ProtoUDP, v4opts{options: []byte{1, 1, 1, 1}}, udp(1, 2, []byte("x")))),
		eth(EthTypeIPv4, nil, ipv4(v4B, v4A, ProtoICMP, v4opts{}, icmp(ICMPUnreachable, 3, [4]byte{}, ipv4(v4A, v4B, ProtoUDP, v4opts{}, udp(1, 2, nil))))),
		eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoHopByHop, 0, cat(ext(protoFragment, 0, 0), fragHdr(ProtoTCP, 0, true), tcp(1, 2, TCPFin, 1, nil, nil)))),
		eth(EthTypeIPv6, nil, ipv6(v6B, v6A, ProtoICMPv6, 0, icmp(ICMPv6Unreachable, 4, [4]byte{}, ipv6(v6A, v6B, ProtoSCTP, 0, make([]byte, 12))))),
		eth(EthTypeIPv6, nil, ipv6(v6A, v6B, ProtoICMPv6, 0, icmp(ICMPv6NeighborSol, 0, [4]byte{}, v6B.AsSlice()))),
		eth(EthTypeARP, nil, arp(1, macA, v4A, v4B)),
		eth(EthTypeIPv4, nil, ipv4(v4A, v4B, ProtoTCP, v4opts{fragOff: 0x2000, id: 5}, tcp(1, 2, TCPSyn, 1024, nil, nil)[:8])),
		eth(EthTypeIPv6, nil, ipv6(v6A, v6B, protoFragment, 0, cat(fragHdr(ProtoTCP, 0, true), tcp(1, 2, TCPSyn, 1024, nil, nil)[:16]))),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p, q Packet
		err1 := Parse(frame, &p)
		err2 := Parse(frame, &q)
		if err1 != err2 {
			t.Fatalf("non-deterministic error: %v vs %v", err1, err2)
		}
		for _, s := range [][]byte{p.TCPOptions, p.Payload} {
			if len(s) > 0 && !within(frame, s) {
				t.Fatalf("slice escapes the frame")
			}
		}
		if p.PayloadLen < 0 {
			t.Fatalf("negative PayloadLen %d", p.PayloadLen)
		}
		if (p.Fragment || p.TinyFragment) && (p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0) {
			t.Fatalf("fragment without a transport header has ports or flags")
		}
		if p.Fragment && p.FirstFragment {
			t.Fatalf("a fragment both first and later")
		}
	})
}

func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	for i := 0; i+len(inner) <= len(outer); i++ {
		if &outer[i] == &inner[0] {
			return true
		}
	}
	return false
}

// FuzzPcapReader checks the pcap reader never panics, never returns a frame
// above the cap, and stops (EOF or error) on any input.
func FuzzPcapReader(f *testing.F) {
	f.Add(pcapFile(binary.LittleEndian, pcapMagicMicro, []rec{{1, 2, []byte{1, 2, 3}}}))
	f.Add(pcapFile(binary.BigEndian, pcapMagicNano, []rec{{1, 2, nil}, {3, 4, []byte{5}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewPcapReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i <= len(data); i++ {
			_, frame, err := r.Next()
			if err != nil {
				return
			}
			if len(frame) > MaxPcapRecord {
				t.Fatalf("frame of %d bytes", len(frame))
			}
		}
		t.Fatalf("reader did not stop")
	})
}
