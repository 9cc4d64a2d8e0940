package ofconn_test

import (
	"encoding/binary"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// Answers written by the reader itself (Send from Message) keep their
// order and all arrive when the switch stops reading for a while: what a
// timed-out write of the reader did not get into the socket goes back to
// the head of the queue for the writer.
func TestAnswersInOrderPastAFullSocket(t *testing.T) {
	const n = 300 // 300 x 16 KiB: more than the socket buffers hold
	rec := newRecorder()
	rec.OnMessage = func(s *ofconn.Session, xid uint32, m ofp.Message) {
		pi, ok := m.(*ofp.PacketIn)
		if !ok {
			return
		}
		data := make([]byte, 16<<10)
		binary.BigEndian.PutUint64(data, pi.Cookie)
		if err := s.Send(&ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController, Data: data}); err != nil {
			t.Errorf("Send: %v", err) // 300 x 16 KiB fit the queue's bounds
		}
	}
	ts := startServer(t, ofconn.Config{}, rec)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	sw.Pause()
	for i := range n {
		if err := sw.Send(uint32(i+1), &ofp.PacketIn{BufferID: ofp.NoBuffer, Cookie: uint64(i), Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the reader meets the full socket
	sw.Resume()
	for i := range n {
		r, err := sw.WaitFor(ctxWait(t), ofp.TypePacketOut)
		if err != nil {
			t.Fatalf("packet-out %d: %v", i, err)
		}
		po := r.Msg.(*ofp.PacketOut)
		if len(po.Data) != 16<<10 {
			t.Fatalf("packet-out %d: %d bytes", i, len(po.Data))
		}
		if got := binary.BigEndian.Uint64(po.Data); got != uint64(i) {
			t.Fatalf("packet-out %d answers packet-in %d: out of order", i, got)
		}
	}
	if err := s.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
}
