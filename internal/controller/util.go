package controller

import (
	"net/netip"
	"sync"
	"time"

	"portcullis/internal/api"
	"portcullis/ofp"
)

// controllerMAC is the source MAC of frames the controller injects (notices):
// locally administered, "PC".
var controllerMAC = [6]byte{0x02, 0x50, 0x43, 0x00, 0x00, 0x01}

// Notices come from link-local addresses: they are not routed and belong to
// no host on the segment.
var (
	noticeSourceV4 = netip.MustParseAddr("169.254.80.67")
	noticeSourceV6 = netip.MustParseAddr("fe80::5043")
)

// fmtDPID formats a datapath ID as the API and events show it.
func fmtDPID(d uint64) string { return api.FormatDPID(d) }

func packetOut(port uint32, frame []byte) *ofp.PacketOut {
	return &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController,
		Actions: []ofp.Action{&ofp.ActionOutput{Port: port, MaxLen: 0}}, Data: frame}
}

// seriesRing keeps per-minute activity for the dashboard's charts.
type seriesRing struct {
	mu     sync.Mutex
	points []api.StatsPoint
	last   [3]uint64
}

const seriesLen = 60

func (s *seriesRing) tick(now time.Time, packetIns, probes, blocks uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	minute := now.Truncate(time.Minute)
	if n := len(s.points); n == 0 || !s.points[n-1].Time.Equal(minute) {
		s.points = append(s.points, api.StatsPoint{Time: minute})
		if len(s.points) > seriesLen {
			s.points = s.points[len(s.points)-seriesLen:]
		}
	}
	p := &s.points[len(s.points)-1]
	p.PacketIns += packetIns - s.last[0]
	p.Probes += probes - s.last[1]
	p.Blocks += blocks - s.last[2]
	s.last = [3]uint64{packetIns, probes, blocks}
}

func (s *seriesRing) snapshot() []api.StatsPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.StatsPoint(nil), s.points...)
}

// flowStats returns the flows of a flow-stats reply; ok is false for any
// other message (or nil).
func flowStats(reply ofp.Message) (stats []ofp.FlowStats, ok bool) {
	mp, ok := reply.(*ofp.MultipartReply)
	if !ok {
		return nil, false
	}
	fs, ok := mp.Body.(*ofp.FlowStatsReply)
	if !ok {
		return nil, false
	}
	return fs.Stats, true
}
