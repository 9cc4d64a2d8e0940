package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// badInput is one kind of bad input sent to the controller's OpenFlow
// listener.
type badInput struct {
	name string
	// stage: "raw" sends input as the first bytes of the connection;
	// "hello" sends a proper OpenFlow 1.3 HELLO first; "handshake" runs the
	// whole switch handshake (a fake switch) first.
	stage      string
	input      []byte
	closeWrite bool // half-close after input (a peer that stops mid-header)
	// wantErr is the OFPT_ERROR the controller must answer with (OpenFlow
	// 1.3.5 section 7.4.4 "Error Message"), nil where the spec asks for none.
	wantErr *ofp.Error
}

// The inputs of issue 2's robustness check: garbage, a truncated header, a
// 65535 length with a short body, a length below 8, wrong versions, and an
// undecodable body after a handshake.
var badInputs = []badInput{
	// Not OpenFlow at all: the first byte (0x47 'G') is read as an unknown
	// version. OFPBRC_BAD_VERSION: "Header version not supported".
	{name: "garbage", stage: "raw", input: []byte("GET / HTTP/1.1\r\nHost: portcullis\r\n\r\n"),
		wantErr: &ofp.Error{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestBadVersion}},
	// Three bytes of a header, then the peer half-closes: nothing to answer.
	{name: "truncated-header", stage: "raw", input: []byte{0x04, 0x00, 0x00}, closeWrite: true},
	// A header announcing 65535 bytes followed by 10: the body never comes;
	// the handshake times out and the connection is closed.
	{name: "length-65535-before-hello", stage: "raw",
		input: append([]byte{0x04, 0x00, 0xff, 0xff, 0, 0, 0, 1}, make([]byte, 10)...)},
	// The same after a complete handshake: the session's reader waits for
	// the body, echo requests go unanswered, the session is closed.
	{name: "length-65535-after-handshake", stage: "handshake",
		input: append([]byte{0x04, 0x0a, 0xff, 0xff, 0, 0, 0, 2}, make([]byte, 10)...)},
	// A length below the header's own 8 bytes. OFPBRC_BAD_LEN: "Wrong
	// length for type".
	{name: "length-below-8", stage: "hello", input: []byte{0x04, 0x02, 0x00, 0x04, 0, 0, 0, 3},
		wantErr: &ofp.Error{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestBadLen}},
	// An OpenFlow 1.0-only switch. Section 7.1.1 / 6.3.1: no common version
	// means OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE.
	{name: "of10-hello", stage: "raw", input: []byte{0x01, 0x00, 0x00, 0x08, 0, 0, 0, 4},
		wantErr: &ofp.Error{ErrType: ofp.ErrTypeHelloFailed, Code: ofp.HelloFailedIncompatible}},
	// Version 1.3 negotiated, then a message with version 5 (OpenFlow 1.4).
	{name: "version-5-after-hello", stage: "hello", input: []byte{0x05, 0x02, 0x00, 0x08, 0, 0, 0, 5},
		wantErr: &ofp.Error{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestBadVersion}},
	// A FLOW_REMOVED whose body (8 bytes) is shorter than the message's
	// fixed part (40 bytes and a match).
	{name: "undecodable-flow-removed", stage: "handshake",
		input:   []byte{0x04, byte(ofp.TypeFlowRemoved), 0x00, 0x10, 0, 0, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8},
		wantErr: &ofp.Error{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestBadLen}},
}

// sendBad delivers in.input and returns the OFPT_ERRORs the controller sent
// (with their xids) before closing the connection; it fails t if the
// connection is not closed within 30 s.
func sendBad(t *testing.T, addr string, in badInput, dpid uint64) (errs []*ofp.Error, xids []uint32) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if in.stage == "handshake" {
		sw, err := ofconntest.Dial(ctx, addr, ofconntest.Config{DPID: dpid, Ports: ofconntest.Ports(2)})
		if err != nil {
			t.Fatal(err)
		}
		defer sw.Close()
		select {
		case <-sw.Handshook():
		case <-ctx.Done():
			t.Fatal("fake switch: no handshake within 30s")
		}
		if err := sw.WriteRaw(in.input); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sw.Done():
		case <-ctx.Done():
			t.Fatalf("connection still open 30s after %s", in.name)
		}
		for {
			r, err := sw.WaitFor(ctx, ofp.TypeError)
			if err != nil {
				break
			}
			errs, xids = append(errs, r.Msg.(*ofp.Error)), append(xids, r.Header.Xid)
		}
		return errs, xids
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if in.stage == "hello" {
		// OpenFlow 1.3 HELLO, no elements.
		if _, err := c.Write([]byte{0x04, 0x00, 0x00, 0x08, 0, 0, 0, 0x10}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(in.input); err != nil {
		t.Fatal(err)
	}
	if in.closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
				return errs, xids
			}
			t.Fatalf("after %s: %v (want the controller to close the connection)", in.name, err)
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n < 8 {
			t.Fatalf("controller sent a header with length %d", n)
		}
		msg := make([]byte, n)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c, msg[8:]); err != nil {
			t.Fatalf("controller's message cut short: %v", err)
		}
		if ofp.Type(hdr[1]) != ofp.TypeError {
			continue // its HELLO, FEATURES_REQUEST ...
		}
		h, m, err := ofp.Unmarshal(msg)
		if err != nil {
			t.Fatalf("controller's OFPT_ERROR does not decode: %v: % x", err, msg)
		}
		errs, xids = append(errs, m.(*ofp.Error)), append(xids, h.Xid)
	}
}

// Bad input on the OpenFlow listener while a real OVS is connected and
// forwarding: each bad connection gets the OFPT_ERROR the spec asks for
// (where it asks for one) and is closed; the controller stays up, the OVS
// session is never dropped, and a ping between the OVS hosts keeps going
// throughout (issue 2: "do not stop the controller, and a connected OVS
// keeps forwarding meanwhile").
func TestRobustMalformedInput(t *testing.T) {
	RequireLab(t)
	// Short echo timers so the 65535-length case ends in seconds.
	c := StartPortcullis(t, "--config", WriteConfig(t, "echo:\n  interval: 1s\n  timeout: 3s\n"))
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	WaitConnected(t, l, true)
	dpid := DPID(t, l)
	before := WaitSwitch(t, c, dpid)
	if err := Ping(t.Context(), l, 1, 2, false, 5); err != nil {
		t.Fatal(err)
	}
	p := StartPinger(t, l, 1, 2)

	t.Run("inputs", func(t *testing.T) {
		for i, in := range badInputs {
			t.Run(in.name, func(t *testing.T) {
				t.Parallel()
				errs, xids := sendBad(t, c.Addr, in, 0xbad000+uint64(i))
				if in.wantErr == nil {
					if len(errs) > 0 {
						t.Logf("OFPT_ERROR sent (none required): %v", errs)
					}
				} else {
					if len(errs) != 1 {
						t.Fatalf("got %d OFPT_ERRORs %v, want one %v/%s", len(errs), errs,
							in.wantErr.ErrType, ofp.ErrorCodeString(in.wantErr.ErrType, in.wantErr.Code))
					}
					e := errs[0]
					if e.ErrType != in.wantErr.ErrType || e.Code != in.wantErr.Code {
						t.Errorf("OFPT_ERROR %v, want %v/%s", e, in.wantErr.ErrType,
							ofp.ErrorCodeString(in.wantErr.ErrType, in.wantErr.Code))
					}
					// The error refers to the offending message: its xid, and
					// data holding (a prefix of) its bytes; except HELLO_FAILED,
					// whose data is "an ASCII text string that may give
					// failure meaning" (section 7.4.4).
					if want := binary.BigEndian.Uint32(in.input[4:8]); xids[0] != want {
						t.Errorf("OFPT_ERROR xid %#x, want the offending message's %#x", xids[0], want)
					}
					if e.ErrType == ofp.ErrTypeHelloFailed {
						if len(e.Data) == 0 || strings.IndexFunc(string(e.Data), func(r rune) bool { return r < ' ' || r > '~' }) >= 0 {
							t.Errorf("HELLO_FAILED data %q, want an ASCII explanation", e.Data)
						}
						t.Logf("HELLO_FAILED says: %s", e.Data)
					} else if len(e.Data) < 8 || !bytes.HasPrefix(in.input, e.Data[:min(len(e.Data), len(in.input))]) {
						t.Errorf("OFPT_ERROR data % x, want the start of % x", e.Data, in.input)
					}
				}
				if err := c.Healthy(); err != nil {
					t.Fatalf("after %s: %v", in.name, err)
				}
			})
		}
	})

	sent, received := p.Stop(t)
	t.Logf("ping h1 -> h2 during the bad input: %d sent, %d received", sent, received)
	if sent < 10 || sent-received > 1 { // the last request may be in flight at the stop
		t.Errorf("ping h1 -> h2 during the bad input: %d sent, %d received", sent, received)
	}
	if err := c.Healthy(); err != nil {
		t.Fatal(err)
	}
	// The OVS session was never dropped or replaced.
	after := WaitSwitch(t, c, dpid)
	if !after.ConnectedSince.Equal(before.ConnectedSince) || after.Address != before.Address {
		t.Errorf("OVS session changed: %s since %v -> %s since %v", before.Address, before.ConnectedSince,
			after.Address, after.ConnectedSince)
	}
	// The fake switches that misbehaved after their handshake are gone.
	waitFor(t, 10*time.Second, "only the OVS switch in /api/v1/switches", func() bool {
		sws := Switches(t, c)
		return len(sws) == 1 && sws[0].DatapathID == dpid
	})
	ovsDPID := fmt.Sprintf("dpid=%016x", dpid)
	for line := range strings.Lines(c.Logs()) {
		if strings.Contains(line, ovsDPID) && strings.Contains(line, "disconnected") {
			t.Errorf("controller dropped the OVS switch: %s", line)
		}
	}
	// The controller still sets up new conversations for it.
	PingAll(t, l)
	if n := strings.Count(c.Logs(), "malformed message"); n == 0 {
		t.Error("controller logged no line about the malformed messages")
	}
}
