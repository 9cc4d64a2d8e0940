package ofconn

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestRecvReportsBytesLeft checks what the session's loop relies on to
// skip the read that would say EAGAIN: recv reports the bytes still queued
// after it (TCP_INQ), 0 once the socket is empty, and more than 0 once the
// peer's FIN is queued behind the last bytes, so that the loop reads again
// and sees the end.
func TestRecvReportsBytesLeft(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r := newRawReader(rc)
	if !r.inq {
		t.Fatal("TCP_INQ could not be set: the session would read until EAGAIN")
	}
	recv := func(p []byte) (n, left int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var e syscall.Errno
			rc.Read(func(fd uintptr) bool { n, left, e = r.recv(fd, p); return true })
			if e == 0 {
				return n, left
			}
			if e != syscall.EAGAIN || time.Now().After(deadline) {
				t.Fatalf("recvmsg: %v", e)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if _, err := peer.Write([]byte("hello, switch")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // all 13 bytes queued
	p := make([]byte, 5)
	if n, left := recv(p); n != 5 || left != 8 {
		t.Errorf("first recv: %d bytes, %d left; want 5 and 8", n, left)
	}
	if n, left := recv(make([]byte, 64)); n != 8 || left != 0 {
		t.Errorf("second recv: %d bytes, %d left; want 8 and 0", n, left)
	}
	if _, err := peer.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	peer.(*net.TCPConn).CloseWrite()
	time.Sleep(20 * time.Millisecond)
	if n, left := recv(make([]byte, 64)); n != 3 || left <= 0 {
		t.Errorf("recv before the FIN: %d bytes, %d left; want 3 and more than 0", n, left)
	}
	if n, _ := recv(make([]byte, 64)); n != 0 {
		t.Errorf("recv at the FIN: %d bytes, want 0 (end of stream)", n)
	}
}
