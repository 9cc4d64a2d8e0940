package controller

import (
	"testing"

	"portcullis/internal/forward"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/ofp"
)

func isBypassAdd(r ofconntest.Received) bool {
	fm, ok := flowMod(r)
	if !ok {
		return false
	}
	k, ours := forward.CookieKind(fm.Cookie)
	return ours && k == forward.KindBypass && fm.Command == ofp.FlowAdd
}

// A conversation whose handshake the controller never saw (it began before
// the controller, or its bypass expired): pure ACKs are copied because ACK
// scans look like them, but ACKs flowing both ways make it a real
// conversation, and both directions get a 5-tuple bypass (docs/pipeline.md).
func TestEstablishedTCPBypassedOnAcksBothWays(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostA)
	fs.learn(hostB)
	from := fs.count()
	const ack = 0x10
	fs.packetIn(watchCopy(hostA.port, tcpFrame(hostA, hostB, hostA.ip, 40000, 22, ack)))
	// One direction alone is what an ACK scan looks like: no bypass.
	at := fs.fence()
	for _, r := range fs.recorded(from)[:at-from] {
		if isBypassAdd(r) {
			t.Fatalf("bypass after ACKs in one direction only: %+v", r)
		}
	}
	fs.packetIn(watchCopy(hostB.port, tcpFrame(hostB, hostA, hostB.ip, 22, 40000, ack)))
	i, r := fs.waitFor(from, "a bypass flow", isBypassAdd)
	_, r2 := fs.waitFor(i+1, "the reverse bypass flow", isBypassAdd)
	for _, r := range []ofconntest.Received{r, r2} {
		fm, _ := flowMod(r)
		_, hasSrc := fieldValue(fm.Match, ofp.OXMTCPSrc)
		_, hasDst := fieldValue(fm.Match, ofp.OXMTCPDst)
		if !hasSrc || !hasDst {
			t.Errorf("bypass of a conversation of unknown direction must name both ports: %+v", fm.Match)
		}
	}
}

// An ACK scan: the probed ports answer RST, never ACK, so nothing is bypassed.
func TestACKScanNotBypassed(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostA)
	fs.learn(hostB)
	from := fs.count()
	for p := uint16(1); p <= 20; p++ {
		fs.packetIn(watchCopy(hostA.port, tcpFrame(hostA, hostB, hostA.ip, 40000, p, 0x10)))
		fs.packetIn(watchCopy(hostB.port, tcpFrame(hostB, hostA, hostB.ip, p, 40000, 0x04)))
	}
	at := fs.fence()
	for _, r := range fs.recorded(from)[:at-from] {
		if isBypassAdd(r) {
			t.Fatalf("an ACK scan got a bypass: %+v", r)
		}
	}
}
