package ofconn_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// TestRoundTripAllocations checks the latency-mode hot path, one
// PACKET_IN in flight: reading it, handling it and writing its answer
// allocate nothing, with one read and one write system call per message
// (TestReaderAllocations batches 100 packet-ins per read and sends no
// answer).
func TestRoundTripAllocations(t *testing.T) {
	cfg := ofconn.Config{Listen: "127.0.0.1:0"}
	const n = 5000
	h := &packetOutHandler{connected: make(chan *ofconn.Session, 1)}
	h.po = ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 1,
		Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortFlood}}}
	srv := ofconn.NewServer(cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()
	t.Cleanup(func() { cancel(); <-served })

	// The fake switch's reader takes the first answer and stops at its
	// gate (Pause): the test reads the others itself into one buffer, so
	// that the only allocations counted are the controller side's.
	got := make(chan int, 1)
	sw := dial(t, srv.Addr().String(), ofconntest.Config{DPID: 1,
		Handle: func(sw *ofconntest.Switch, hd ofp.Header, _ ofp.Message) {
			if hd.Type == ofp.TypePacketOut {
				sw.Pause()
				got <- int(hd.Length)
			}
		}})
	<-h.connected
	pi := ofp.Marshal(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 60, Reason: ofp.PacketInReasonAction,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: make([]byte, 60)})
	conn := sw.Conn()
	if _, err := conn.Write(pi); err != nil {
		t.Fatal(err)
	}
	ans := make([]byte, <-got)

	roundTrips := func(k int) {
		for range k {
			if _, err := conn.Write(pi); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(conn, ans); err != nil {
				t.Fatal(err)
			}
			if ofp.Type(ans[1]) != ofp.TypePacketOut {
				t.Fatalf("answer of type %v, want PACKET_OUT", ofp.Type(ans[1]))
			}
		}
	}
	roundTrips(100) // warm-up: buffers at their size
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	roundTrips(n)
	runtime.ReadMemStats(&after)
	perMsg := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.2f allocations per PACKET_IN read, handled and answered", perMsg)
	if perMsg > 0.05 {
		t.Errorf("%.2f allocations per PACKET_IN round trip, want 0", perMsg)
	}
	if h.queueFull != 0 {
		t.Errorf("%d PACKET_OUTs refused with a full queue", h.queueFull)
	}
}
