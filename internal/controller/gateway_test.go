package controller

import (
	"net/netip"
	"testing"

	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
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

// Every switch port gets a first-contact meter on connect, except a port
// behind which a never-block host lives: a gateway's port carries other
// people's connection attempts.
func TestFirstContactMetersAndGatewayExemption(t *testing.T) {
	cfg := testConfig(t)
	gw := newHost(1, 5)
	cfg.Block.NeverBlock = []string{gw.ip.String() + "/32"}
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 6)
	isFC := func(port uint32, cmd ofp.FlowModCommand) func(ofconntest.Received) bool {
		return func(r ofconntest.Received) bool {
			fm, ok := flowMod(r)
			return ok && fm.Cookie == policy.FirstContactCookie(port) && fm.Command == cmd
		}
	}
	for p := uint32(1); p <= 6; p++ {
		fs.waitFor(0, "the first-contact flow of a port", isFC(p, ofp.FlowAdd))
	}
	from := fs.count()
	fs.learn(gw)
	fs.waitFor(from, "the gateway port's first-contact flows removed", isFC(gw.port, ofp.FlowDelete))
	fs.waitFor(from, "the gateway port's SYN counter removed", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && fm.Cookie == policy.SYNCountCookie(gw.port) && fm.Command == ofp.FlowDelete
	})
	at := fs.fence()
	for _, r := range fs.recorded(from)[:at-from] {
		if fm, ok := flowMod(r); ok && fm.Command == ofp.FlowDelete && fm.Cookie != policy.FirstContactCookie(gw.port) &&
			fm.Cookie>>16 == policy.FirstContactCookie(0)>>16 {
			t.Errorf("first-contact flows of another port removed: %#x", fm.Cookie)
		}
	}
}
