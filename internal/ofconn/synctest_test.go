package ofconn_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// runPipeSession serves one fake switch over net.Pipe inside a synctest
// bubble (time is fake: the keepalive schedule can be checked exactly).
func runPipeSession(t *testing.T, cfg ofconn.Config, swCfg ofconntest.Config) (*recorder, *ofconntest.Switch, *ofconn.Session, chan struct{}) {
	rec := newRecorder()
	srv := ofconn.NewServer(cfg, rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctl, swc := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), ctl)
	}()
	sw, err := ofconntest.Start(swc, swCfg)
	if err != nil {
		t.Fatal(err)
	}
	return rec, sw, <-rec.connected, served
}

func TestKeepaliveSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := ofconn.Config{EchoInterval: 5 * time.Second, EchoTimeout: 10 * time.Second}
		rec, sw, s, served := runPipeSession(t, cfg, ofconntest.Config{DPID: 1, NoEchoReply: true})
		start := time.Now()
		d := <-rec.disconnected
		took := time.Since(start)
		t.Logf("dead switch detected after %v", took)
		if d.s != s || !errors.Is(d.err, ofconn.ErrEchoTimeout) {
			t.Errorf("Disconnected err %v, want ErrEchoTimeout", d.err)
		}
		// Idle for EchoInterval, then EchoTimeout without an answer; the
		// keepalive checks every min(interval, timeout)/2 = 2.5s.
		if lo, hi := 15*time.Second, 15*time.Second+3*2500*time.Millisecond; took < lo || took > hi {
			t.Errorf("dead switch detected after %v, want between %v and %v", took, lo, hi)
		}
		<-served
		echoes := 0
		for {
			r, err := sw.Next(context.Background())
			if err != nil {
				break
			}
			if r.Header.Type == ofp.TypeEchoRequest {
				echoes++
			}
		}
		if echoes != 1 {
			t.Errorf("%d ECHO_REQUESTs sent to a silent switch, want 1 (then the timeout)", echoes)
		}
		sw.Close()
	})
}

func TestKeepaliveHealthySwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := ofconn.Config{EchoInterval: 5 * time.Second, EchoTimeout: 10 * time.Second}
		rec, sw, s, served := runPipeSession(t, cfg, ofconntest.Config{DPID: 1})
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case d := <-rec.disconnected:
			t.Fatalf("healthy switch disconnected: %v", d.err)
		default:
		}
		// Idle 5s, echo answered at once: one echo every 5 to 7.5s.
		t.Logf("%d echoes in a minute", s.Stats().EchoesSent)
		if n := s.Stats().EchoesSent; n < 8 || n > 12 {
			t.Errorf("%d echoes in a minute, want 8 to 12", n)
		}
		sw.Close()
		<-served
	})
}

func TestHandshakeTimeoutSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		srv := ofconn.NewServer(ofconn.Config{HandshakeTimeout: 7 * time.Second}, rec,
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctl, swc := net.Pipe()
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv.ServeConn(context.Background(), ctl)
		}()
		// The switch says HELLO, then never answers FEATURES_REQUEST.
		sw, err := ofconntest.Start(swc, ofconntest.Config{DPID: 1, NoFeaturesReply: true})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		<-served
		if took := time.Since(start); took != 7*time.Second {
			t.Errorf("handshake gave up after %v, want 7s", took)
		}
		if st := srv.Stats(); st.HandshakeFailures != 1 || st.Connected != 0 {
			t.Errorf("stats %+v", st)
		}
		sw.Close()
	})
}
