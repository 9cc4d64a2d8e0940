package ofconn_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// TestMalformedClosesOnlyThatSession sends each kind of bad input from one
// switch while another is connected: the bad switch gets the OFPT_ERROR
// the spec asks for (OpenFlow 1.3.5 section 7.4.4 "Error Message") and is
// closed, the other one keeps working.
func TestMalformedClosesOnlyThatSession(t *testing.T) {
	garbage := []byte("GET / HTTP/1.1\r\nHost: portcullis\r\n\r\n")
	shortPacketIn := []byte{0x04, 0x0a, 0x00, 0x0c, 0, 0, 0, 7, 0, 0, 0, 0}
	_, _, decodeErr := ofp.Unmarshal(shortPacketIn)
	var de *ofp.DecodeError
	if !errors.As(decodeErr, &de) {
		t.Fatalf("codec accepts a 4-byte PACKET_IN body (%v): pick another undecodable message", decodeErr)
	}

	tests := []struct {
		name      string
		cfg       ofconn.Config
		input     []byte
		closeSend bool          // half-close after writing
		errType   ofp.ErrorType // OFPT_ERROR expected when errCode >= 0
		errCode   int
		errXid    uint32
		wantErr   error  // errors.Is on Disconnected's error
		wantText  string // substring of Disconnected's error
	}{
		{name: "garbage", input: garbage,
			errType: ofp.ErrTypeBadRequest, errCode: int(ofp.BadRequestBadVersion), errXid: 0x2f204854}, // "/ HT",
		{name: "wrong-version", input: []byte{0x01, 0x0a, 0x00, 0x08, 0, 0, 0, 5},
			errType: ofp.ErrTypeBadRequest, errCode: int(ofp.BadRequestBadVersion), errXid: 5},
		{name: "length-below-8", input: []byte{0x04, 0x0a, 0x00, 0x04, 0, 0, 0, 6},
			errType: ofp.ErrTypeBadRequest, errCode: int(ofp.BadRequestBadLen), errXid: 6},
		{name: "oversize", cfg: ofconn.Config{MaxMessageLen: 1024},
			input:   append([]byte{0x04, 0x0a, 0x07, 0xd0, 0, 0, 0, 8}, make([]byte, 100)...),
			errType: ofp.ErrTypeBadRequest, errCode: int(ofp.BadRequestBadLen), errXid: 8},
		{name: "undecodable-body", input: shortPacketIn,
			errType: de.ErrType, errCode: int(de.Code), errXid: 7},
		{name: "truncated-header", input: []byte{0x04, 0x0a, 0x00}, closeSend: true,
			errCode: -1, wantText: "truncated header"},
		{name: "length-65535-short-body",
			cfg:   ofconn.Config{EchoInterval: 20 * time.Millisecond, EchoTimeout: 50 * time.Millisecond},
			input: append([]byte{0x04, 0x0a, 0xff, 0xff, 0, 0, 0, 9}, make([]byte, 10)...),
			// The body never comes: echo goes unanswered, the session dies.
			errCode: -1, wantErr: ofconn.ErrEchoTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.cfg, nil)
			good, goodSess := connect(t, ts, ofconntest.Config{DPID: 1})
			bad, badSess := connect(t, ts, ofconntest.Config{DPID: 2})

			if err := bad.WriteRaw(tt.input); err != nil {
				t.Fatal(err)
			}
			if tt.closeSend {
				bad.Conn().(interface{ CloseWrite() error }).CloseWrite()
			}
			if tt.errCode >= 0 {
				e, h := errorFrom(t, bad)
				if e.ErrType != tt.errType || e.Code != uint16(tt.errCode) {
					t.Errorf("OFPT_ERROR %v, want %v/%s", e, tt.errType, ofp.ErrorCodeString(tt.errType, uint16(tt.errCode)))
				}
				if h.Xid != tt.errXid {
					t.Errorf("OFPT_ERROR xid %#x, want the offending message's %#x", h.Xid, tt.errXid)
				}
				want := tt.input[:min(len(tt.input), 64)]
				if len(e.Data) < min(8, len(want)) || !bytes.HasPrefix(want, e.Data) {
					t.Errorf("OFPT_ERROR data % x, want a prefix of at least 8 bytes of % x", e.Data, want)
				}
			}
			waitClosed(t, bad)

			d := ts.rec.waitDisconnected(t)
			if d.s != badSess {
				t.Fatalf("Disconnected for DPID %d, want only the bad switch", d.s.DPID())
			}
			if tt.errCode >= 0 {
				var pe *ofconn.ProtocolError
				if !errors.As(d.err, &pe) || pe.ErrType != tt.errType || pe.Code != uint16(tt.errCode) {
					t.Errorf("Disconnected err = %v, want a ProtocolError %v/%d", d.err, tt.errType, tt.errCode)
				}
				if st := ts.Stats(); st.ProtocolErrors != 1 {
					t.Errorf("ProtocolErrors = %d", st.ProtocolErrors)
				}
				log := ts.logs.String()
				if !strings.Contains(log, "malformed message") || !strings.Contains(log, "dpid=0000000000000002") {
					t.Errorf("no log line with the dpid:\n%s", log)
				}
			}
			if tt.wantErr != nil && !errors.Is(d.err, tt.wantErr) {
				t.Errorf("Disconnected err = %v, want %v", d.err, tt.wantErr)
			}
			if tt.wantText != "" && (d.err == nil || !strings.Contains(d.err.Error(), tt.wantText)) {
				t.Errorf("Disconnected err = %v, want it to say %q", d.err, tt.wantText)
			}

			// The other switch is untouched.
			if err := goodSess.Barrier(ctxWait(t)); err != nil {
				t.Fatalf("good switch Barrier: %v", err)
			}
			if err := good.Send(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, Data: []byte{1}}); err != nil {
				t.Fatal(err)
			}
			if m := ts.rec.waitMessage(t, ofp.TypePacketIn); m.s != goodSess {
				t.Error("PACKET_IN from the good switch attributed to another session")
			}
			if ts.Session(1) != goodSess || ts.Session(2) != nil {
				t.Errorf("sessions after: %v", ts.Sessions())
			}
			if st := ts.Stats(); st.Panics != 0 {
				t.Errorf("Panics = %d", st.Panics)
			}
		})
	}
}

// TestMalformedBeforeHandshake sends bad bytes instead of a HELLO.
func TestMalformedBeforeHandshake(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		errCode int // -1: no OFPT_ERROR, the handshake times out
	}{
		{"garbage", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS client hello to a TCP port"), int(ofp.BadRequestBadVersion)},
		{"wrong-version", []byte{0x02, 0x0e, 0x00, 0x08, 0, 0, 0, 1}, int(ofp.BadRequestBadVersion)},
		{"length-below-8", []byte{0x04, 0x00, 0x00, 0x00, 0, 0, 0, 1}, int(ofp.BadRequestBadLen)},
		{"length-65535-short-body", []byte{0x04, 0x00, 0xff, 0xff, 0, 0, 0, 1, 0, 1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ofconn.Config{HandshakeTimeout: 300 * time.Millisecond}, nil)
			good, goodSess := connect(t, ts, ofconntest.Config{DPID: 1})
			bad := dial(t, ts.addr, ofconntest.Config{NoHello: true})
			if err := bad.WriteRaw(tt.input); err != nil {
				t.Fatal(err)
			}
			if tt.errCode >= 0 {
				e, _ := errorFrom(t, bad)
				if e.ErrType != ofp.ErrTypeBadRequest || e.Code != uint16(tt.errCode) {
					t.Errorf("OFPT_ERROR %v, want OFPET_BAD_REQUEST/%s", e, ofp.ErrorCodeString(ofp.ErrTypeBadRequest, uint16(tt.errCode)))
				}
			}
			waitClosed(t, bad)
			if err := goodSess.Barrier(ctxWait(t)); err != nil {
				t.Fatalf("good switch Barrier: %v", err)
			}
			select {
			case d := <-ts.rec.disconnected:
				t.Errorf("Disconnected(%d, %v): a session that never connected is not reported", d.s.DPID(), d.err)
			default:
			}
			_ = good
		})
	}
}
