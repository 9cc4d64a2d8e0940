package controller

import (
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/forward"
	"portcullis/internal/policy"
)

// budgetDrop hands the detector a meter reading in which a port's ICMP or
// other-protocol probe budget dropped rise probes between from and to
// (detect/budgetdrop.go), when the port has one station: the probes are
// that station's. It reports whether meterID is such a budget meter. Must
// not hold sw.mu.
func (c *Controller) budgetDrop(sw *switchState, meterID uint32, rise uint64, from, to time.Time) bool {
	if meterID&^0xfffff != forward.MeterBudgetBase&^0xfffff || meterID < forward.MeterBudgetBase {
		return false
	}
	port := meterID & 0xffff
	var cls detect.BudgetClass
	switch meterID {
	case policy.BudgetMeter(port, policy.BudgetICMP):
		cls = detect.BudgetICMP
	case policy.BudgetMeter(port, policy.BudgetOther):
		cls = detect.BudgetOther
	default:
		return true
	}
	sw.mu.Lock()
	var mac [6]byte
	found := false
	if sw.fwd.StationsAt(port) == 1 {
		for _, h := range sw.fwd.Hosts() {
			if h.Port == port {
				mac, found = h.MAC, true
				break
			}
		}
	}
	sw.mu.Unlock()
	if !found {
		return true
	}
	v, ok := c.det.BudgetDropped(to, detect.BudgetDrop{
		Source: detect.Source{DPID: sw.dpid, Port: port, MAC: mac}, Class: cls, Dropped: rise, From: from, To: to})
	if ok {
		c.queueVerdict(v)
	}
	return true
}
