package ofconn_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// packetOutHandler answers every PACKET_IN with a PACKET_OUT of its frame,
// as the controller does for a packet it floods. It runs on each session's
// reader goroutine, so one reused PacketOut per handler is enough for the
// single session of the benchmark.
type packetOutHandler struct {
	connected chan *ofconn.Session
	po        ofp.PacketOut
	queueFull int
}

func (h *packetOutHandler) Connected(s *ofconn.Session) { h.connected <- s }
func (h *packetOutHandler) Disconnected(*ofconn.Session, error) {
}
func (h *packetOutHandler) Message(s *ofconn.Session, _ uint32, m ofp.Message) {
	pi, ok := m.(*ofp.PacketIn)
	if !ok {
		return
	}
	h.po.Data = pi.Data // Send encodes at once: aliasing the read buffer is fine
	if err := s.Send(&h.po); err != nil {
		h.queueFull++
	}
}

// BenchmarkSessionPacketInOut measures PACKET_IN -> handler -> PACKET_OUT
// through one session's reader and writer over a loopback TCP socket. One
// op is one PACKET_IN read and one PACKET_OUT written; allocations include
// both ends' decoding (the fake switch decodes each PACKET_OUT).
func BenchmarkSessionPacketInOut(b *testing.B) {
	h := &packetOutHandler{connected: make(chan *ofconn.Session, 1)}
	h.po = ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1,
		Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortFlood, MaxLen: 0}}}
	srv := ofconn.NewServer(ofconn.Config{Listen: "127.0.0.1:0"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()
	defer func() { cancel(); <-served }()

	const window = 512 // PACKET_INs in flight
	tokens := make(chan struct{}, window)
	sw, err := ofconntest.Dial(ctx, srv.Addr().String(), ofconntest.Config{DPID: 1,
		Handle: func(_ *ofconntest.Switch, hd ofp.Header, _ ofp.Message) {
			if hd.Type == ofp.TypePacketOut {
				<-tokens
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	<-h.connected

	// A 100-byte TCP SYN-sized frame, as scans produce.
	pi := ofp.Marshal(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 100, Reason: ofp.PacketInReasonAction,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: make([]byte, 100)})
	const batch = 64
	chunk := make([]byte, 0, batch*len(pi))
	for range batch {
		chunk = append(chunk, pi...)
	}
	conn := sw.Conn()

	b.ReportAllocs()
	b.SetBytes(int64(len(pi)))
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(batch, b.N-sent)
		for range n {
			tokens <- struct{}{}
		}
		if _, err := conn.Write(chunk[:n*len(pi)]); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	for range window { // wait for the last PACKET_OUTs
		tokens <- struct{}{}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if h.queueFull != 0 {
		b.Fatalf("%d PACKET_OUTs refused with a full queue", h.queueFull)
	}
}

// BenchmarkSend measures encoding and queueing one FLOW_MOD.
func BenchmarkSend(b *testing.B) {
	h := &packetOutHandler{connected: make(chan *ofconn.Session, 1)}
	srv := ofconn.NewServer(ofconn.Config{Listen: "127.0.0.1:0", WriteQueue: 1 << 20}, h,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			srv.ServeConn(ctx, c)
		}
	}()
	sw, err := ofconntest.Dial(ctx, ln.Addr().String(), ofconntest.Config{DPID: 1,
		Handle: func(*ofconntest.Switch, ofp.Header, ofp.Message) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	s := <-h.connected
	fm := &ofp.FlowMod{Command: ofp.FlowAdd, Priority: 100, BufferID: ofp.NoBuffer, OutPort: ofp.PortAny,
		OutGroup: ofp.GroupAny, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Send(fm); err != nil {
			b.Fatal(err)
		}
		if i++; i%1024 == 0 {
			// Let the writer drain, off the clock, so that the queue
			// never fills: this measures encoding and queueing.
			b.StopTimer()
			for s.Stats().QueueLen > 0 {
				runtime.Gosched()
			}
			b.StartTimer()
		}
	}
}
