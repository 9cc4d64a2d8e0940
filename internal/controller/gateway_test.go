package controller

import (
	"net/netip"
	"testing"

	"portcullis/internal/store"
)

// An edge network: scans from the Internet arrive through the gateway's port
// with the gateway's MAC. Blocking that MAC would cut the LAN off from
// everything behind the router, so when the source MAC belongs to a
// never-block host the block is by in_port + ip_src of the scanner only.
func TestScanThroughGatewayBlocksAddressNotGateway(t *testing.T) {
	cfg := testConfig(t)
	gw := newHost(1, 5)
	cfg.Block.NeverBlock = []string{gw.ip.String() + "/32"}
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 8)
	for _, x := range []host{gw, hostA, hostV} {
		fs.learn(x)
	}
	outside := host{mac: gw.mac, ip: netip.MustParseAddr("198.51.100.7"), port: gw.port}
	control := newHost(30, 7)
	before := scanAndControl(t, fs, control, func() {
		fs.synScan(gw, outside, hostV, 21, 22, 23, 25, 80, 110, 143, 443)
	})
	var ipDrop bool
	for _, fm := range blockAdds(before) {
		if mac, ok := matchEthSrc(fm.Match); ok && mac == gw.mac {
			t.Errorf("drop flow on the gateway's MAC: %+v", fm.Match)
		}
		if ip, ok := matchIPv4Src(fm.Match); ok {
			if ip != outside.ip {
				t.Errorf("ip_src drop of %s, want only the scanner %s", ip, outside.ip)
			}
			if in, _ := fm.Match.InPort(); in != gw.port {
				t.Errorf("ip_src drop at port %d, want the gateway's port %d", in, gw.port)
			}
			ipDrop = true
		}
	}
	if !ipDrop {
		t.Fatalf("the scanner behind the gateway was not blocked by address:\n%s", describe(before))
	}
	var found bool
	for _, b := range h.blocks() {
		if contains(b.IPs, outside.ip.String()) {
			found = true
		}
	}
	if !found {
		t.Errorf("no block lists %s: %+v", outside.ip, h.blocks())
	}
}
