package ofconn_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// TestMessagesSplitAcrossReads writes a stream of PACKET_INs, one of them
// near OpenFlow's longest (65,535 bytes), in pieces of 1 to 3,000 bytes
// with pauses between some: the session reads what is there each time and
// waits for the rest, so every message reaches the handler whole, in order.
func TestMessagesSplitAcrossReads(t *testing.T) {
	ts := startServer(t, ofconn.Config{EchoInterval: time.Minute, EchoTimeout: time.Minute}, nil)
	sw, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	sizes := []int{60, 1, 1500, 65535 - 42, 60, 9000, 14, 60}
	var stream []byte
	for i, n := range sizes {
		data := bytes.Repeat([]byte{byte(i + 1)}, n)
		stream = ofp.Append(stream, uint32(100+i), &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: uint16(n),
			Reason: ofp.PacketInReasonAction, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: data})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for len(stream) > 0 {
		k := min(len(stream), 1+rng.IntN(3000))
		if err := sw.WriteRaw(stream[:k]); err != nil {
			t.Fatal(err)
		}
		stream = stream[k:]
		if rng.IntN(4) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for i, n := range sizes {
		m := ts.rec.waitMessage(t, ofp.TypePacketIn)
		pi := m.m.(*ofp.PacketIn)
		if m.xid != uint32(100+i) || len(pi.Data) != n || (n > 0 && pi.Data[n-1] != byte(i+1)) {
			t.Fatalf("message %d: xid %d, %d bytes of data; want xid %d, %d bytes of %d", i, m.xid, len(pi.Data), 100+i, n, i+1)
		}
	}
}

// lastMessageThenHangUp sends the switch's last PACKET_IN and hangs up
// (hangUp writes it and ends the connection) while
// the session is busy with the one before: when it comes back for them, the
// readiness of both was signalled already. The session must handle the
// message and then see the end. A reader that, having read the last bytes,
// waited for readiness instead of reading again would wait for a signal that
// never comes and hang until the echo timeout.
func lastMessageThenHangUp(t *testing.T, echo time.Duration, hangUp func(c *net.TCPConn, last []byte) error) {
	rec := newRecorder()
	busy, release := make(chan struct{}), make(chan struct{})
	got := make(chan uint32, 2)
	rec.OnMessage = func(_ *ofconn.Session, xid uint32, m ofp.Message) {
		if _, ok := m.(*ofp.PacketIn); !ok {
			return
		}
		if xid == 1 {
			close(busy)
			<-release
		}
		got <- xid
	}
	ts := startServer(t, ofconn.Config{EchoInterval: echo, EchoTimeout: time.Minute}, rec)
	sw, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	tc := sw.Conn().(*net.TCPConn)
	pi := func(xid uint32) []byte {
		return ofp.Marshal(xid, &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 60, Reason: ofp.PacketInReasonAction,
			Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: make([]byte, 60)})
	}
	if _, err := tc.Write(pi(1)); err != nil {
		t.Fatal(err)
	}
	<-busy
	if err := hangUp(tc, pi(2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the segment is in the session's socket
	close(release)
	for want := uint32(1); want <= 2; want++ {
		select {
		case xid := <-got:
			if xid != want {
				t.Fatalf("PACKET_IN xid %d, want %d", xid, want)
			}
		case <-time.After(wait):
			t.Fatalf("no PACKET_IN %d", want)
		}
	}
	if d := rec.waitDisconnected(t); d.err == nil {
		t.Fatal("session ended without a reason")
	}
}

// TestLastMessageWithFIN: the switch's FIN comes in the segment of its last
// bytes (TCP_CORK, then shutdown).
func TestLastMessageWithFIN(t *testing.T) {
	lastMessageThenHangUp(t, time.Minute, func(c *net.TCPConn, last []byte) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1) })
		if _, err := c.Write(last); err != nil {
			return err
		}
		return c.CloseWrite()
	})
}

// TestLastMessageWithRST: the switch resets the connection (closes it with
// SO_LINGER 0) right after its last bytes, which get no answer. TCP_INQ says
// 0 bytes are left then (a reset is no FIN): the session ends when its echo
// fails to go out, EchoInterval (here 200 ms) later (rawio.go).
func TestLastMessageWithRST(t *testing.T) {
	lastMessageThenHangUp(t, 200*time.Millisecond, func(c *net.TCPConn, last []byte) error {
		if _, err := c.Write(last); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond) // delivered before the reset
		if err := c.SetLinger(0); err != nil {
			return err
		}
		return c.Close()
	})
}

// TestCloseFromHandler closes the session from inside Handler.Message, on
// the reader's goroutine, as the controller does when it refuses a switch:
// the session ends with that reason and Disconnected is called. (Closing the
// socket's descriptor there waited for the reader's own read call to end: it
// hung, and so did the server's shutdown.)
func TestCloseFromHandler(t *testing.T) {
	rec := newRecorder()
	why := errors.New("handler says goodbye")
	rec.OnMessage = func(s *ofconn.Session, _ uint32, m ofp.Message) {
		if _, ok := m.(*ofp.PacketIn); ok {
			s.Close(why)
		}
	}
	ts := startServer(t, ofconn.Config{EchoInterval: time.Minute, EchoTimeout: time.Minute}, rec)
	sw, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	if err := sw.Send(9, &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 60, Reason: ofp.PacketInReasonAction,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: make([]byte, 60)}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitDisconnected(t); !errors.Is(d.err, why) {
		t.Fatalf("session ended with %v, want %v", d.err, why)
	}
	waitClosed(t, sw)
}

// TestCloseWithBytesQueued closes the session from outside while its reader
// is busy, after the switch sent more bytes and reset the connection: the
// bytes wait in the socket, and the signals of the reset and of the close's
// shutdown are one, whose read returns the bytes with TCP_INQ's 0 (a reset
// is no FIN). The reader must read on to the end. (A reader that slept
// there never woke: nothing else would come on that socket. This kept a
// controller from stopping after a benchmark's 1,000 switches hung up.)
func TestCloseWithBytesQueued(t *testing.T) {
	rec := newRecorder()
	busy, release := make(chan struct{}), make(chan struct{})
	rec.OnMessage = func(_ *ofconn.Session, xid uint32, m ofp.Message) {
		if _, ok := m.(*ofp.PacketIn); ok && xid == 1 {
			close(busy)
			<-release
		}
	}
	ts := startServer(t, ofconn.Config{EchoInterval: time.Minute, EchoTimeout: time.Minute}, rec)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	pi := &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: 60, Reason: ofp.PacketInReasonAction,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: make([]byte, 60)}
	if err := sw.Send(1, pi); err != nil {
		t.Fatal(err)
	}
	<-busy
	if err := sw.Send(2, pi); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // in the session's socket
	tc := sw.Conn().(*net.TCPConn)
	tc.SetLinger(0)
	tc.Close() // a reset
	time.Sleep(20 * time.Millisecond)
	why := errors.New("closed by the test")
	s.Close(why)
	close(release)
	if d := rec.waitDisconnected(t); !errors.Is(d.err, why) {
		t.Fatalf("session ended with %v, want %v", d.err, why)
	}
}
