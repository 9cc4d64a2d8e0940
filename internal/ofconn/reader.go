package ofconn

import "io"

// Read buffer sizes: a session starts with minReadBuf and doubles the
// buffer, up to maxReadBuf, each time a read fills it (a busy switch: many
// small messages per read system call). An idle switch keeps a small one,
// and a buffer grown for a burst or one long message (a multipart reply)
// shrinks again: once it is empty after at least shrinkAfter reads, it is
// replaced by the smallest size (a power of two, at least minReadBuf) of
// twice or more the most it held after any of those reads, if that is
// smaller (so when that most was a quarter of it or less), and the count
// starts again. Memory per switch follows what the switch sends now. A
// buffer that has to grow again after a shrink doubles the count the next
// shrink waits for (up to maxShrinkAfter): a switch that keeps sending long
// messages now and then (stats replies), or one that alternates long and
// short ones to make the controller allocate, soon keeps its buffer.
const (
	minReadBuf     = 2 << 10
	maxReadBuf     = 64 << 10
	shrinkAfter    = 16
	maxShrinkAfter = 4096
)

// reader is a buffered reader over the connection that grows its buffer
// on demand. Owned by the session's reader goroutine.
type reader struct {
	rd   io.Reader
	buf  []byte
	r, w int
	full bool // the last read filled the buffer
	err  error

	// Since the last look at the buffer's size (shrink): the reads, and
	// the most bytes the buffer held after one. after is the reads the
	// next look waits for (0: shrinkAfter); shrunk says the last look
	// shrank the buffer.
	reads, peak, after int
	shrunk             bool
}

func newReader(rd io.Reader) *reader {
	return &reader{rd: rd, buf: make([]byte, minReadBuf)}
}

// Buffered is the number of bytes read from the connection and not yet
// consumed.
func (b *reader) Buffered() int { return b.w - b.r }

// Peek returns the next n buffered bytes (fewer if fewer are buffered)
// without consuming them or reading the connection.
func (b *reader) Peek(n int) ([]byte, error) {
	return b.buf[b.r : b.r+min(n, b.Buffered())], nil
}

// fill reads once from the connection into the free end of the buffer
// (room).
func (b *reader) fill() {
	n, err := b.rd.Read(b.room())
	b.added(n)
	if err != nil {
		b.err = err
	}
}

// room makes space for a read and returns the free end of the buffer: it
// moves what is left to the front, doubles a buffer that the previous read
// filled (up to maxReadBuf), and grows one too small for the whole message
// at its head (OpenFlow's longest, 65,535 bytes, fits in maxReadBuf).
func (b *reader) room() []byte {
	if b.reads >= max(b.after, shrinkAfter) && b.r == b.w {
		b.shrink()
	}
	size := len(b.buf)
	if b.full && size < maxReadBuf {
		size = min(2*size, maxReadBuf)
	}
	if b.Buffered() >= 4 {
		for need := int(b.buf[b.r+2])<<8 | int(b.buf[b.r+3]); size < need; {
			size *= 2
		}
	}
	if size != len(b.buf) {
		if b.shrunk { // grown again since the last shrink: wait longer for the next
			b.shrunk = false
			b.after = min(2*max(b.after, shrinkAfter), maxShrinkAfter)
		}
		nb := make([]byte, size)
		b.w = copy(nb, b.buf[b.r:b.w])
		b.r = 0
		b.buf = nb
	} else if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	return b.buf[b.w:]
}

// shrink replaces an empty buffer by the smallest of at least twice the
// count's peak, when that is smaller, and starts the next count.
func (b *reader) shrink() {
	size := minReadBuf
	for size < 2*b.peak {
		size *= 2
	}
	if size < len(b.buf) {
		b.buf = make([]byte, size)
		b.r, b.w, b.full = 0, 0, false
		b.shrunk = true
	}
	b.reads, b.peak = 0, 0
}

// added records n bytes read into room's space.
func (b *reader) added(n int) {
	b.w += n
	b.full = b.w == len(b.buf)
	b.reads++
	b.peak = max(b.peak, b.w)
}

// Read implements io.Reader. A read of at least the buffer's size
// bypasses it when nothing is buffered.
func (b *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			err := b.err
			b.err = nil
			return 0, err
		}
		if len(p) >= len(b.buf) {
			return b.rd.Read(p)
		}
		b.fill()
		if b.r == b.w {
			err := b.err
			b.err = nil
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// hasMessage reports whether a whole OpenFlow message is buffered: reading
// it will not wait for the connection.
func (b *reader) hasMessage() bool {
	n := b.Buffered()
	if n < 4 {
		return false
	}
	return n >= int(b.buf[b.r+2])<<8|int(b.buf[b.r+3])
}
