package controller

import (
	"net/netip"
	"sync"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/packet"
)

// detector is scan detection behind its own lock, with the method names of
// detect.Detector, so that no call site handles the lock: c.det.Observe(...)
// where it used to be c.detMu.Lock(); c.det.Observe(...); c.detMu.Unlock().
//
// It is one detect.Detector, not shards of it by source: the detector's
// state is not per source. An attempt is remembered by its flow (initiator
// and target addresses) and completed by the target's answer, which enters
// as the target's packet, from the target's port and often another switch;
// the liveness of addresses and the conversations already seen are shared
// by every source the same way. A shard chosen by the packet's source would
// hold the attempt where the answer never looks: every answered probe would
// time out as a failure, and benign sources would be blocked. Only watch
// copies (table 1) take the lock; learning misses, the bulk of packet-ins
// of a busy network, never do (see packetIn). Safe for concurrent use.
type detector struct {
	mu sync.Mutex
	d  *detect.Detector
}

func newDetector(cfg detect.Config) *detector { return &detector{d: detect.New(cfg)} }

// Observe is detect.Detector.Observe.
func (x *detector) Observe(now time.Time, src detect.Source, p *packet.Packet) (detect.Verdict, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Observe(now, src, p)
}

// ObserveSpoofed is detect.Detector.ObserveSpoofed.
func (x *detector) ObserveSpoofed(now time.Time, src detect.Source, p *packet.Packet) (detect.Verdict, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.ObserveSpoofed(now, src, p)
}

// Suspicion is detect.Detector.Suspicion (hold.go).
func (x *detector) Suspicion(now time.Time, src detect.Source, ip netip.Addr) detect.Suspicion {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Suspicion(now, src, ip)
}

// Tick is detect.Detector.Tick.
func (x *detector) Tick(now time.Time) []detect.Verdict {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Tick(now)
}

// LookupDue is detect.Detector.LookupDue.
func (x *detector) LookupDue() (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.LookupDue()
}

// Forget is detect.Detector.Forget.
func (x *detector) Forget(src detect.Source) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.d.Forget(src)
}

// TargetsOf is detect.Detector.TargetsOf.
func (x *detector) TargetsOf(src detect.Source) []netip.Addr {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.TargetsOf(src)
}

// Forwarder is detect.Detector.Forwarder.
func (x *detector) Forwarder(src detect.Source) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Forwarder(src)
}

// Suspects is detect.Detector.Suspects.
func (x *detector) Suspects(now time.Time) []detect.Suspect {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Suspects(now)
}

// Stats is detect.Detector.Stats.
func (x *detector) Stats() detect.Stats {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.Stats()
}

// ReplyLoss is detect.Detector.ReplyLoss.
func (x *detector) ReplyLoss(l detect.Loss) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.d.ReplyLoss(l)
}

// SetNoisyPorts is detect.Detector.SetNoisyPorts.
func (x *detector) SetNoisyPorts(ports []uint16) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.d.SetNoisyPorts(ports)
}

// BudgetDropped is detect.Detector.BudgetDropped.
func (x *detector) BudgetDropped(now time.Time, b detect.BudgetDrop) (detect.Verdict, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.d.BudgetDropped(now, b)
}
