package controller

import (
	"net/netip"
	"testing"

	"portcullis/internal/store"
)

// Issue 12, item 2: a configured port range is allowed whole, at start and after a reload, though
// the API's entry lists at most 64 of its ports.
func TestConfiguredAllowRanges(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.Allowlist = []string{"10.0.0.0/24:8000-8100"}
	h := startController(t, cfg, store.NewMemory())
	ip := netip.MustParseAddr("10.0.0.5")
	if l := h.c.allowSet.Load(); !l.Contains(ip, 8100) || !l.Contains(ip, 8000) || l.Contains(ip, 8101) {
		t.Errorf("allowlist %v after start: want 8000-8100 whole", l.Entries())
	}
	next := cfg
	next.Block.Allowlist = []string{"[2001:db8::/32]:1024-65535"}
	if err := h.c.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	ip6 := netip.MustParseAddr("2001:db8::1")
	if l := h.c.allowSet.Load(); !l.Contains(ip6, 65535) || l.Contains(ip6, 1023) || l.Contains(ip, 8000) {
		t.Errorf("allowlist %v after reload: want [2001:db8::/32]:1024-65535 only", l.Entries())
	}
}
