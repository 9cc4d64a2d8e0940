package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/forward"
	"portcullis/internal/policy"
	"portcullis/ofp"
)

// MAC spoofs: forward.Switch keeps each station's home; a frame whose MAC
// has its home on another port is reported here, on the packet-in path, as a
// mac-spoof verdict against the port it entered at. Where the block goes
// (that port and MAC, or the port) is the engine's attribution
// (policy/engine_attr.go).

// spoofReportEvery is how often one (port, MAC) spoof is reported.
const spoofReportEvery = 5 * time.Second

// spoofReportsMax bounds the reports remembered per switch.
const spoofReportsMax = 256

type spoofKey struct {
	port uint32
	mac  [6]byte
}

// spoofReports remembers when each spoof was last reported. Guarded by the
// switch's mutex.
type spoofReports struct {
	seen map[spoofKey]time.Time
}

// macSpoof reports a frame whose MAC has its home on another port of this
// switch as a mac-spoof verdict against the port it entered at. Must hold
// sw.mu.
func (c *Controller) macSpoof(sw *switchState, now time.Time, port uint32, mac [6]byte) {
	r := &sw.spoofs
	if r.seen == nil {
		r.seen = make(map[spoofKey]time.Time, 8)
	}
	k := spoofKey{port, mac}
	if t, ok := r.seen[k]; ok && now.Sub(t) < spoofReportEvery {
		return
	}
	if len(r.seen) >= spoofReportsMax {
		clear(r.seen)
	}
	r.seen[k] = now
	home, _ := sw.fwd.PortOf(mac)
	reason := fmt.Sprintf("frames with MAC %s entered at port %d; that MAC lives at port %d", macString(mac), port, home)
	v := detect.Verdict{Source: detect.Source{DPID: sw.dpid, Port: port, MAC: mac}, Kind: detect.KindMACSpoof,
		Reason: reason, Evidence: []string{reason}, Probes: 1, First: now, At: now, Score: 1}
	if !c.vq.push(v) {
		// No room: the next frame of this spoof reports it again.
		c.m.Errors.WithLabelValues("verdict_queue_full").Inc()
		delete(r.seen, k)
	}
}

// macsAt returns the MACs learned at port. Must hold sw.mu.
func macsAt(sw *switchState, port uint32) [][6]byte {
	var out [][6]byte
	for _, h := range sw.fwd.Hosts() {
		if h.Port == port {
			out = append(out, h.MAC)
		}
	}
	return out
}

// ---- meter-aware evidence ----

// replyAdd returns the per-port answer flows and meter for a port (none
// with plain controller copies, which have no per-flow meters).
func (c *Controller) replyAdd(p ofp.Port) []ofp.Message {
	if c.watchCfg.PlainController {
		return nil
	}
	rc := c.cfg.Meters.Reply()
	rc.MaxLen = c.watchCfg.MaxLen
	return policy.ReplyFlows(p.PortNo, rc)
}

// meterReadings is a switch's last meter reading: when it was asked for,
// and each meter's dropped packets. Touched only by the meter poll.
type meterReadings struct {
	at    time.Time
	drops map[uint32]uint64
}

// meterLag bounds how far detection's clock may trail the wall clock while
// meter readings are late (see evidenceHorizon).
const meterLag = 3 * time.Second

// evidenceHorizon is the time up to which unanswered attempts may expire:
// the last meter reading every switch answered, so that the detector learns
// of a dropped answer before it would count its silence. Without readings
// (none yet, or stalled for meterLag) it is now minus meterLag at most.
func (c *Controller) evidenceHorizon(now time.Time) time.Time {
	h := c.meterHorizon.Load()
	if h == 0 {
		return now
	}
	t := time.Unix(0, h)
	switch {
	case t.After(now):
		return now
	case now.Sub(t) > meterLag:
		return now.Add(-meterLag)
	}
	return t
}

// bandGrowth is how many packets a meter's drop bands dropped since the
// last reading, from their running totals: all of total for a meter not
// read before on this session, or one whose total went down (the meter was
// replaced).
func bandGrowth(prev uint64, seen bool, total uint64) uint64 {
	if !seen || total < prev {
		return total
	}
	return total - prev
}

// readMeters reads one switch's meter statistics, feeds the metrics, and
// tells the detector about every answer meter that dropped copies since the
// last reading (detect.Loss). sent is when the round was started.
func (c *Controller) readMeters(sw *switchState, sent time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reply, err := c.request(ctx, sw.sess, &ofp.MultipartRequest{Body: &ofp.MeterStatsRequest{MeterID: ofp.MeterAll}})
	if err != nil {
		return
	}
	mp, ok := reply.(*ofp.MultipartReply)
	if !ok {
		return
	}
	ms, ok := mp.Body.(*ofp.MeterStatsReply)
	if !ok {
		return
	}
	rd := &sw.meters
	from := rd.at
	if rd.drops == nil {
		rd.drops = make(map[uint32]uint64, 16)
		from = sent.Add(-time.Second)
	}
	var losses []detect.Loss
	var grown uint64
	for _, s := range ms.Stats {
		var dropped uint64
		for _, b := range s.Bands {
			dropped += b.PacketBandCount
		}
		prev, seen := rd.drops[s.MeterID]
		rd.drops[s.MeterID] = dropped
		grown += bandGrowth(prev, seen, dropped)
		if dropped <= prev || c.budgetDrop(sw, s.MeterID, dropped-prev, from, sent) {
			continue
		}
		l := detect.Loss{DPID: sw.dpid, From: from, To: sent}
		if port, ok := policy.ReplyPort(s.MeterID); ok {
			l.Port = port
		} else if s.MeterID == forward.MeterWatchUDP {
			l.UDP = true
		} else {
			continue
		}
		losses = append(losses, l)
	}
	rd.at = sent
	c.m.MeterDrops(grown)
	if len(losses) == 0 {
		return
	}
	c.m.losses.Add(uint64(len(losses)))
	for _, l := range losses {
		c.det.ReplyLoss(l)
	}
}

// pollMeters reads every switch's meters (at most one round at a time)
// and, once all have answered or timed out, moves the evidence horizon to
// the round's start.
func (c *Controller) pollMeters() {
	if !c.meterPolling.CompareAndSwap(false, true) {
		return
	}
	sent := c.now()
	sws := c.sessionsSnapshot()
	go func() {
		defer c.meterPolling.Store(false)
		var wg sync.WaitGroup
		for _, sw := range sws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.readMeters(sw, sent)
			}()
		}
		wg.Wait()
		c.meterHorizon.Store(sent.UnixNano())
		// Silence up to the reading's start can be judged now, not at the next tick.
		c.post(func(now time.Time) {
			for _, v := range c.det.Tick(c.evidenceHorizon(now)) {
				c.onVerdict(v)
			}
		})
	}()
}

func firstMAC(ms [][6]byte) [6]byte {
	if len(ms) == 0 {
		return [6]byte{}
	}
	return ms[0]
}
