package ofconn

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Plain TCP sessions read and write the socket through its syscall.RawConn
// (the net package's poller still waits for readiness and honours
// deadlines), with raw system calls: the socket is non-blocking, so a read
// or write never blocks in the kernel and need not tell the scheduler
// (syscall.Syscall does, and the runtime's monitor then wakes every 20 µs
// to hand the P of a goroutine "in a system call" to another thread, which
// on the hot path of one packet-in, one answer, costs more than the call:
// docs/BENCHMARKS.md "Controller at scale").
//
//   - rawReader reads what is there, or waits for readiness when nothing is
//     (as net.Conn.Read does).
//   - rawWriter writes what the socket takes now and no more, instead of a
//     write deadline (a runtime timer set and stopped per batch) around a
//     blocking write: the reader (Session.flush) hands what is left to the
//     writer goroutine, which may wait.
//
// After the handshake the reader does not call Read: it stays inside one
// RawConn.Read call (serveRaw), whose callback reads, handles every whole
// message and writes the answers, and asks the poller to wait only when the
// kernel said the socket is empty. recvmsg(2) with TCP_INQ says so with the
// bytes it returns (the bytes left, and 1 once a FIN is queued), so the
// read that would only return EAGAIN before the reader parks is skipped: one
// system call per packet-in in flight, not two. It is safe because the
// poller clears a descriptor's readiness once per RawConn.Read call, on
// entry: readiness that comes while the callback runs is kept, and the wait
// returns at once. (Waiting in a new Read call after a read that left the
// socket empty could miss an edge that came in between.) A kernel without
// TCP_INQ reads until EAGAIN, as before.
//
// TCP_INQ's 0 is not the whole truth in two cases, both of a connection
// that is ending:
//   - Once the session is closed (Close shuts the socket down, see there),
//     the signal of that shutdown may be the one whose read returned the last
//     queued bytes: the reader stops at once when it sees the session
//     closed, and never waits then.
//   - A reset (RST) is no FIN: TCP_INQ says 0 after the last bytes before it.
//     When the reset's signal came with those bytes, the reader waits, and
//     the session ends at its next write, which fails: the answer to those
//     bytes, or the echo after EchoInterval of silence
//     (TestLastMessageWithRST).

// rawReader reads a TCP socket through its RawConn. Owned by the reader
// goroutine. The callbacks are bound once (wait, step), so that a read
// allocates nothing (a closure per call escaped to the heap: 3 allocations
// per read).
type rawReader struct {
	rc   syscall.RawConn
	p    []byte // the buffer of the read under way
	n    int
	serr syscall.Errno
	wait func(uintptr) bool // rawRead, waiting for readiness on EAGAIN

	inq  bool // TCP_INQ is on: recv reports the bytes left
	msg  syscall.Msghdr
	iov  syscall.Iovec
	cmsg [24]byte           // CMSG_SPACE(sizeof(int))
	step func(uintptr) bool // Session.rawStep
	err  error              // why step ended the session
}

func newRawReader(rc syscall.RawConn) *rawReader {
	r := &rawReader{rc: rc}
	r.wait = func(fd uintptr) bool { return r.rawRead(fd) != syscall.EAGAIN }
	rc.Control(func(fd uintptr) {
		r.inq = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpInq, 1) == nil
	})
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	return r
}

// rawRead is one read(2) into r.p (EINTR retried); it sets r.n and
// r.serr.
func (r *rawReader) rawRead(fd uintptr) syscall.Errno {
	for {
		r1, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.p[0])), uintptr(len(r.p)))
		if e == syscall.EINTR {
			continue
		}
		r.n, r.serr = int(r1), e
		return e
	}
}

// Read reads what is there, or waits for readiness when nothing is (the
// handshake's reads).
func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p = p
	err := r.rc.Read(r.wait)
	n, serr := r.n, r.serr
	r.p = nil
	if err != nil {
		return 0, err // closed, or a read deadline passed while waiting
	}
	if serr != 0 {
		return 0, os.NewSyscallError("read", serr)
	}
	if n <= 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TCP_INQ and its control message type (linux/tcp.h; the syscall package
// has neither).
const (
	tcpInq   = 36
	tcpCmInq = tcpInq
)

// recv is one recvmsg(2) into p (EINTR retried). left is what TCP_INQ says
// is still queued after it (0: empty; more than 0 after a FIN), or -1 when
// unknown.
func (r *rawReader) recv(fd uintptr, p []byte) (n, left int, e syscall.Errno) {
	r.iov.Base = &p[0]
	r.iov.SetLen(len(p))
	r.msg.Control = &r.cmsg[0]
	r.msg.SetControllen(len(r.cmsg))
	r.msg.Flags = 0
	for {
		r1, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), 0)
		if e == syscall.EINTR {
			continue
		}
		r.iov.Base, r.msg.Control = nil, nil
		if e != 0 {
			return 0, -1, e
		}
		return int(r1), r.left(), 0
	}
}

// left parses the TCP_CM_INQ control message of the last recv.
func (r *rawReader) left() int {
	c := r.cmsg[:]
	if !r.inq || int(r.msg.Controllen) < syscall.SizeofCmsghdr+4 {
		return -1
	}
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&c[0]))
	if h.Level != syscall.IPPROTO_TCP || h.Type != tcpCmInq || int(h.Len) < syscall.SizeofCmsghdr+4 {
		return -1
	}
	return int(*(*int32)(unsafe.Pointer(&c[syscall.SizeofCmsghdr])))
}

// serveRaw is the message loop of a plain-TCP session after the handshake:
// one RawConn.Read call for the life of the session (see the top of this
// file). It returns why the session ends.
func (s *Session) serveRaw() error {
	if err := s.drain(); err != nil { // what the handshake's last read brought
		return err
	}
	s.inRaw.Store(true)
	defer s.inRaw.Store(false) // also when a handler's panic unwinds through the call
	if err := s.rc.Read(s.rr.step); err != nil {
		return fmt.Errorf("ofconn: read: %w", err) // closed, or the poller failed
	}
	return s.rr.err
}

// rawStep is serveRaw's callback: it reads, handles what it read, and
// returns false to wait for readiness, true when the session ends (with
// rr.err).
func (s *Session) rawStep(fd uintptr) bool {
	rr, b := s.rr, s.br
	for {
		if s.shut.Load() {
			// Closed (Close shut the socket down): stop here, as a read of
			// the closed descriptor did, and let serve close it. What is
			// still queued is not handled.
			rr.err = ErrClosed
			return true
		}
		p := b.room()
		if len(p) == 0 { // cannot happen: room holds any message
			rr.err = fmt.Errorf("ofconn: read buffer full (%d bytes)", len(b.buf))
			return true
		}
		n, left, e := rr.recv(fd, p)
		switch {
		case e == syscall.EAGAIN:
			return false
		case e != 0:
			rr.err = fmt.Errorf("ofconn: read: %w", os.NewSyscallError("recvmsg", e))
			return true
		case n == 0:
			rr.err = s.eofError()
			return true
		}
		b.added(n)
		if err := s.drain(); err != nil {
			rr.err = err
			return true
		}
		if left == 0 {
			return false // empty: wait for the next bytes without a read that says EAGAIN
		}
	}
}

// rawWriter writes a TCP socket through its RawConn without waiting.
// Owned by the reader (Session.flush); the callback is bound once, so that
// a write allocates nothing.
type rawWriter struct {
	rc   syscall.RawConn
	b    []byte // the write under way
	w    int
	serr syscall.Errno
	fn   func(uintptr) bool
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = w.rawWrite
	return w
}

// write writes as much of b as the socket takes without waiting and
// returns how much that was. A full socket is no error: the caller queues
// the rest for the writer goroutine.
func (rw *rawWriter) write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	rw.b, rw.w, rw.serr = b, 0, 0
	err := rw.rc.Write(rw.fn)
	w, serr := rw.w, rw.serr
	rw.b = nil
	if err != nil {
		return w, err
	}
	if serr != 0 {
		return w, os.NewSyscallError("write", serr)
	}
	return w, nil
}

func (rw *rawWriter) rawWrite(fd uintptr) bool {
	for rw.w < len(rw.b) {
		r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rw.b[rw.w])), uintptr(len(rw.b)-rw.w))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			break
		}
		if e != 0 {
			rw.serr = e
			break
		}
		n := int(r1)
		if n <= 0 {
			break
		}
		rw.w += n
	}
	return true // never wait here: the writer goroutine does
}
