package e2e

import "testing"

// TestEvasion runs the evasion cases of issue 8 that share one lab of four
// hosts, each on a fresh controller: forged echo replies from an
// accomplice's port (forged_test.go), a sweep whose probes the ICMP budget
// dropped (budget_test.go), and a scanner rotating MACs on one access port
// (rotation_test.go).
func TestEvasion(t *testing.T) {
	e := scanStartEnv(t, 4)
	t.Run("forged-echo-replies", func(t *testing.T) { evasionForgedEcho(t, e) })
	t.Run("budget-drop-sweep", func(t *testing.T) { evasionBudgetDropSweep(t, e) })
	t.Run("mac-rotation", func(t *testing.T) { evasionMACRotation(t, e) }) // last: it leaves macvlans in h1 until it ends
}
