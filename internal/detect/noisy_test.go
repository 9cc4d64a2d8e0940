package detect

import (
	"net/netip"
	"testing"

	"portcullis/internal/packet"
)

func udp(src, dst netip.Addr, sport, dport uint16) *packet.Packet {
	return &packet.Packet{EthType: packet.EthTypeIPv4, EthDst: [6]byte{2, 9}, Src: src, Dst: dst, Proto: packet.ProtoUDP,
		SrcPort: sport, DstPort: dport}
}

// SetNoisyPorts (a reload of block.noisy_ports) changes which UDP
// exchanges are a noisy service's own for the packets observed after it:
// mDNS between peers is exempt with the defaults, a probe once 5353 is no
// longer listed, and exempt again once the defaults (nil) are back.
func TestSetNoisyPorts(t *testing.T) {
	d := New(DefaultConfig())
	src := Source{DPID: 1, Port: 1}
	ip := netip.MustParseAddr("10.0.0.1")
	probes := func(first byte) uint64 {
		before := d.Stats().Probes
		for i := range byte(4) {
			d.Observe(t0, src, udp(ip, netip.AddrFrom4([4]byte{10, 0, 1, first + i}), 5353, 5353))
		}
		return d.Stats().Probes - before
	}
	if n := probes(10); n != 0 {
		t.Errorf("mDNS with the default noisy ports: %d probes, want 0", n)
	}
	d.SetNoisyPorts([]uint16{67, 68})
	if n := probes(20); n != 4 {
		t.Errorf("mDNS once 5353 is not a noisy port: %d probes, want 4", n)
	}
	if n := d.Stats().Probes; n == 0 {
		t.Fatal("no probes counted at all")
	}
	d.SetNoisyPorts(nil)
	if n := probes(30); n != 0 {
		t.Errorf("mDNS with the defaults restored: %d probes, want 0", n)
	}
}
