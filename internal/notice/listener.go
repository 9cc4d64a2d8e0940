package notice

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Stats counts what a Listener received. Rejected is the sum of the
// per-reason counters.
type Stats struct {
	Accepted  uint64
	Rejected  uint64
	Malformed uint64 // ErrMalformed: truncated, oversized or garbage
	WrongKey  uint64 // ErrWrongKey: sealed with another key
	BadMAC    uint64 // ErrBadMAC: forged or altered
	Stale     uint64 // ErrStale: timestamp outside the allowed skew
	Replayed  uint64 // ErrReplay: nonce seen before
}

// Reason returns a short stable name for why Open rejected a notice:
// malformed, wrong_key, bad_signature, stale, replayed, or error for
// anything else.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrWrongKey):
		return "wrong_key"
	case errors.Is(err, ErrBadMAC):
		return "bad_signature"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrReplay):
		return "replayed"
	}
	return "error"
}

// Delivery is one datagram a Listener received.
type Delivery struct {
	From   netip.AddrPort
	Notice Notice // valid when Err is nil
	Err    error  // why the datagram was rejected; nil if accepted
}

// Listener reads datagrams from a packet socket and verifies each one as a
// notice. Serve runs on one goroutine; Stats and Close are safe to call from
// any goroutine.
type Listener struct {
	conn net.PacketConn
	v    *Verifier
	// Now is the clock used to judge timestamps; time.Now if nil. Set it
	// before Serve.
	Now func() time.Time

	mu    sync.Mutex
	stats Stats // guarded by mu
}

// Listen opens a UDP socket on addr (host:port; ":6686" for all addresses)
// and returns a Listener that verifies with v.
func Listen(addr string, v *Verifier) (*Listener, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	return NewListener(conn, v), nil
}

// NewListener returns a Listener reading conn. The Listener owns conn.
func NewListener(conn net.PacketConn, v *Verifier) *Listener {
	return &Listener{conn: conn, v: v}
}

// Addr returns the local address of the socket.
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close closes the socket; a running Serve returns.
func (l *Listener) Close() error { return l.conn.Close() }

// Stats returns a copy of the counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Serve reads datagrams until ctx is done or the socket is closed, verifies
// each, updates the counters and then calls handle (if not nil) on the
// calling goroutine, in arrival order. It returns nil when ctx is done or the
// Listener was closed, and the read error otherwise.
func (l *Listener) Serve(ctx context.Context, handle func(Delivery)) error {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	stop := context.AfterFunc(ctx, func() { l.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, MaxSize+1) // one more, so an oversized datagram is seen as such
	for {
		k, from, err := l.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		d := Delivery{From: addrPort(from)}
		d.Notice, d.Err = l.v.Open(buf[:k], now())
		l.count(d.Err)
		if handle != nil {
			handle(d)
		}
	}
}

func (l *Listener) count(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.stats.Accepted++
		return
	}
	l.stats.Rejected++
	switch Reason(err) {
	case "malformed":
		l.stats.Malformed++
	case "wrong_key":
		l.stats.WrongKey++
	case "bad_signature":
		l.stats.BadMAC++
	case "stale":
		l.stats.Stale++
	case "replayed":
		l.stats.Replayed++
	}
}

// addrPort converts a sender address, unmapping IPv4 senders that a
// dual-stack socket reports as ::ffff:a.b.c.d.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if u, ok := a.(*net.UDPAddr); ok {
		ap = u.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
