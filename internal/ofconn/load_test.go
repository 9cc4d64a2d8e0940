package ofconn_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

func TestManySwitches(t *testing.T) {
	const n = 50
	ts := startServer(t, ofconn.Config{}, nil)
	var wg sync.WaitGroup
	switches := make([]*ofconntest.Switch, n)
	for i := range n {
		wg.Go(func() {
			switches[i] = dial(t, ts.addr, ofconntest.Config{DPID: uint64(i + 1), Ports: ofconntest.Ports(i%4 + 1)})
		})
	}
	wg.Wait()
	byDPID := map[uint64]*ofconn.Session{}
	for range n {
		s := ts.rec.waitConnected(t)
		if len(s.Ports()) != int(s.DPID()-1)%4+1 {
			t.Errorf("dpid %d: %d ports", s.DPID(), len(s.Ports()))
		}
		byDPID[s.DPID()] = s
	}
	if len(byDPID) != n || len(ts.Sessions()) != n {
		t.Fatalf("%d distinct sessions, Sessions() has %d, want %d", len(byDPID), len(ts.Sessions()), n)
	}

	// Every switch talks at once; every message lands in its own session.
	for i, sw := range switches {
		wg.Go(func() {
			for k := range 10 {
				sw.Send(uint32(i+1), &ofp.PacketIn{BufferID: ofp.NoBuffer, Cookie: uint64(k), Data: []byte{byte(i)}})
			}
		})
	}
	errs := make(chan error, n)
	for _, s := range byDPID {
		wg.Go(func() { errs <- s.Barrier(ctxWait(t)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Barrier: %v", err)
		}
	}
	next := map[uint64]uint64{}
	for range 10 * n {
		m := ts.rec.waitMessage(t, ofp.TypePacketIn)
		dpid := m.s.DPID()
		if uint64(m.xid) != dpid {
			t.Fatalf("PACKET_IN from switch %d delivered on session %d", m.xid, dpid)
		}
		if c := m.m.(*ofp.PacketIn).Cookie; c != next[dpid] {
			t.Fatalf("session %d: cookie %d, want %d (in order)", dpid, c, next[dpid])
		}
		next[dpid]++
	}
}

func TestBoundedQueue(t *testing.T) {
	ts := startServer(t, ofconn.Config{WriteQueue: 8}, nil)
	other, otherSess := connect(t, ts, ofconntest.Config{DPID: 1})
	sw, s := connect(t, ts, ofconntest.Config{DPID: 2})
	sw.Pause() // a switch that stops reading its socket

	po := &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: ofp.PortController, Data: make([]byte, 32<<10)}
	deadline := time.Now().Add(wait)
	var err error
	sent := 0
	for time.Now().Before(deadline) {
		if err = s.Send(po); err != nil {
			break
		}
		sent++
		if sent%64 == 0 {
			time.Sleep(time.Millisecond) // let the writer fill the socket
		}
	}
	if !errors.Is(err, ofconn.ErrQueueFull) {
		t.Fatalf("Send to a switch that does not read: %v after %d messages, want ErrQueueFull", err, sent)
	}
	if st := s.Stats(); st.QueueDrops == 0 || st.QueueLen > 8 {
		t.Errorf("stats = %+v, want drops counted and at most 8 queued", st)
	}

	// Its reader still runs: a PACKET_IN from it reaches the handler.
	if err := sw.Send(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, Data: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if m := ts.rec.waitMessage(t, ofp.TypePacketIn); m.s != s {
		t.Error("PACKET_IN attributed to another session")
	}
	// The other switch does not notice.
	if err := otherSess.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("other switch Barrier: %v", err)
	}
	_ = other

	// Once the switch reads again, everything queued goes out.
	sw.Resume()
	for {
		err := s.Barrier(ctxWait(t))
		if err == nil {
			break
		}
		if !errors.Is(err, ofconn.ErrQueueFull) {
			t.Fatalf("Barrier after Resume: %v", err)
		}
		time.Sleep(time.Millisecond) // the queue is still draining
	}
	if st := s.Stats(); st.TxMessages < uint64(sent) {
		t.Errorf("TxMessages = %d, want >= %d sent", st.TxMessages, sent)
	}
}

func TestSendBatchesIntoOneWrite(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	before := s.Stats()
	msgs := make([]ofp.Message, 100)
	for i := range msgs {
		msgs[i] = &ofp.BarrierRequest{}
	}
	if err := s.Send(msgs...); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := sw.WaitFor(ctxWait(t), ofp.TypeBarrierRequest); err != nil {
			t.Fatal(err)
		}
	}
	after := s.Stats()
	if got := after.TxMessages - before.TxMessages; got != 100 {
		t.Errorf("TxMessages grew by %d, want 100", got)
	}
	if got := after.TxBatches - before.TxBatches; got != 1 {
		t.Errorf("100 messages sent in one Send took %d Writes, want 1", got)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ts := startServer(t, ofconn.Config{EchoInterval: 10 * time.Millisecond, EchoTimeout: 100 * time.Millisecond}, nil)
		var switches []*ofconntest.Switch
		for i := range 10 {
			sw, s := connect(t, ts, ofconntest.Config{DPID: uint64(i + 1), NoBarrierReply: i == 3})
			switches = append(switches, sw)
			if i != 3 {
				if err := s.Barrier(ctxWait(t)); err != nil {
					t.Fatal(err)
				}
			} else {
				// A request left waiting when everything closes.
				go s.Barrier(context.Background())
			}
		}
		ts.Session(2).Close(nil)
		switches[4].Close()
		bad := dial(t, ts.addr, ofconntest.Config{NoHello: true})
		bad.WriteRaw([]byte("garbage!garbage!"))
		waitClosed(t, bad)
		ts.stop()
		for _, sw := range switches {
			sw.Close()
		}
		bad.Close()
	}()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after stop, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
