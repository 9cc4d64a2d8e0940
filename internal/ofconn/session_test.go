package ofconn_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

func TestHandshake(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	ports := ofconntest.Ports(5)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 0xabc, Ports: ports, PortDescParts: 3})

	// Our HELLO came first and advertises 1.3 in a version bitmap.
	first, err := sw.Next(ctxWait(t))
	if err != nil {
		t.Fatal(err)
	}
	hello, ok := first.Msg.(*ofp.Hello)
	if !ok || !hello.Supports(ofp.Version) || len(hello.Elements) == 0 {
		t.Fatalf("first message = %#v, want a HELLO with a 1.3 bitmap", first.Msg)
	}
	if sc := sw.SetConfig(); sc == nil || sc.MissSendLen != 0xffff {
		t.Errorf("SET_CONFIG = %+v, want miss_send_len 0xffff", sc)
	}
	if s.Reconnect() {
		t.Error("first connection reported as a reconnect")
	}
	if f := s.Features(); f.DatapathID != 0xabc || f.NTables != 254 {
		t.Errorf("Features = %+v", f)
	}
	got := s.Ports()
	if len(got) != len(ports) {
		t.Fatalf("Ports: %d ports, want %d (3-part PORT_DESC reassembled)", len(got), len(ports))
	}
	for i := range ports {
		if got[i].PortNo != ports[i].PortNo || got[i].Name != ports[i].Name ||
			!bytes.Equal(got[i].HWAddr, ports[i].HWAddr) {
			t.Errorf("port %d = %+v, want %+v", i, got[i], ports[i])
		}
	}
	if ts.Session(0xabc) != s {
		t.Error("Server.Session(dpid) does not return the session")
	}
	if all := ts.Sessions(); len(all) != 1 || all[0] != s {
		t.Errorf("Sessions = %v", all)
	}
	if s.RemoteAddr().String() != sw.Conn().LocalAddr().String() {
		t.Errorf("RemoteAddr = %v, want %v", s.RemoteAddr(), sw.Conn().LocalAddr())
	}
	if s.ConnectedAt().IsZero() {
		t.Error("ConnectedAt is zero")
	}
	if !strings.Contains(ts.logs.String(), "dpid=0000000000000abc") {
		t.Errorf("log has no dpid attribute:\n%s", ts.logs.String())
	}
}

func TestHandshakeConfig(t *testing.T) {
	ts := startServer(t, ofconn.Config{MissSendLen: 128}, nil)
	sw, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	if sc := sw.SetConfig(); sc == nil || sc.MissSendLen != 128 {
		t.Errorf("SET_CONFIG = %+v, want miss_send_len 128", sc)
	}
}

func TestVersionNegotiation(t *testing.T) {
	tests := []struct {
		name  string
		hello []byte
		ok    bool
	}{
		// OpenFlow 1.0 HELLO: header only, version 1.
		{"of10", []byte{0x01, 0x00, 0x00, 0x08, 0, 0, 0, 1}, false},
		// OpenFlow 1.2 header, no bitmap.
		{"of12", []byte{0x03, 0x00, 0x00, 0x08, 0, 0, 0, 1}, false},
		// Bitmap offering 1.0 and 1.1 only, header version 2.
		{"bitmap-no-13", []byte{0x02, 0x00, 0x00, 0x10, 0, 0, 0, 1, 0x00, 0x01, 0x00, 0x08, 0, 0, 0, 0x06}, false},
		// OpenFlow 1.5 header with a bitmap offering 1.3 to 1.5.
		{"bitmap-13-15", []byte{0x06, 0x00, 0x00, 0x10, 0, 0, 0, 1, 0x00, 0x01, 0x00, 0x08, 0, 0, 0, 0x70}, true},
		// OpenFlow 1.4 header, no bitmap: the common version is 1.3.
		{"of14", []byte{0x05, 0x00, 0x00, 0x08, 0, 0, 0, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ofconn.Config{}, nil)
			sw := dial(t, ts.addr, ofconntest.Config{DPID: 7, Hello: tt.hello})
			if tt.ok {
				ts.rec.waitConnected(t)
				return
			}
			e, h := errorFrom(t, sw)
			if e.ErrType != ofp.ErrTypeHelloFailed || e.Code != ofp.HelloFailedIncompatible {
				t.Errorf("error = %v, want OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE", e)
			}
			if h.Xid != 1 {
				t.Errorf("error xid = %d, want the HELLO's 1", h.Xid)
			}
			waitClosed(t, sw)
			if log := ts.logs.String(); !strings.Contains(log, "cannot speak OpenFlow 1.3") {
				t.Errorf("no clear log line:\n%s", log)
			}
			if st := ts.Stats(); st.HandshakeFailures != 1 || st.Connected != 0 {
				t.Errorf("stats = %+v", st)
			}
			select {
			case s := <-ts.rec.connected:
				t.Errorf("Connected called for %v", s.DPID())
			default:
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	tests := []struct {
		name string
		cfg  ofconntest.Config
	}{
		{"no-hello", ofconntest.Config{NoHello: true}},
		{"no-features-reply", ofconntest.Config{NoFeaturesReply: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ofconn.Config{HandshakeTimeout: 200 * time.Millisecond}, nil)
			sw := dial(t, ts.addr, tt.cfg)
			waitClosed(t, sw)
			if st := ts.Stats(); st.HandshakeFailures != 1 || st.Connected != 0 {
				t.Errorf("stats = %+v", st)
			}
			if log := ts.logs.String(); !strings.Contains(log, "no answer within") {
				t.Errorf("log does not say why:\n%s", log)
			}
		})
	}
}

func TestEchoFromSwitch(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	sw, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	if err := sw.Send(77, &ofp.EchoRequest{Data: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	r, err := sw.WaitFor(ctxWait(t), ofp.TypeEchoReply)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Xid != 77 || string(r.Msg.(*ofp.EchoReply).Data) != "ping" {
		t.Errorf("echo reply xid %d data %q, want 77 %q", r.Header.Xid, r.Msg.(*ofp.EchoReply).Data, "ping")
	}
	select {
	case m := <-ts.rec.messages:
		t.Errorf("handler got %v; echo is the session's business", m.m.Type())
	default:
	}
}

func TestEchoFromController(t *testing.T) {
	ts := startServer(t, ofconn.Config{EchoInterval: 20 * time.Millisecond, EchoTimeout: 200 * time.Millisecond}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	for range 3 {
		if _, err := sw.WaitFor(ctxWait(t), ofp.TypeEchoRequest); err != nil {
			t.Fatal(err)
		}
	}
	// The switch answered every echo: the session is still up.
	if err := s.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("Barrier after echoes: %v", err)
	}
	if s.Stats().EchoesSent < 3 {
		t.Errorf("EchoesSent = %d, want >= 3", s.Stats().EchoesSent)
	}
}

func TestDeadSwitch(t *testing.T) {
	ts := startServer(t, ofconn.Config{EchoInterval: 20 * time.Millisecond, EchoTimeout: 50 * time.Millisecond}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 9, NoEchoReply: true})
	d := ts.rec.waitDisconnected(t)
	if d.s != s || !errors.Is(d.err, ofconn.ErrEchoTimeout) {
		t.Errorf("Disconnected(%v, %v), want the session with ErrEchoTimeout", d.s.DPID(), d.err)
	}
	waitClosed(t, sw)
	if ts.Session(9) != nil {
		t.Error("dead session still listed")
	}
	if !errors.Is(s.Err(), ofconn.ErrEchoTimeout) {
		t.Errorf("Err = %v", s.Err())
	}
}

func TestReconnect(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	// A stops answering echoes: a switch whose connection broke without
	// a FIN or RST reaching us.
	swA, a := connect(t, ts, ofconntest.Config{DPID: 5, NoEchoReply: true})

	// Same datapath again while A is open but silent: A is closed first.
	_, b := connect(t, ts, ofconntest.Config{DPID: 5})
	d := ts.rec.waitDisconnected(t)
	if d.s != a || !errors.Is(d.err, ofconn.ErrReplaced) {
		t.Errorf("Disconnected(%p, %v), want old session with ErrReplaced", d.s, d.err)
	}
	waitClosed(t, swA)
	if !b.Reconnect() {
		t.Error("second connection of DPID 5 not a reconnect")
	}
	want := []string{"connected 0000000000000005", "disconnected 0000000000000005", "connected 0000000000000005"}
	if got := ts.rec.Events(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %q, want %q", got, want)
	}
	if ts.Session(5) != b {
		t.Error("Session(5) is not the new session")
	}

	// Gone, then back: still a reconnect.
	b.Close(nil)
	ts.rec.waitDisconnected(t)
	_, c := connect(t, ts, ofconntest.Config{DPID: 5})
	if !c.Reconnect() {
		t.Error("returning DPID 5 not a reconnect")
	}
	// Another datapath: not a reconnect.
	_, other := connect(t, ts, ofconntest.Config{DPID: 6})
	if other.Reconnect() {
		t.Error("new DPID 6 reported as a reconnect")
	}
	if st := ts.Stats(); st.Reconnects != 2 || st.Connected != 4 || st.Active != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSeenDPIDsBounded(t *testing.T) {
	ts := startServer(t, ofconn.Config{SeenDPIDs: 2}, nil)
	for dpid := range uint64(3) {
		_, s := connect(t, ts, ofconntest.Config{DPID: dpid + 1})
		s.Close(nil)
		ts.rec.waitDisconnected(t)
	}
	// DPID 1 was forgotten (only 2 remembered), DPID 3 was not.
	_, s1 := connect(t, ts, ofconntest.Config{DPID: 1})
	_, s3 := connect(t, ts, ofconntest.Config{DPID: 3})
	if s1.Reconnect() || !s3.Reconnect() {
		t.Errorf("Reconnect: dpid 1 %v (want false), dpid 3 %v (want true)", s1.Reconnect(), s3.Reconnect())
	}
}

func TestAsyncMessagesInOrder(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	for i := range 100 {
		pi := &ofp.PacketIn{BufferID: ofp.NoBuffer, Reason: 0, Cookie: uint64(i), Data: []byte{byte(i)}}
		if err := sw.Send(uint32(i+1000), pi); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		m := ts.rec.waitMessage(t, ofp.TypePacketIn)
		pi := m.m.(*ofp.PacketIn)
		if m.s != s || m.xid != uint32(i+1000) || pi.Cookie != uint64(i) || pi.Data[0] != byte(i) {
			t.Fatalf("message %d: xid %d cookie %d, want in order", i, m.xid, pi.Cookie)
		}
	}
	if st := s.Stats(); st.RxMessages < 100 {
		t.Errorf("RxMessages = %d", st.RxMessages)
	}
}

func TestPortStatus(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	ports := ofconntest.Ports(2)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1, Ports: ports})

	added := ofconntest.Ports(3)[2]
	modified := ports[0]
	modified.State = ofp.PortStateLinkDown
	steps := []struct {
		reason uint8
		port   ofp.Port
		want   []uint32 // port numbers after the step
	}{
		{ofp.PortReasonAdd, added, []uint32{1, 2, 3}},
		{ofp.PortReasonModify, modified, []uint32{1, 2, 3}},
		{ofp.PortReasonDelete, ports[1], []uint32{1, 3}},
	}
	for _, st := range steps {
		if err := sw.Send(0, &ofp.PortStatus{Reason: st.reason, Port: st.port}); err != nil {
			t.Fatal(err)
		}
		// The handler sees it after the port list was updated.
		ts.rec.waitMessage(t, ofp.TypePortStatus)
		var got []uint32
		for _, p := range s.Ports() {
			got = append(got, p.PortNo)
		}
		if len(got) != len(st.want) {
			t.Fatalf("after reason %d: ports %v, want %v", st.reason, got, st.want)
		}
		for i := range got {
			if got[i] != st.want[i] {
				t.Fatalf("after reason %d: ports %v, want %v", st.reason, got, st.want)
			}
		}
	}
	if p := s.Ports()[0]; p.State != ofp.PortStateLinkDown || !bytes.Equal(p.HWAddr, ports[0].HWAddr) {
		t.Errorf("modified port = %+v", p)
	}
}

func TestBarrier(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	sw, s := connect(t, ts, ofconntest.Config{DPID: 1})
	fm := &ofp.FlowMod{Command: ofp.FlowAdd, Priority: 10, BufferID: ofp.NoBuffer,
		OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}
	if err := s.Send(fm, fm); err != nil {
		t.Fatal(err)
	}
	if err := s.Barrier(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	// The switch saw both flow-mods before the barrier.
	var types []ofp.Type
	for {
		r, err := sw.Next(ctxWait(t))
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.Type == ofp.TypeFlowMod || r.Header.Type == ofp.TypeBarrierRequest {
			types = append(types, r.Header.Type)
		}
		if r.Header.Type == ofp.TypeBarrierRequest {
			break
		}
	}
	if len(types) != 3 || types[0] != ofp.TypeFlowMod || types[1] != ofp.TypeFlowMod {
		t.Errorf("switch saw %v, want two flow-mods then the barrier", types)
	}
}

func TestBarrierTimeout(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	_, s := connect(t, ts, ofconntest.Config{DPID: 1, NoBarrierReply: true})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Barrier(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Barrier = %v, want DeadlineExceeded", err)
	}
	// A request outstanding when the session closes fails with ErrClosed.
	errc := make(chan error, 1)
	go func() { errc <- s.Barrier(context.Background()) }()
	time.Sleep(10 * time.Millisecond) // let it queue; either order passes
	s.Close(nil)
	select {
	case err := <-errc:
		if !errors.Is(err, ofconn.ErrClosed) {
			t.Errorf("Barrier on closed session = %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Barrier did not return after Close")
	}
}

func TestRequestErrorReply(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	_, s := connect(t, ts, ofconntest.Config{DPID: 1, Handle: func(sw *ofconntest.Switch, h ofp.Header, m ofp.Message) {
		if h.Type == ofp.TypeRoleRequest {
			sw.Send(h.Xid, &ofp.Error{ErrType: ofp.ErrTypeRoleRequestFailed, Code: ofp.RoleRequestFailedUnsup})
		}
	}})
	_, err := s.Request(ctxWait(t), &ofp.RoleRequest{Role: ofp.ControllerRoleMaster})
	var oe *ofp.Error
	if !errors.As(err, &oe) || oe.ErrType != ofp.ErrTypeRoleRequestFailed || oe.Code != ofp.RoleRequestFailedUnsup {
		t.Errorf("Request error = %v, want the switch's OFPET_ROLE_REQUEST_FAILED", err)
	}
	select {
	case m := <-ts.rec.messages:
		t.Errorf("handler got the reply %v", m.m.Type())
	default:
	}
}

func TestRequestPortDescMultipart(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	ports := ofconntest.Ports(40)
	_, s := connect(t, ts, ofconntest.Config{DPID: 1, Ports: ports, PortDescParts: 4})
	r, err := s.Request(ctxWait(t), &ofp.MultipartRequest{Body: &ofp.PortDescRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	mp, ok := r.(*ofp.MultipartReply)
	if !ok {
		t.Fatalf("reply %T", r)
	}
	pd := mp.Body.(*ofp.PortDescReply)
	if mp.More() || len(pd.Ports) != 40 {
		t.Fatalf("merged reply: more=%v, %d ports, want 40", mp.More(), len(pd.Ports))
	}
	for i, p := range pd.Ports {
		if p.PortNo != uint32(i+1) || p.Name != ports[i].Name || !bytes.Equal(p.HWAddr, ports[i].HWAddr) {
			t.Fatalf("port %d = %+v", i, p)
		}
	}
}

func TestSendAfterClose(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	_, s := connect(t, ts, ofconntest.Config{DPID: 1})
	s.Close(nil)
	<-s.Done()
	if err := s.Send(&ofp.BarrierRequest{}); !errors.Is(err, ofconn.ErrClosed) {
		t.Errorf("Send = %v, want ErrClosed", err)
	}
	if _, err := s.Request(ctxWait(t), &ofp.BarrierRequest{}); !errors.Is(err, ofconn.ErrClosed) {
		t.Errorf("Request = %v, want ErrClosed", err)
	}
	if d := ts.rec.waitDisconnected(t); !errors.Is(d.err, ofconn.ErrClosed) {
		t.Errorf("Disconnected err = %v", d.err)
	}
}

func TestServerStopClosesSessions(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	sw1, _ := connect(t, ts, ofconntest.Config{DPID: 1})
	sw2, _ := connect(t, ts, ofconntest.Config{DPID: 2})
	ts.stop()
	for range 2 {
		if d := ts.rec.waitDisconnected(t); !errors.Is(d.err, ofconn.ErrServerClosed) {
			t.Errorf("Disconnected err = %v, want ErrServerClosed", d.err)
		}
	}
	waitClosed(t, sw1)
	waitClosed(t, sw2)
}

func TestPanicClosesOnlyThatSession(t *testing.T) {
	rec := newRecorder()
	rec.OnMessage = func(s *ofconn.Session, xid uint32, m ofp.Message) {
		if xid == 666 {
			panic("handler bug")
		}
		_, cp, _ := ofp.Unmarshal(ofp.Marshal(xid, m))
		rec.messages <- msg{s, xid, cp}
	}
	ts := startServer(t, ofconn.Config{}, rec)
	good, goodSess := connect(t, ts, ofconntest.Config{DPID: 1})
	bad, badSess := connect(t, ts, ofconntest.Config{DPID: 2})
	if err := bad.Send(666, &ofp.PacketIn{BufferID: ofp.NoBuffer}); err != nil {
		t.Fatal(err)
	}
	d := ts.rec.waitDisconnected(t)
	var pe *ofconn.PanicError
	if d.s != badSess || !errors.As(d.err, &pe) {
		t.Fatalf("Disconnected(%d, %v), want the bad session with a PanicError", d.s.DPID(), d.err)
	}
	waitClosed(t, bad)
	if st := ts.Stats(); st.Panics != 1 {
		t.Errorf("Panics = %d, want 1", st.Panics)
	}
	if log := ts.logs.String(); !strings.Contains(log, "handler bug") || !strings.Contains(log, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", log)
	}
	if err := good.Send(1, &ofp.PacketIn{BufferID: ofp.NoBuffer}); err != nil {
		t.Fatal(err)
	}
	if m := ts.rec.waitMessage(t, ofp.TypePacketIn); m.s != goodSess {
		t.Error("good switch's PACKET_IN lost")
	}
}
