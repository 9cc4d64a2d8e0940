package policy

import "testing"

func TestMeterName(t *testing.T) {
	for _, c := range []struct {
		id   uint32
		want string
	}{
		{FirstContactMeterBase + 3, "first-contact:3"},
		{ReplyMeter(7), "answer:7"},
		{LookupMeterBase + 2, "arp-lookup:2"},
		{NDMeterBase + 2, "nd-lookup:2"},
		{HoldMeterBase + 1, "hold:1"},
		{BudgetMeter(4, BudgetStray), "stray-budget:4"},
		{BudgetMeter(4, BudgetICMP), "icmp-budget:4"},
		{BudgetMeter(65000, BudgetReset), "reset-budget:65000"},
		{1, "meter-1"},
		{BudgetMeter(1, numBudgetClasses), "meter-1441793"},
	} {
		if got := MeterName(c.id); got != c.want {
			t.Errorf("MeterName(%#x) = %q, want %q", c.id, got, c.want)
		}
	}
}
