package ofconn_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// wait bounds every wait in these tests: long enough never to be hit on a
// slow machine, so a test fails only when the awaited thing never happens.
const wait = 20 * time.Second

// msg is a message the handler saw, decoded from a copy.
type msg struct {
	s   *ofconn.Session
	xid uint32
	m   ofp.Message
}

type disc struct {
	s   *ofconn.Session
	err error
}

// refusal is a Refused call.
type refusal struct {
	remote string
	err    *ofconn.RefusedError
}

// recorder is a Handler that records every call on channels. OnMessage,
// if set, runs first in Message (on the session's reader goroutine).
type recorder struct {
	connected    chan *ofconn.Session
	messages     chan msg
	disconnected chan disc
	refused      chan refusal
	OnMessage    func(s *ofconn.Session, xid uint32, m ofp.Message)

	mu     sync.Mutex
	events []string // "connected <dpid>", "disconnected <dpid>" in call order
}

func newRecorder() *recorder {
	return &recorder{
		connected:    make(chan *ofconn.Session, 256),
		messages:     make(chan msg, 4096),
		disconnected: make(chan disc, 256),
		refused:      make(chan refusal, 256),
	}
}

func (r *recorder) Connected(s *ofconn.Session) {
	r.mu.Lock()
	r.events = append(r.events, "connected "+ofconn.FormatDPID(s.DPID()))
	r.mu.Unlock()
	r.connected <- s
}

func (r *recorder) Message(s *ofconn.Session, xid uint32, m ofp.Message) {
	if r.OnMessage != nil {
		r.OnMessage(s, xid, m)
		return
	}
	// m aliases the read buffer: keep a decoded copy.
	_, cp, err := ofp.Unmarshal(ofp.Marshal(xid, m))
	if err != nil {
		panic(err)
	}
	select {
	case r.messages <- msg{s, xid, cp}:
	default:
	}
}

func (r *recorder) Disconnected(s *ofconn.Session, err error) {
	r.mu.Lock()
	r.events = append(r.events, "disconnected "+ofconn.FormatDPID(s.DPID()))
	r.mu.Unlock()
	r.disconnected <- disc{s, err}
}

func (r *recorder) Refused(remote net.Addr, err *ofconn.RefusedError) {
	r.mu.Lock()
	r.events = append(r.events, "refused "+ofconn.FormatDPID(err.DPID))
	r.mu.Unlock()
	r.refused <- refusal{remote.String(), err}
}

func (r *recorder) waitRefused(t *testing.T) refusal {
	t.Helper()
	select {
	case f := <-r.refused:
		return f
	case <-time.After(wait):
		t.Fatal("no Refused call")
		return refusal{}
	}
}

func (r *recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) waitConnected(t *testing.T) *ofconn.Session {
	t.Helper()
	select {
	case s := <-r.connected:
		return s
	case <-time.After(wait):
		t.Fatal("no Connected call")
		return nil
	}
}

func (r *recorder) waitDisconnected(t *testing.T) disc {
	t.Helper()
	select {
	case d := <-r.disconnected:
		return d
	case <-time.After(wait):
		t.Fatal("no Disconnected call")
		return disc{}
	}
}

func (r *recorder) waitMessage(t *testing.T, typ ofp.Type) msg {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m := <-r.messages:
			if m.m.Type() == typ {
				return m
			}
		case <-timeout:
			t.Fatalf("handler got no %v", typ)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testServer is a running server on a loopback port.
type testServer struct {
	*ofconn.Server
	addr string
	rec  *recorder
	logs *syncBuffer
	stop func() // cancels and waits for ListenAndServe
}

// startServer runs a server with cfg (Listen defaults to 127.0.0.1:0) and
// stops it at the end of the test.
func startServer(t *testing.T, cfg ofconn.Config, rec *recorder) *testServer {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if rec == nil {
		rec = newRecorder()
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := ofconn.NewServer(cfg, rec, log)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	var once sync.Once
	ts := &testServer{Server: srv, addr: srv.Addr().String(), rec: rec, logs: logs}
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("ListenAndServe: %v", err)
				}
			case <-time.After(wait):
				t.Error("ListenAndServe did not return after cancel")
			}
		})
	}
	t.Cleanup(func() {
		ts.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// dial connects a fake switch and closes it at the end of the test.
func dial(t *testing.T, addr string, cfg ofconntest.Config) *ofconntest.Switch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sw, err := ofconntest.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	return sw
}

// connect dials a well-behaved switch and waits for its Connected call.
func connect(t *testing.T, ts *testServer, cfg ofconntest.Config) (*ofconntest.Switch, *ofconn.Session) {
	t.Helper()
	sw := dial(t, ts.addr, cfg)
	s := ts.rec.waitConnected(t)
	if s.DPID() != cfg.DPID {
		t.Fatalf("Connected DPID = %#x, want %#x", s.DPID(), cfg.DPID)
	}
	return sw, s
}

// waitClosed waits until the controller closes the switch's connection.
func waitClosed(t *testing.T, sw *ofconntest.Switch) {
	t.Helper()
	select {
	case <-sw.Done():
	case <-time.After(wait):
		t.Fatal("controller did not close the connection")
	}
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// errorFrom waits for the next OFPT_ERROR the switch receives.
func errorFrom(t *testing.T, sw *ofconntest.Switch) (*ofp.Error, ofp.Header) {
	t.Helper()
	r, err := sw.WaitFor(ctxWait(t), ofp.TypeError)
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.(*ofp.Error), r.Header
}
