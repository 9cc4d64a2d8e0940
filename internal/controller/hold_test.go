package controller

import (
	"bytes"
	"testing"
	"time"

	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// stackSYN is a SYN as Linux sends it (window 64240; MSS, SACK permitted,
// timestamps, window scale): no raw-scanner shape.
func stackSYN(src, dst host, sport, dport uint16) []byte {
	f := tcpFrame(src, dst, src.ip, sport, dport, tcpACK) // 20-byte header, no options
	ip := f[14:]
	tcp := ip[20:]
	tcp[13] = tcpSYN
	opts := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	tcp[12] = byte((20+len(opts))/4) << 4
	tcp[8], tcp[9], tcp[10], tcp[11] = 0, 0, 0, 0 // no ACK number
	f = append(f, opts...)
	ip = f[14:]
	ip[2], ip[3] = byte(len(ip)>>8), byte(len(ip))
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	ip[10], ip[11] = byte(^sum>>8), byte(^sum)
	return f
}

// heldCopy is what Open vSwitch sends for a hold flow: the whole frame,
// table 1, the hold's cookie.
func heldCopy(port uint32, frame []byte) *ofp.PacketIn {
	pi := watchCopy(port, frame)
	pi.Cookie = policy.HoldCookie(port)
	return pi
}

func isHoldAdd(r ofconntest.Received) bool {
	fm, ok := flowMod(r)
	return ok && fm.Command == ofp.FlowAdd && policy.IsHoldCookie(fm.Cookie)
}

func isPacketOutOf(frame []byte) func(ofconntest.Received) bool {
	return func(r ofconntest.Received) bool {
		po, ok := r.Msg.(*ofp.PacketOut)
		return ok && bytes.Equal(po.Data, frame)
	}
}

// TestHoldSuspectSYNs: a client's second service of one host makes it a
// suspect; the hold comes with its own meter and the port's first-contact
// meter squeezed until the hold is in place, then restored; the held SYNs
// (new ports, a retry) go on by packet-out to the victim's port until the
// fan-out rule decides; the deciding SYN and those after it are dropped.
func TestHoldSuspectSYNs(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()
	fs.packetIn(watchCopy(hostS.port, stackSYN(hostS, hostV, 40001, 22)))
	fs.packetIn(watchCopy(hostS.port, stackSYN(hostS, hostV, 40001, 22))) // its retry
	end := fs.fence()
	for _, r := range fs.recorded(from)[:end-from] {
		if isHoldAdd(r) {
			t.Fatalf("one service of a host held the client:\n%s", describe(fs.recorded(from)))
		}
	}
	fs.packetIn(watchCopy(hostS.port, stackSYN(hostS, hostV, 40002, 80)))
	i, r := fs.waitFor(from, "the hold flows after the second port", isHoldAdd)
	fm, _ := flowMod(r)
	if in, ok := fm.Match.InPort(); !ok || in != hostS.port {
		t.Errorf("hold without in_port %d: %+v", hostS.port, fm.Match)
	}
	if mac, ok := matchEthSrc(fm.Match); !ok || mac != hostS.mac {
		t.Errorf("hold without eth_src %s: %+v", hostS.macString(), fm.Match)
	}
	if fm.IdleTimeout == 0 || fm.Priority != policy.PriorityHold {
		t.Errorf("hold flow %+v", fm)
	}
	meterOf := func(id uint32, rate uint32) func(ofconntest.Received) bool {
		return func(r ofconntest.Received) bool {
			mm, ok := r.Msg.(*ofp.MeterMod)
			return ok && mm.MeterID == id && mm.Command != ofp.MeterDelete && len(mm.Bands) == 1 && mm.Bands[0].Rate == rate
		}
	}
	fcMeter := policy.FirstContactMeterBase + hostS.port
	fs.waitFor(from, "the hold meter", meterOf(policy.HoldMeterBase+hostS.port, policy.DefaultFirstContactRate))
	sq, _ := fs.waitFor(i, "the squeezed first-contact meter", meterOf(fcMeter, 1))
	fs.waitFor(sq, "the first-contact meter restored", meterOf(fcMeter, policy.DefaultFirstContactRate))
	// Held: new ports (the third, fourth and fifth) and a retry of the first go on to V.
	for _, f := range [][]byte{stackSYN(hostS, hostV, 40003, 443), stackSYN(hostS, hostV, 40004, 4000), stackSYN(hostS, hostV, 40001, 22), stackSYN(hostS, hostV, 40005, 3306)} {
		fs.packetIn(heldCopy(hostS.port, f))
		_, r := fs.waitFor(i, "the held SYN's packet-out", isPacketOutOf(f))
		po := r.Msg.(*ofp.PacketOut)
		out, ok := po.Actions[0].(*ofp.ActionOutput)
		if po.InPort != hostS.port || len(po.Actions) != 1 || !ok || out.Port != hostV.port {
			t.Errorf("packet-out %+v, want in_port %d, output:%d", po, hostS.port, hostV.port)
		}
	}
	// The sixth port decides (fanout.go): neither it nor what follows goes on.
	mark := fs.count()
	dropped := [][]byte{stackSYN(hostS, hostV, 40006, 8080), stackSYN(hostS, hostV, 40007, 1), stackSYN(hostS, hostV, 40001, 22)}
	for _, f := range dropped {
		fs.packetIn(heldCopy(hostS.port, f))
	}
	fs.waitFor(mark, "the block", isBlockAdd)
	end = fs.fence()
	for _, r := range fs.recorded(mark)[:end-mark] {
		for _, f := range dropped {
			if isPacketOutOf(f)(r) {
				t.Errorf("a held SYN of a decided source went on:\n%s", describe(fs.recorded(mark)))
			}
		}
	}
}

// TestHoldPortAfterVerdict: a verdict against S holds the SYNs of every
// station at S's port (not at the port of the packet that decided), and a
// MAC new at that port whose first SYN goes to the host S scanned (MAC
// rotation, detect/rotation.go) has that SYN dropped and is blocked.
func TestHoldPortAfterVerdict(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	fs.learn(hostV)
	from := fs.count()
	for i, port := range []uint16{22, 80, 443, 4000, 3306, 8080} {
		fs.packetIn(watchCopy(hostS.port, stackSYN(hostS, hostV, 40001+uint16(i), port)))
	}
	fs.waitFor(from, "the block of S", isBlockAdd)
	fs.waitFor(from, "the port hold", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		if !ok || !isHoldAdd(r) {
			return false
		}
		_, mac := matchEthSrc(fm.Match)
		in, _ := fm.Match.InPort()
		return !mac && in == hostS.port && fm.HardTimeout == policy.HoldPortTimeout
	})
	rot := newHost(67, hostS.port) // the same machine with a new MAC and address
	fs.learn(rot)
	mark := fs.count()
	f := stackSYN(rot, hostV, 41000, 5432)
	fs.packetIn(heldCopy(rot.port, f))
	fs.waitFor(mark, "the block of the rotated MAC", func(r ofconntest.Received) bool {
		fm, ok := flowMod(r)
		if !ok || !isBlockAdd(r) {
			return false
		}
		in, _ := fm.Match.InPort()
		mac, ok := matchEthSrc(fm.Match)
		return in == hostS.port && (!ok || mac == rot.mac)
	})
	end := fs.fence()
	for _, r := range fs.recorded(mark)[:end-mark] {
		if isPacketOutOf(f)(r) {
			t.Errorf("the rotated MAC's first SYN went on:\n%s", describe(fs.recorded(mark)))
		}
	}
}

// TestHoldSqueezeShared: a port with one station is squeezed with each
// hold; a shared port at most once per holdSqueezeEvery, whoever asks.
func TestHoldSqueezeShared(t *testing.T) {
	var h holdTable
	t0 := time.Unix(1000, 0)
	if !h.maySqueeze(t0, 1, 1) || !h.maySqueeze(t0.Add(time.Millisecond), 1, 1) {
		t.Error("a port with one station was not squeezed")
	}
	if !h.maySqueeze(t0, 2, 3) {
		t.Error("a shared port's first squeeze refused")
	}
	if h.maySqueeze(t0.Add(holdSqueezeEvery-time.Millisecond), 2, 3) {
		t.Error("a shared port squeezed twice within holdSqueezeEvery")
	}
	if !h.maySqueeze(t0.Add(holdSqueezeEvery), 2, 3) {
		t.Error("a shared port not squeezed again after holdSqueezeEvery")
	}
}
