package api

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// This file: what makes the API safe by default. Requests must name a host
// the API answers to (DNS rebinding), reads go without a token only for a
// loopback peer that names a loopback host, event streams are capped, and
// the HTTP server has read, write and idle timeouts.

// Server timeouts (NewServer). A stream extends its own write deadline per
// write and clears the read deadline.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second // the whole request, body included (bodies are <= MaxBodyBytes)
	WriteTimeout      = 60 * time.Second // one response
	IdleTimeout       = 2 * time.Minute  // a keep-alive connection between requests
	MaxHeaderBytes    = 64 << 10
	// StreamWriteTimeout bounds one write to an event stream: a client
	// that stops reading is dropped instead of holding a goroutine.
	StreamWriteTimeout = 30 * time.Second
)

// DefaultListen is where the API listens unless configured: loopback only.
const DefaultListen = "127.0.0.1:6680"

// DefaultMaxStreams caps concurrent event streams when Options.Streams is
// nil.
const DefaultMaxStreams = 32

// NewServer returns an http.Server for h (usually New's handler) with the
// API's timeouts; handlers see base as their requests' parent context, so
// cancelling it ends open event streams at shutdown.
func NewServer(h http.Handler, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// StreamLimit caps concurrent event streams. One StreamLimit may be shared
// by the handlers a controller makes over time (a reload makes a new one),
// so the cap holds across reloads. Safe for concurrent use.
type StreamLimit struct {
	max, n atomic.Int64
}

// NewStreamLimit returns a limit of max concurrent streams.
func NewStreamLimit(max int) *StreamLimit {
	l := &StreamLimit{}
	l.SetMax(max)
	return l
}

// SetMax changes the cap; streams already open stay open.
func (l *StreamLimit) SetMax(max int) {
	if max < 1 {
		max = 1
	}
	l.max.Store(int64(max))
}

// Open returns the number of streams open now.
func (l *StreamLimit) Open() int { return int(l.n.Load()) }

func (l *StreamLimit) acquire() bool {
	if l.n.Add(1) > l.max.Load() {
		l.n.Add(-1)
		return false
	}
	return true
}

func (l *StreamLimit) release() { l.n.Add(-1) }

// requestHost returns the Host header's host, lower case, without port or
// brackets or a trailing dot.
func requestHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	return strings.ToLower(h)
}

// isLocalhostName reports whether h is localhost or a name under it, which
// browsers and resolvers map to loopback (RFC 6761).
func isLocalhostName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// hostAllowed reports whether a request for hostport may be served: an IP
// address (a browser cannot be rebound to one), localhost, or one of
// Options.AllowedHosts. Any other name is what a DNS-rebinding page sends.
func (s *server) hostAllowed(hostport string) bool {
	h := requestHost(hostport)
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if isLocalhostName(h) {
		return true
	}
	for _, a := range s.opts.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(a, "."), h) {
			return true
		}
	}
	return false
}

// isLoopbackHost reports whether hostport names this host by loopback.
func isLoopbackHost(hostport string) bool {
	h := requestHost(hostport)
	if isLocalhostName(h) {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// proxied reports whether a request carries the headers a reverse proxy
// adds: such a request came from elsewhere, whatever its peer address.
func proxied(r *http.Request) bool {
	h := r.Header
	return h.Get("Forwarded") != "" || h.Get("X-Forwarded-For") != "" || h.Get("X-Forwarded-Host") != "" || h.Get("X-Real-Ip") != ""
}

// openRead reports whether r may read without a token: reads are open on
// loopback, the peer is loopback, the request names a loopback host, and no
// proxy forwarded it. A reverse proxy on this host that keeps the client's
// Host (or adds forwarding headers) therefore needs a token for reads.
func (s *server) openRead(r *http.Request) bool {
	return s.opts.OpenReadsOnLoopback && isLoopback(r.RemoteAddr) && isLoopbackHost(r.Host) && !proxied(r)
}
