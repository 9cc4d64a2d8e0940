package controller

import (
	"testing"
	"time"

	"portcullis/internal/forward"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// Issue 8, item 2: an answer counts, and opens a bypass, only where its
// sender lives. S forges B's SYN-ACK to A: nothing is bypassed. B's own
// SYN-ACK opens both directions, each naming the port its sender lives at.
func TestForgedAnswerOpensNoBypass(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	for _, x := range []host{hostA, hostB, hostS} {
		fs.learn(x)
	}
	from := fs.count()
	fs.packetIn(watchCopy(hostA.port, tcpFrame(hostA, hostB, hostA.ip, 40000, 80, tcpSYN)))
	fs.packetIn(watchCopy(hostS.port, tcpFrame(hostS, hostA, hostB.ip, 80, 40000, tcpSYN|tcpACK)))
	at := fs.fence()
	for _, r := range fs.recorded(from)[:at-from] {
		if isBypassAdd(r) {
			t.Fatalf("a forged SYN-ACK (B's address from S's port) opened a bypass: %+v", r.Msg)
		}
	}
	fs.packetIn(watchCopy(hostB.port, tcpFrame(hostB, hostA, hostB.ip, 80, 40000, tcpSYN|tcpACK)))
	i, r := fs.waitFor(at, "a bypass flow", isBypassAdd)
	_, r2 := fs.waitFor(i+1, "the reverse bypass flow", isBypassAdd)
	for _, r := range []ofconntest.Received{r, r2} {
		fm, _ := flowMod(r)
		in, ok := fm.Match.InPort()
		src, _ := matchIPv4Src(fm.Match)
		switch {
		case !ok:
			t.Errorf("bypass without in_port: %+v", fm.Match)
		case src == hostA.ip && in != hostA.port, src == hostB.ip && in != hostB.port:
			t.Errorf("bypass from %v names in_port %d", src, in)
		}
	}
}

// Issue 8, item 3: frames from S's port with the MAC of M, who lives on
// another switch (behind switch 1's patch port 8, at access port 3 of
// switch 2), are blocked where they entered: in_port 3 + M's MAC on switch
// 1, and nothing on switch 2 or at switch 1's patch port, whatever the
// scope. A second spoofed MAC from the same port, which has one real
// station, blocks the port itself.
func TestMACSpoofBlockedWhereItEntered(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.Scope = "network"
	clk := newTestClock()
	h := startControllerClock(t, cfg, store.NewMemory(), clk)
	sw1 := h.connect(0x1, 8)
	sw2 := h.connect(0x2, 8)
	m := newHost(77, 3)                         // M at access port 3 of switch 2
	mVia := host{mac: m.mac, ip: m.ip, port: 8} // ... seen at switch 1's patch port 8
	other := newHost(78, 8)                     // another station behind the patch port
	sw2.learn(m)
	for _, x := range []host{mVia, other, hostA, hostS} {
		sw1.learn(x)
	}
	from1, from2 := sw1.count(), sw2.count()
	// S's stealth probe with M's MAC (and S's own address).
	spoofer := host{mac: m.mac, ip: hostS.ip, port: hostS.port}
	spoofConfirmed(sw1, clk, learnMiss(hostS.port, tcpFrame(spoofer, hostA, hostS.ip, 40000, 22, 0x29)))
	_, r := sw1.waitFor(from1, "the spoof's block", isBlockAdd)
	fm, _ := flowMod(r)
	if in, _ := fm.Match.InPort(); in != hostS.port {
		t.Errorf("spoof blocked at in_port %d, want %d", in, hostS.port)
	}
	if mac, ok := matchEthSrc(fm.Match); !ok || mac != m.mac {
		t.Errorf("spoof block %+v, want in_port + the spoofed MAC", fm.Match)
	}
	// The second spoofed MAC from the same port: the port.
	spoofer2 := host{mac: hostA.mac, ip: hostS.ip, port: hostS.port}
	spoofConfirmed(sw1, clk, learnMiss(hostS.port, tcpFrame(spoofer2, other, hostS.ip, 40001, 22, tcpSYN)))
	sw1.waitFor(from1, "the port-wide block", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		return ok && isBlockAdd(r) && len(fm.Match.Fields) == 1
	})
	at1, at2 := sw1.fence(), sw2.fence()
	for _, r := range sw2.recorded(from2)[:at2-from2] {
		if isBlockChange(r) {
			t.Errorf("switch 2 (where M lives) got a block flow: %+v", r.Msg)
		}
	}
	for _, r := range sw1.recorded(from1)[:at1-from1] {
		if fm, ok := flowMod(r); ok && isBlockAdd(r) {
			if in, ok := fm.Match.InPort(); !ok || in != hostS.port {
				t.Errorf("block flow on switch 1 not at the spoofer's port: %+v", fm.Match)
			}
		}
	}
	// M's home did not move: switch 1 still sends M's frames to the patch port.
	for _, r := range sw1.recorded(from1)[:at1-from1] {
		if learnFlowFor(r, forward.TableLearn, m.mac, hostS.port) || learnFlowFor(r, forward.TableForward, m.mac, hostS.port) {
			t.Errorf("the spoofer's port learned M's MAC: %+v", r.Msg)
		}
	}
	var hosts int
	for _, hh := range h.hosts() {
		if hh.MAC == m.macString() {
			hosts++
			if hh.Port != 8 && hh.Port != 3 {
				t.Errorf("M's MAC at port %d: %+v", hh.Port, hh)
			}
		}
	}
	if hosts == 0 {
		t.Error("M forgotten")
	}
}

// A link between switches is never blocked whole, however often spoofed
// frames come through it: switch 2 sees spoofed MACs of its own stations
// enter at its patch port 8, behind which only X (at access port 2 of
// switch 1) lives. The spoofs are blocked at (patch, MAC) on switch 2, the
// patch port itself never.
func TestSpoofThroughLinkNeverBlocksLink(t *testing.T) {
	clk := newTestClock()
	h := startControllerClock(t, testConfig(t), store.NewMemory(), clk)
	sw1 := h.connect(0x1, 8)
	sw2 := h.connect(0x2, 8)
	x := newHost(90, 2)
	xVia := host{mac: x.mac, ip: x.ip, port: 8}
	w1, w2 := newHost(91, 3), newHost(92, 4) // stations of switch 2
	sw1.learn(x)
	for _, s := range []host{xVia, w1, w2} {
		sw2.learn(s)
	}
	from := sw2.count()
	for _, w := range []host{w1, w2} {
		spoofConfirmed(sw2, clk, learnMiss(8, tcpFrame(host{mac: w.mac, ip: x.ip, port: 8}, w1, x.ip, 40000, 22, tcpSYN)))
	}
	for _, w := range []host{w1, w2} {
		sw2.packetIn(learnMiss(8, tcpFrame(host{mac: w.mac, ip: x.ip, port: 8}, w1, x.ip, 40000, 22, tcpSYN)))
	}
	i, _ := sw2.waitFor(from, "a spoof block", isBlockAdd)
	sw2.waitFor(i+1, "the second spoof's block", isBlockAdd)
	at := sw2.fence()
	for _, r := range sw2.recorded(from)[:at-from] {
		if fm, ok := flowMod(r); ok && isBlockAdd(r) {
			if len(fm.Match.Fields) == 1 {
				t.Errorf("the link (patch port 8) was blocked whole: %+v", fm.Match)
			}
			if in, _ := fm.Match.InPort(); in != 8 {
				t.Errorf("block at in_port %d, want the patch port 8 (with the spoofed MAC)", in)
			}
		}
	}
}

// A spoofer takes the MAC of M, who lives on switch 2, on switch 1 before
// M's own traffic ever reached switch 1 (so switch 1 learned M at the
// spoofer's port 2). When M's frames then come in through switch 1's link
// (port 8), the spoof is pinned on the spoofer's port, never on the link:
// M keeps reaching switch 1.
func TestStolenHomeBlocksTheThief(t *testing.T) {
	clk := newTestClock()
	h := startControllerClock(t, testConfig(t), store.NewMemory(), clk)
	sw1 := h.connect(0x1, 8)
	sw2 := h.connect(0x2, 8)
	m := newHost(77, 3)                      // M at access port 3 of switch 2
	thief := newHost(66, 2)                  // the spoofer's own station at port 2 of switch 1
	a1, b2 := newHost(10, 1), newHost(11, 5) // a station of each switch
	sw2.learn(m)
	sw2.learn(b2)
	sw2.learn(host{mac: thief.mac, ip: thief.ip, port: 8})
	sw2.learn(host{mac: a1.mac, ip: a1.ip, port: 8})
	sw1.learn(a1)
	sw1.learn(thief)
	sw1.learn(host{mac: b2.mac, ip: b2.ip, port: 8})
	// The thief's frame with M's MAC: switch 1 has never seen M, so it learns M at port 2.
	sw1.learn(host{mac: m.mac, ip: thief.ip, port: 2})
	from := sw1.count()
	// M's own frame comes in through the link: a spoof there by switch 1's table.
	spoofConfirmed(sw1, clk, learnMiss(8, tcpFrame(host{mac: m.mac, ip: m.ip, port: 8}, a1, m.ip, 40000, 22, tcpSYN)))
	_, r := sw1.waitFor(from, "the spoof's block", isBlockAdd)
	fm, _ := flowMod(r)
	if in, _ := fm.Match.InPort(); in != thief.port {
		t.Errorf("spoof blocked at in_port %d, want the thief's port %d (never the link 8): %+v", in, thief.port, fm.Match)
	}
	for _, b := range h.blocks() {
		if b.Port == 8 {
			t.Errorf("the link is blocked: %+v", b)
		}
	}
}

// spoofConfirmed sends a frame whose MAC lives at another port, lets the
// move check it starts end (the fake switch never expires the home's check
// flow: the station still sends at home), and sends it again: now a spoof.
func spoofConfirmed(fs *fakeSwitch, clk *testClock, pi *ofp.PacketIn) {
	fs.packetIn(pi)
	fs.fence()
	clk.Advance(time.Duration(forward.DefaultMoveCheck)*time.Second + 3*time.Second)
	fs.packetIn(pi)
}
