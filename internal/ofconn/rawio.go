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
//   - rawWrite writes what the socket takes now and no more, instead of a
//     write deadline (a runtime timer set and stopped per batch) around a
//     blocking write: the reader (Session.flush) hands what is left to the
//     writer goroutine, which may wait.
//
// A reader that skipped the read that returns EAGAIN after a short one
// would save a call per message, but would wait for an edge that never
// comes when the peer's FIN arrived with the last bytes: it reads again.

// rawReader reads a TCP socket through its RawConn. Owned by the reader
// goroutine.
type rawReader struct {
	rc syscall.RawConn
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n    int
		serr syscall.Errno
	)
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			r1, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, serr = int(r1), e
			return e != syscall.EAGAIN
		}
	})
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

// rawWrite writes as much of b as the socket takes without waiting and
// returns how much that was. A full socket is no error: the caller queues
// the rest for the writer goroutine.
func rawWrite(rc syscall.RawConn, b []byte) (int, error) {
	var (
		w    int
		serr error
	)
	err := rc.Write(func(fd uintptr) bool {
		for w < len(b) {
			r1, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[w])), uintptr(len(b)-w))
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				break
			}
			if e != 0 {
				serr = e
				break
			}
			n := int(r1)
			if n <= 0 {
				break
			}
			w += n
		}
		return true // never wait here: the writer goroutine does
	})
	if err != nil {
		return w, err
	}
	if serr != nil {
		return w, os.NewSyscallError("write", serr)
	}
	return w, nil
}
