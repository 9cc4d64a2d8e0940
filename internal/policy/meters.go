package policy

import (
	"fmt"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// MeterName names a meter the policy installs, by family and switch port
// ("first-contact:3", "icmp-budget:3"), for logs, benchmarks and operators
// reading ovs-ofctl meter-stats; a meter of no per-port family is "meter-ID"
// (the watch meters of table 0).
func MeterName(id uint32) string {
	port := id & 0xffff
	switch base := id &^ 0xffff; base {
	case FirstContactMeterBase:
		return fmt.Sprintf("first-contact:%d", port)
	case forward.MeterReplyBase:
		return fmt.Sprintf("answer:%d", port)
	case LookupMeterBase:
		return fmt.Sprintf("arp-lookup:%d", port)
	case NDMeterBase:
		return fmt.Sprintf("nd-lookup:%d", port)
	case HoldMeterBase:
		return fmt.Sprintf("hold:%d", port)
	}
	for c := BudgetClass(0); c < numBudgetClasses; c++ {
		if id == BudgetMeter(port, c) {
			return fmt.Sprintf("%s-budget:%d", c, port)
		}
	}
	return fmt.Sprintf("meter-%d", id)
}

// dropMeter is the one meter shape the policy installs: packets per second,
// with a burst, counted, and one drop band at rate.
func dropMeter(cmd uint16, id, rate, burst uint32) *ofp.MeterMod {
	return &ofp.MeterMod{Command: cmd, Flags: ofp.MeterFlagPktps | ofp.MeterFlagBurst | ofp.MeterFlagStats,
		MeterID: id, Bands: []ofp.MeterBand{{Type: ofp.MeterBandDrop, Rate: rate, BurstSize: burst}}}
}

// appendMeterReplace appends the delete and add that (re)install meter id as
// a drop meter: the delete clears one a previous controller left with other
// bands (an add of an existing meter fails).
func appendMeterReplace(msgs []ofp.Message, id, rate, burst uint32) []ofp.Message {
	return append(msgs, &ofp.MeterMod{Command: ofp.MeterDelete, MeterID: id}, dropMeter(ofp.MeterAdd, id, rate, burst))
}
