package ofconn_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// nopHandler takes every message and does nothing.
type nopHandler struct{ connected chan struct{} }

func (h nopHandler) Connected(*ofconn.Session)                  { close(h.connected) }
func (nopHandler) Message(*ofconn.Session, uint32, ofp.Message) {}
func (nopHandler) Disconnected(*ofconn.Session, error)          {}

// sessionSeeds are FuzzSession's and FuzzSessionTCP's seeds.
var sessionSeeds = [][]byte{
	ofp.Marshal(1, &ofp.EchoRequest{Data: []byte("x")}),
	ofp.Marshal(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, Data: []byte{1, 2, 3}}),
	ofp.Marshal(0, &ofp.PortStatus{Reason: ofp.PortReasonAdd, Port: ofconntest.Ports(1)[0]}),
	ofp.Marshal(2, &ofp.MultipartReply{Flags: ofp.MultipartReplyMore, Body: &ofp.PortDescReply{}}),
	ofp.Marshal(0, ofp.NewHello(1, 4)),
	[]byte("GET / HTTP/1.1\r\n\r\n"),
	{0x04, 0x0a, 0x00, 0x04, 0, 0, 0, 1},
	{0x04, 0x0a, 0xff, 0xff, 0, 0, 0, 1, 0},
	{0x04, 0x0a, 0x00, 0x0c, 0, 0, 0, 7, 0, 0, 0, 0},
	{0x01, 0x0a, 0x00, 0x08, 0, 0, 0, 1},
	{0x04, 0x13, 0x00},
}

// FuzzSession feeds arbitrary bytes from a connected switch to a session
// over a net.Pipe (the reader's framing through Read, and the codec, on
// untrusted input): it must never panic, and must end when the switch hangs
// up.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctl, swc := net.Pipe()
		fuzzSession(t, data, ctl, swc)
	})
}

// FuzzSessionTCP is FuzzSession over loopback TCP: the plain-TCP session's
// own loop (serveRaw: recvmsg, framing in the read buffer).
func FuzzSessionTCP(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		swc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		fuzzSession(t, data, ctl, swc)
	})
}

// fuzzSession serves ctl, handshakes a fake switch on swc, sends data and
// hangs up.
func fuzzSession(t *testing.T, data []byte, ctl, swc net.Conn) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := nopHandler{connected: make(chan struct{})}
	srv := ofconn.NewServer(ofconn.Config{HandshakeTimeout: 5 * time.Second}, h, log)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), ctl)
	}()
	sw, err := ofconntest.Start(swc, ofconntest.Config{DPID: 1, Ports: ofconntest.Ports(2),
		Handle: func(*ofconntest.Switch, ofp.Header, ofp.Message) {}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.connected:
	case <-time.After(wait):
		t.Fatal("no handshake")
	}
	sw.WriteRaw(data) // may fail: the session may close first
	sw.Close()
	select {
	case <-served:
	case <-time.After(wait):
		t.Fatal("session did not end after the switch hung up")
	}
	if st := srv.Stats(); st.Panics != 0 {
		t.Fatalf("%d panics", st.Panics)
	}
}
