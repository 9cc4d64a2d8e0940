package controller

import (
	"net/netip"
	"testing"

	"portcullis/internal/api"
	"portcullis/internal/store"
)

// Issue 12, item 2: a configured port range is allowed whole, at start and after a reload, and the
// API's allowlist shows it as configured (once it showed the first 64 of its ports).
func TestConfiguredAllowRanges(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.Allowlist = []string{"10.0.0.0/24:8000-8100"}
	h := startController(t, cfg, store.NewMemory())
	ip := netip.MustParseAddr("10.0.0.5")
	if l := h.c.allowSet.Load(); !l.Contains(ip, 8100) || !l.Contains(ip, 8000) || l.Contains(ip, 8101) {
		t.Errorf("allowlist %v after start: want 8000-8100 whole", l.Entries())
	}
	if a := h.c.Allowlist(); len(a) != 1 || a[0].CIDR.String() != "10.0.0.0/24" || a[0].Ports.String() != "8000-8100" {
		t.Errorf("API allowlist after start %+v; want 10.0.0.0/24 ports 8000-8100", a)
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
	if a := h.c.Allowlist(); len(a) != 1 || a[0].Ports.String() != "1024-65535" {
		t.Errorf("API allowlist after reload %+v; want ports 1024-65535", a)
	}
}

// A run-time entry with a range is allowed and stored whole; entries stored as
// port numbers (before ranges) still load.
func TestRuntimeAllowRanges(t *testing.T) {
	cfg := testConfig(t)
	st := store.NewMemory()
	if err := store.PutJSON(st, store.BucketAllow, "old1", allowRecord{CIDR: "192.0.2.0/24", Ports: api.Ports(53, 123)}); err != nil {
		t.Fatal(err)
	}
	h := startController(t, cfg, st)
	e, err := h.c.AddAllow(t.Context(), api.AllowEntry{CIDR: netip.MustParsePrefix("10.9.0.0/16"), Ports: api.PortRanges{{Lo: 1024, Hi: 65535}}})
	if err != nil {
		t.Fatal(err)
	}
	ip, old := netip.MustParseAddr("10.9.1.1"), netip.MustParseAddr("192.0.2.9")
	if l := h.c.allowSet.Load(); !l.Contains(ip, 65535) || l.Contains(ip, 1023) || !l.Contains(old, 123) || l.Contains(old, 124) {
		t.Errorf("allowlist %v: want 10.9.0.0/16:1024-65535 and 192.0.2.0/24:53,123", l.Entries())
	}
	if rec, ok, err := store.GetJSON[allowRecord](st, store.BucketAllow, e.ID); err != nil || !ok || rec.Ports.String() != "1024-65535" {
		t.Errorf("stored %+v (%v, %v); want ports 1024-65535", rec, ok, err)
	}
}
