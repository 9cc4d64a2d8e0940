package forward

import (
	"net/netip"
	"portcullis/ofp"
	"runtime"
	"testing"
	"time"
)

// A switch's tables start empty and grow with its hosts, not at their caps
// (4,096 stations, 16,384 addresses: about 1.5 MB a switch when they were
// sized up front; issue 9: 1,000 idle switches took 4.9 GB).
func TestNewSwitchHoldsLittle(t *testing.T) {
	const n = 100
	keep := make([]*Switch, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		s := NewSwitch(Config{})
		s.Setup()
		keep = append(keep, s)
	}
	runtime.ReadMemStats(&after)
	perSwitch := (after.TotalAlloc - before.TotalAlloc) / n
	if perSwitch > 16<<10 {
		t.Errorf("a new switch and its Setup allocate %d bytes, want under 16 KiB", perSwitch)
	}
	runtime.KeepAlive(keep)
}

// Learning a new station, into a table with room or a full one (which evicts
// the oldest station and, once the address index is full, the oldest binding),
// allocates nothing per packet-in beyond a share of a flow-mod chunk and the
// tables' growth: flow-mods come from per-switch chunks, entries hold no
// pointer.
func TestPacketInNewStationAllocs(t *testing.T) {
	s := NewSwitch(Config{MaxHosts: 256})
	step, out := newStations(s)
	for range 4 * 256 { // the tables are full and every station evicts one
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs > 0.1 {
		t.Errorf("learning a new station into a full table: %v allocations per packet-in, want under 0.1 (a chunk of %d flow-mods)", allocs, flowBufChunk)
	}
	if st := s.Stats(); st.Evictions == 0 {
		t.Errorf("no station evicted: %+v", st)
	}
	fms := flowMods(t, *out)
	if len(fms) != 4 {
		t.Fatalf("a new station into a full table sent %d flow-mods, want 2 deletes and 2 adds", len(fms))
	}
}

// With Recycle after each packet-in's messages are sent (as the controller
// does), learning reuses the same flow-mod slots: no memory at all per new
// station once the tables are full, and each packet-in's flow-mods are its
// own.
func TestRecycleReusesFlowMods(t *testing.T) {
	s := NewSwitch(Config{MaxHosts: 256})
	step, out := newStations(s)
	for range 4 * 256 {
		step()
		s.Recycle()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 1000
	for range n {
		step()
		s.Recycle()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 64 {
		t.Errorf("learning a new station with Recycle: %d bytes per packet-in, want (nearly) none", per)
	}
	step()
	fms := flowMods(t, *out)
	if len(fms) != 4 {
		t.Fatalf("sent %d flow-mods, want 4", len(fms))
	}
	learned := macOf(4*256 + n) // the last step's station
	var evicted [6]byte
	copy(evicted[:], fms[0].Match.Fields[1].Value)
	if evicted == learned {
		t.Errorf("the delete names the station just learned: %x", evicted)
	}
	for _, fm := range fms[2:] {
		f := fm.Match.Fields[len(fm.Match.Fields)-1]
		if string(f.Value) != string(learned[:]) {
			t.Errorf("flow-mod %+v does not name the new station %x", fm, learned)
		}
	}
}

func macOf(i int) [6]byte {
	return [6]byte{0x02, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// newStations returns a step that sends s the learning miss of one more new
// station (a new MAC and IPv4 address each time, a microsecond apart) and
// the messages of the last step.
func newStations(s *Switch) (step func(), out *[]ofp.Message) {
	pi := learnMiss(1)
	p := ipPacket(macA, ipA)
	msgs := make([]ofp.Message, 0, 8)
	i := 0
	return func() {
		p.EthSrc = macOf(i)
		p.Src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		msgs = s.PacketIn(t0.Add(time.Duration(i)*time.Microsecond), pi, p, msgs[:0])
		i++
	}, &msgs
}
