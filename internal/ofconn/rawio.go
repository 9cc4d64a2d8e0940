package ofconn

import (
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
// A reader that skipped the read that returns EAGAIN after a short one
// would save a call per message, but would wait for an edge that never
// comes when the peer's FIN arrived with the last bytes: it reads again.

// rawReader reads a TCP socket through its RawConn. Owned by the reader
// goroutine. The callback is bound once (wait), so that a read allocates
// nothing (a closure per call escaped to the heap: 3 allocations per read).
type rawReader struct {
	rc   syscall.RawConn
	p    []byte // the buffer of the read under way
	n    int
	serr syscall.Errno
	wait func(uintptr) bool // rawRead, waiting for readiness on EAGAIN
}

func newRawReader(rc syscall.RawConn) *rawReader {
	r := &rawReader{rc: rc}
	r.wait = func(fd uintptr) bool { return r.rawRead(fd) != syscall.EAGAIN }
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
