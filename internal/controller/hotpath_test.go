package controller

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"portcullis/internal/forward"
	"portcullis/internal/ofconn"
	"portcullis/ofp"
)

// newStation makes pi, a learning miss with an ARP request, come from the
// i-th new station: its Ethernet and ARP sender MACs and its sender address.
func newStation(pi *ofp.PacketIn, i int) {
	mac := [6]byte{0x02, 0x5e, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
	ip := netip.AddrFrom4([4]byte{10, 200 + byte(i>>16)&0x1f, byte(i >> 8), byte(i)}).As4()
	copy(pi.Data[6:12], mac[:])  // Ethernet source
	copy(pi.Data[22:28], mac[:]) // ARP sender MAC
	copy(pi.Data[28:32], ip[:])  // ARP sender address
}

// learnNew sends the learning miss of the i-th new station and waits while
// the write queue is long, as the switch's TCP back-pressure would.
func learnNew(c *Controller, s *ofconn.Session, pi *ofp.PacketIn, i int) {
	newStation(pi, i)
	c.Message(s, 0, pi)
	for s.Stats().QueueLen > 256 {
		runtime.Gosched()
	}
}

// The packet-in path allocates nothing per message for the packet-ins a
// switch under load sends: learning misses of new stations into a full
// table (each learns one, evicts one and sends four flow-mods; forward's
// flow-mods come from chunks, a fraction of an allocation each), learning
// misses of known stations, and watch copies of known hosts. Allocation
// counts are process-wide, so the bound leaves room for the controller's
// periodic work (testing.AllocsPerRun rounds its average down: a share of
// a chunk per message reads 0, one allocation per message reads 1).
func TestPacketInPathAllocations(t *testing.T) {
	c, s, clock := benchController(t)
	pi := learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip))
	i := 0
	for ; i < forward.DefaultMaxHosts+1000; i++ { // the table is full: every new station evicts one
		learnNew(c, s, pi, i)
	}
	perMsg := testing.AllocsPerRun(2000, func() {
		learnNew(c, s, pi, i)
		i++
	})
	t.Logf("new station: %.3f allocations per packet-in", perMsg)
	if perMsg != 0 {
		t.Errorf("a learning miss of a new station: %.2f allocations per packet-in, want 0", perMsg)
	}
	if st := c.lookup(s).fwd.Stats(); st.Evictions == 0 {
		t.Errorf("the table did not fill: %+v", st)
	}

	known := learnMiss(hostB.port, arpFrame(1, hostB.mac, hostB.ip, [6]byte{}, hostA.ip))
	c.Message(s, 0, known)
	watch := watchCopy(hostB.port, arpFrame(1, hostB.mac, hostB.ip, [6]byte{}, hostA.ip))
	perMsg = testing.AllocsPerRun(2000, func() {
		clock.Add(int64(time.Millisecond))
		c.Message(s, 0, known)
		c.Message(s, 0, watch)
	})
	t.Logf("known station: %.3f allocations per learning miss and watch copy", perMsg)
	if perMsg != 0 {
		t.Errorf("a learning miss and a watch copy of a known station: %.2f allocations, want none", perMsg)
	}
}

// BenchmarkPacketInNewStation measures Controller.Message for a learning miss
// of a new station into a full table (portcullis bench's load): learn one,
// evict one, four flow-mods queued.
func BenchmarkPacketInNewStation(b *testing.B) {
	c, s, _ := benchController(b)
	pi := learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip))
	i := 0
	for ; i < forward.DefaultMaxHosts+1000; i++ {
		learnNew(c, s, pi, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		learnNew(c, s, pi, i)
		i++
	}
}
