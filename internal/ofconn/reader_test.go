package ofconn

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// The read buffer starts small, doubles while reads fill it, stops at
// maxReadBuf, and passes the stream through unchanged.
func TestReaderGrows(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	r := newReader(bytes.NewReader(src))
	if len(r.buf) != minReadBuf {
		t.Fatalf("starts with %d bytes, want %d", len(r.buf), minReadBuf)
	}
	var out bytes.Buffer
	p := make([]byte, 8) // headers: small reads, as readMessage does
	for {
		n, err := r.Read(p)
		out.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), src) {
		t.Fatal("stream changed")
	}
	if len(r.buf) != maxReadBuf {
		t.Errorf("grew to %d bytes, want %d", len(r.buf), maxReadBuf)
	}
}

// A switch that sends little keeps the small buffer.
func TestReaderStaysSmall(t *testing.T) {
	src := bytes.Repeat([]byte("x"), 100<<10)
	r := newReader(iotest.OneByteReader(bytes.NewReader(src)))
	if _, err := io.Copy(io.Discard, struct{ io.Reader }{r}); err != nil {
		t.Fatal(err)
	}
	if len(r.buf) != minReadBuf {
		t.Errorf("grew to %d bytes on one-byte reads", len(r.buf))
	}
}

// chunks is a connection whose every read returns the next chunk.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if (*c)[0] = (*c)[0][n:]; len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

// message returns an OpenFlow-framed message of n bytes (a header that
// says its length, then filler).
func message(n int) []byte {
	m := bytes.Repeat([]byte{0xab}, n)
	m[0], m[1], m[2], m[3] = 4, 0, byte(n>>8), byte(n)
	return m
}

// readAll reads r's connection to its end as the session's raw loop does
// (rawStep): a read into room, then every whole message it completed.
func readAll(t *testing.T, r *reader) {
	t.Helper()
	for {
		n, err := r.rd.Read(r.room())
		r.added(n)
		for r.hasMessage() {
			r.r += int(r.buf[r.r+2])<<8 | int(r.buf[r.r+3])
		}
		if err == io.EOF {
			if r.Buffered() != 0 {
				t.Fatalf("%d bytes left", r.Buffered())
			}
			return
		}
	}
}

// A buffer grown for one long message (a switch's multipart reply) goes
// back to the small one once the switch sends little again.
func TestReaderShrinksAfterLongMessage(t *testing.T) {
	src := chunks{message(60000)}
	r := newReader(&src)
	readAll(t, r)
	if len(r.buf) < 60000 {
		t.Fatalf("read buffer of %d bytes after a message of 60,000", len(r.buf))
	}
	// Reads are counted in runs of shrinkAfter: the run that held the long
	// message keeps the buffer, the next one of short reads shrinks it.
	for range shrinkAfter {
		src = append(src, message(24)) // echo replies, one per read
	}
	readAll(t, r)
	if len(r.buf) != maxReadBuf {
		t.Fatalf("read buffer of %d bytes at the end of the run that held the long message, want %d", len(r.buf), maxReadBuf)
	}
	for range shrinkAfter {
		src = append(src, message(24))
	}
	readAll(t, r)
	if len(r.buf) != minReadBuf {
		t.Errorf("read buffer of %d bytes after %d short messages, want %d", len(r.buf), 2*shrinkAfter, minReadBuf)
	}
}

// The new size is the smallest of at least twice what the reads held: a
// 64 KB buffer whose reads hold 16,000 bytes goes to 32 KB, one whose
// reads hold 20,000 stays.
func TestReaderShrinksToTwiceThePeak(t *testing.T) {
	for _, c := range []struct{ read, want int }{{16000, 32 << 10}, {20000, maxReadBuf}, {1000, 2 << 10}} {
		src := chunks{}
		for range 2 {
			src = append(src, bytes.Repeat(message(1000), maxReadBuf/1000)) // grow it to 64 KB
		}
		r := newReader(&src)
		readAll(t, r)
		if len(r.buf) != maxReadBuf {
			t.Fatalf("read buffer of %d bytes after reads of 64,000", len(r.buf))
		}
		for range 2 * shrinkAfter {
			src = append(src, bytes.Repeat(message(1000), c.read/1000))
		}
		readAll(t, r)
		if len(r.buf) != c.want {
			t.Errorf("reads of %d bytes: read buffer of %d bytes, want %d", c.read, len(r.buf), c.want)
		}
	}
}

// A busy switch's buffer does not shrink while its reads fill more than
// half of it (no allocation churn under load).
func TestReaderKeepsBufferUnderLoad(t *testing.T) {
	src := chunks{}
	burst := bytes.Repeat(message(1000), maxReadBuf/1000)
	for range 4 * shrinkAfter {
		src = append(src, slices.Clone(burst))
	}
	r := newReader(&src)
	readAll(t, r)
	if len(r.buf) != maxReadBuf {
		t.Fatalf("read buffer of %d bytes under reads of %d", len(r.buf), len(burst))
	}
	for range 4 * shrinkAfter {
		src = append(src, bytes.Repeat(message(1000), 40))
	}
	buf := &r.buf[0]
	readAll(t, r)
	if len(r.buf) != maxReadBuf || &r.buf[0] != buf {
		t.Errorf("read buffer replaced (now %d bytes) under reads of 40,000 bytes", len(r.buf))
	}
}

// A switch that alternates one long message with short ones would make
// the controller allocate the long buffer anew after every count: each
// time the buffer grows again after a shrink, the next shrink waits twice
// as long, so the allocations die out.
func TestReaderShrinkBacksOff(t *testing.T) {
	src := chunks{}
	r := newReader(&src)
	regrown := 0
	for cycle := range 200 {
		src = append(src, message(60000))
		for range shrinkAfter {
			src = append(src, message(24))
		}
		before := &r.buf[0]
		readAll(t, r)
		if &r.buf[0] != before && len(r.buf) == maxReadBuf {
			regrown++
		}
		if cycle == 199 && len(r.buf) != maxReadBuf {
			t.Errorf("after %d cycles the buffer is %d bytes, want it kept at %d", cycle+1, len(r.buf), maxReadBuf)
		}
	}
	// Counts of 16, 32, ... 4096 reads: one regrowth per doubling.
	if regrown > 12 {
		t.Errorf("the long buffer was allocated %d times in 200 cycles of a long message and %d short ones", regrown, shrinkAfter)
	}
}
