package notice

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestListenerLoopback sends real datagrams over loopback and checks what
// the Listener delivers and counts.
func TestListenerLoopback(t *testing.T) {
	l, err := Listen("127.0.0.1:0", NewVerifier(testKey, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Now = func() time.Time { return t0 }
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan Delivery, 16)
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, func(d Delivery) { got <- d }) }()

	c, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := Seal(testKey, sample())
	forged := Seal(testKey, sample())
	forged[len(forged)-1] ^= 1
	stale := sample()
	stale.Time = t0.Add(-time.Hour)
	stale.Nonce[0] = 0x77
	sends := []struct {
		b          []byte
		wantReason string // "" = accepted
	}{
		{good, ""},
		{good, "replayed"},
		{forged, "bad_signature"},
		{Seal(otherKey, sample()), "wrong_key"},
		{[]byte("GET / HTTP/1.0\r\n\r\n"), "malformed"},
		{make([]byte, 1400), "malformed"},
		{Seal(testKey, stale), "stale"},
	}
	for i, s := range sends {
		if _, err := c.Write(s.b); err != nil {
			t.Fatal(err)
		}
		var d Delivery
		select {
		case d = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("datagram %d: nothing delivered", i)
		}
		if s.wantReason == "" {
			if d.Err != nil {
				t.Fatalf("datagram %d: %v, want accepted", i, d.Err)
			}
			if d.Notice.Kind != "tcp-syn" || d.From.Addr().String() != "127.0.0.1" {
				t.Errorf("datagram %d: delivered %+v", i, d)
			}
		} else if r := Reason(d.Err); r != s.wantReason {
			t.Errorf("datagram %d: rejected as %q (%v), want %q", i, r, d.Err, s.wantReason)
		}
	}
	want := Stats{Accepted: 1, Rejected: 6, Malformed: 2, WrongKey: 1, BadMAC: 1, Stale: 1, Replayed: 1}
	if s := l.Stats(); s != want {
		t.Errorf("Stats() = %+v, want %+v", s, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestListenerClose(t *testing.T) {
	l, err := Listen("127.0.0.1:0", NewVerifier(testKey, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(context.Background(), nil) }()
	l.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestReasonUnknown(t *testing.T) {
	if r := Reason(errors.New("x")); r != "error" {
		t.Errorf("Reason(other) = %q, want error", r)
	}
}

// TestListenerDualStackUnmaps checks that an IPv4 sender reaching a
// dual-stack socket is reported as a.b.c.d, not ::ffff:a.b.c.d.
func TestListenerDualStackUnmaps(t *testing.T) {
	l, err := Listen("[::]:0", NewVerifier(testKey, 0, 0))
	if err != nil {
		t.Skipf("no IPv6 socket: %v", err)
	}
	defer l.Close()
	l.Now = func() time.Time { return t0 }
	got := make(chan Delivery, 1)
	go l.Serve(t.Context(), func(d Delivery) { got <- d })
	port := l.Addr().(*net.UDPAddr).Port
	c, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(Seal(testKey, sample()))
	d := <-got
	if d.Err != nil || d.From.Addr().String() != "127.0.0.1" {
		t.Fatalf("delivered from %v (err %v), want 127.0.0.1", d.From, d.Err)
	}
}
