package ofconn

import (
	"bytes"
	"io"
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
