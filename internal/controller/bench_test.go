package controller

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// rawSwitch is a switch for benchmarks: it answers the handshake, the
// block-flow dump (and the SYN counter reading: an empty flow stats reply)
// and barriers, and otherwise reads and discards what the controller sends
// without decoding it, so it allocates nothing while the benchmark runs
// (allocation counts are process-wide). With meters (an encoded meter
// stats reply) it answers meter readings with it, under the request's xid;
// without, they time out.
func rawSwitch(b testing.TB, addr string, dpid uint64, meters []byte) net.Conn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Write(ofp.Marshal(0, ofp.NewHello(ofp.Version))); err != nil {
		b.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := io.ReadFull(c, buf[:ofp.HeaderLen]); err != nil {
				return
			}
			h, err := ofp.ParseHeader(buf[:ofp.HeaderLen])
			if err != nil {
				return
			}
			if _, err := io.ReadFull(c, buf[ofp.HeaderLen:h.Length]); err != nil {
				return
			}
			var reply ofp.Message
			switch h.Type {
			case ofp.TypeFeaturesRequest:
				reply = &ofp.FeaturesReply{DatapathID: dpid, NTables: 254}
			case ofp.TypeBarrierRequest:
				reply = &ofp.BarrierReply{}
			case ofp.TypeMultipartRequest:
				switch binary.BigEndian.Uint16(buf[8:]) {
				case uint16(ofp.MultipartPortDesc):
					reply = &ofp.MultipartReply{Body: &ofp.PortDescReply{Ports: ofconntest.Ports(4)}}
				case uint16(ofp.MultipartFlow):
					reply = &ofp.MultipartReply{Body: &ofp.FlowStatsReply{}}
				case uint16(ofp.MultipartMeter):
					if meters != nil {
						out := slices.Clone(meters)
						binary.BigEndian.PutUint32(out[4:], h.Xid)
						c.Write(out)
					}
				}
			}
			if reply != nil {
				c.Write(ofp.Marshal(h.Xid, reply))
			}
		}
	}()
	return c
}

// benchController runs a controller with a clock the benchmark sets, one
// switch connected, and A and B learned (A with its address); it returns the
// controller, the switch's session and the clock.
func benchController(b testing.TB) (*Controller, *ofconn.Session, *atomic.Int64) {
	b.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	cfg := testConfig(b)
	c, err := New(Options{Config: cfg, Store: store.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	var addr net.Addr
	for addr == nil {
		time.Sleep(time.Millisecond)
		addr = c.OpenFlowAddr()
	}
	conn := rawSwitch(b, addr.String(), 1, nil)
	b.Cleanup(func() { conn.Close() })
	var s *ofconn.Session
	for deadline := time.Now().Add(waitLimit); s == nil || c.lookup(s) == nil; {
		if time.Now().After(deadline) {
			b.Fatal("switch did not connect")
		}
		time.Sleep(time.Millisecond)
		s = c.srv.Session(1)
	}
	c.Message(s, 0, learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)))
	c.Message(s, 0, learnMiss(hostB.port, arpFrame(2, hostB.mac, hostB.ip, hostA.mac, hostA.ip)))
	if _, _, _, ok := c.locateIP(hostA.ip); !ok {
		b.Fatal("A not learned")
	}
	return c, s, &clock
}

// BenchmarkPacketIn measures Controller.Message for the packet-ins a busy
// switch sends most: watch-table copies of known, benign hosts and
// table-2 misses of known hosts. One op is one Message call on the
// session's reader path (parse, forward, detect); nothing is sent to the
// switch in these cases except in learn/relearn.
func BenchmarkPacketIn(b *testing.B) {
	cases := []struct {
		name    string
		pi      *ofp.PacketIn
		advance time.Duration // clock step per op
		sends   bool          // the case sends flow-mods
	}{
		// A connects to B's web server again: a SYN to a target it has
		// contacted before (no new first contact).
		{"watch/syn-known", watchCopy(hostA.port, tcpFrame(hostA, hostB, hostA.ip, 50000, 443, tcpSYN)), 0, false},
		// B answers: a SYN-ACK (an accepted connection installs bypass
		// flows, so this one sends two flow-mods).
		{"watch/synack-bypass", watchCopy(hostB.port, tcpFrame(hostB, hostA, hostB.ip, 443, 50000, tcpSYN|tcpACK)), 0, true},
		// A resolves B again.
		{"watch/arp-known", watchCopy(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)), 0, false},
		// A table-2 miss of A that raced its flow-mods (within the holdoff).
		{"learn/known-holdoff", learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)), 0, false},
		// A table-2 miss of A after its flows expired: two flow-mods again.
		{"learn/known-relearn", learnMiss(hostA.port, arpFrame(1, hostA.mac, hostA.ip, [6]byte{}, hostB.ip)), 2 * time.Second, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, s, clock := benchController(b)
			c.Message(s, 0, tc.pi)
			b.ReportAllocs()
			for b.Loop() {
				if tc.advance > 0 {
					clock.Add(int64(tc.advance))
				}
				c.Message(s, 0, tc.pi)
				if tc.sends {
					// Let the writer keep up, as TCP back-pressure from the
					// switch would: time spent here is the cost of sending.
					for s.Stats().QueueLen > 256 {
						runtime.Gosched()
					}
				}
			}
			b.StopTimer()
			if st := s.Stats(); st.QueueDrops > 0 {
				b.Logf("write queue refused %d messages", st.QueueDrops)
			}
		})
	}
}
