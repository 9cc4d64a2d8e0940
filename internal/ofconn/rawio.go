package ofconn

import (
	"os"
	"syscall"
)

// rawWrite is how the reader writes its answers on plain TCP sessions
// (Session.flush): through the socket's syscall.RawConn, what the socket
// takes now and no more, instead of a write deadline (a runtime timer set
// and stopped per batch) around a blocking write. The reader hands what is
// left to the writer goroutine, which may wait.
//
// Reads stay with the net package: a reader that skipped the read that
// returns EAGAIN after a short one would wait for an edge that never comes
// when the peer's FIN arrived with the last bytes.

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
			n, e := syscall.Write(int(fd), b[w:])
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				break
			}
			if e != nil {
				serr = e
				break
			}
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
