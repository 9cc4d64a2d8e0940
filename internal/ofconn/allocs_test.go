package ofconn_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// countHandler counts PACKET_INs and closes done at want.
type countHandler struct {
	connected chan *ofconn.Session
	n, want   atomic.Int64
	done      chan struct{}
}

func (h *countHandler) Connected(s *ofconn.Session)         { h.connected <- s }
func (h *countHandler) Disconnected(*ofconn.Session, error) {}
func (h *countHandler) Message(_ *ofconn.Session, _ uint32, m ofp.Message) {
	if _, ok := m.(*ofp.PacketIn); ok && h.n.Add(1) == h.want.Load() {
		close(h.done)
	}
}

// TestReaderAllocations checks the hot path: reading a PACKET_IN and
// handing it to the handler allocates nothing beyond ofp.Unmarshal.
func TestReaderAllocations(t *testing.T) {
	const n = 20000
	frame := ofp.Marshal(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 60, Reason: ofp.PacketInReasonAction,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(3)}}, Data: make([]byte, 60)})
	h := &countHandler{connected: make(chan *ofconn.Session, 1), done: make(chan struct{})}
	h.want.Store(n)
	srv := ofconn.NewServer(ofconn.Config{Listen: "127.0.0.1:0"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	sw := dial(t, srv.Addr().String(), ofconntest.Config{DPID: 1,
		Handle: func(*ofconntest.Switch, ofp.Header, ofp.Message) {}})
	<-h.connected

	const batch = 100
	chunk := make([]byte, 0, batch*len(frame))
	for range batch {
		chunk = append(chunk, frame...)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n / batch {
		if _, err := sw.Conn().Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	<-h.done
	runtime.ReadMemStats(&after)
	perMsg := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.2f allocations per PACKET_IN", perMsg)
	// The session decodes every packet-in into one ofp.PacketIn
	// (ofp.UnmarshalPacketIn): nothing per message; the margin is for the
	// runtime's and the test's own (timers, the channel).
	if perMsg > 0.05 {
		t.Errorf("%.2f allocations per PACKET_IN read and handled, want 0", perMsg)
	}
}
