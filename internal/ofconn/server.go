package ofconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/ofp"
)

// Handler receives the life of every switch session. Connected and
// Disconnected run on the session's reader goroutine, as does Message, so
// for one session the calls never overlap and come in order. Calls for
// different sessions run concurrently.
type Handler interface {
	// Connected is called once the handshake is done: Features and Ports
	// are filled in. s.Reconnect() tells whether this datapath was seen
	// before.
	Connected(s *Session)
	// Message is called for every asynchronous message (PACKET_IN,
	// FLOW_REMOVED, PORT_STATUS, unsolicited ERROR, EXPERIMENTER, ...)
	// in the order the switch sent them. m aliases the read buffer: it is
	// valid only during the call. Replies to Request, echoes and HELLO are
	// handled by the session and not passed on.
	Message(s *Session, xid uint32, m ofp.Message)
	// Disconnected is called once after the session's reader and writer
	// have stopped; err says why.
	Disconnected(s *Session, err error)
}

// RefusalHandler is an optional interface of a Handler: Refused is called,
// on the refused connection's reader goroutine, for every switch refused
// after its handshake (see RefusedError), after the refusal was logged and
// the OFPT_ERROR queued. Such a switch never reaches Connected.
type RefusalHandler interface {
	Refused(remote net.Addr, err *RefusedError)
}

// ServerStats counts events over the server's life.
type ServerStats struct {
	Accepted          uint64 // TCP connections accepted
	TLSFailures       uint64 // connections refused in the TLS handshake
	HandshakeFailures uint64 // OpenFlow handshakes that failed (incompatible version, timeout, ...)
	Connected         uint64 // sessions that completed the handshake
	Reconnects        uint64 // of those, datapaths seen before
	ProtocolErrors    uint64 // sessions closed for a malformed message
	Panics            uint64 // sessions closed after a recovered panic
	Refused           uint64 // switches refused after the handshake (RefusedError)
	Active            int    // sessions currently connected
}

// Server accepts switch connections and runs one Session per switch.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger

	mu        sync.Mutex
	ln        net.Listener
	sessions  map[uint64]*Session      // connected sessions by DPID
	claims    map[uint64]chan struct{} // DPIDs whose holder is being probed; closed when settled
	conns     map[*Session]struct{}
	seen      map[uint64]struct{}
	seenOrder []uint64 // ring of seen DPIDs, oldest at seenHead
	seenHead  int
	closed    bool

	wg sync.WaitGroup // one per connection goroutine

	accepted, tlsFailures, hsFailures, connected, reconnects, protoErrors, panics, refused atomic.Uint64
}

// NewServer returns a server for cfg (zero fields take defaults) that
// reports to h and logs to log (nil: slog.Default()).
func NewServer(cfg Config, h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		cfg:      cfg.withDefaults(),
		handler:  h,
		log:      log,
		sessions: make(map[uint64]*Session),
		claims:   make(map[uint64]chan struct{}),
		conns:    make(map[*Session]struct{}),
		seen:     make(map[uint64]struct{}),
	}
}

// Listen binds the listener without serving yet, so that Addr is known
// before ListenAndServe runs (tests listen on ":0"). Calling it again is a
// no-op.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.closed {
		return ErrServerClosed
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ofconn: listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr is the listening address, or nil before Listen / ListenAndServe has
// bound it.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// ListenAndServe listens (unless Listen was called) and serves switches
// until ctx is done; then it closes the listener and every session, waits
// for their goroutines and handler calls to end, and returns nil. It
// returns an error only if it cannot listen or accept.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	s.log.Info("listening for switches", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil)

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var acceptErr error
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				acceptErr = fmt.Errorf("ofconn: accept: %w", err)
				break
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err.Error(), "in", delay.String())
			select {
			case <-time.After(delay):
				continue
			case <-ctx.Done():
			}
			break
		}
		delay = 0
		s.accepted.Add(1)
		sess := s.track(c)
		if sess == nil {
			continue
		}
		go func() {
			defer s.wg.Done()
			sess.serve(ctx)
		}()
	}

	s.mu.Lock()
	s.closed = true
	all := make([]*Session, 0, len(s.conns))
	for sess := range s.conns {
		all = append(all, sess)
	}
	s.mu.Unlock()
	ln.Close()
	for _, sess := range all {
		sess.Close(ErrServerClosed)
	}
	s.wg.Wait()
	s.log.Info("stopped listening for switches", "addr", ln.Addr().String())
	return acceptErr
}

// track makes a session for c, counted in s.wg, or returns nil (and
// closes c) when the server is closed.
func (s *Server) track(c net.Conn) *Session {
	sess := s.newSession(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil
	}
	s.conns[sess] = struct{}{}
	s.wg.Add(1)
	return sess
}

// ServeConn runs a session on an established connection (TLS is applied
// if configured) and returns when the session has ended, Disconnected
// included. Cancelling ctx closes the session. ListenAndServe uses the same
// path for every accepted connection; ServeConn serves other transports
// and tests (net.Pipe).
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sess := s.track(c)
	if sess == nil {
		return
	}
	defer s.wg.Done()
	stop := context.AfterFunc(ctx, func() { sess.Close(ErrServerClosed) })
	defer stop()
	sess.serve(ctx)
}

// Sessions returns the connected sessions (handshake done), by DPID.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	out := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Session) int {
		switch {
		case a.dpid < b.dpid:
			return -1
		case a.dpid > b.dpid:
			return 1
		}
		return 0
	})
	return out
}

// Session returns the connected session of datapath dpid, or nil.
func (s *Server) Session(dpid uint64) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[dpid]
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	active := len(s.sessions)
	s.mu.Unlock()
	return ServerStats{
		Accepted:          s.accepted.Load(),
		TLSFailures:       s.tlsFailures.Load(),
		HandshakeFailures: s.hsFailures.Load(),
		Connected:         s.connected.Load(),
		Reconnects:        s.reconnects.Load(),
		ProtocolErrors:    s.protoErrors.Load(),
		Panics:            s.panics.Load(),
		Refused:           s.refused.Load(),
		Active:            active,
	}
}

// admit makes sess the session of its DPID, unless a live session holds
// that DPID. It returns whether the DPID was seen before.
//
// A session holding the DPID is probed with an ECHO_REQUEST (bounded by
// Config.ProbeTimeout): if it answers, sess is refused with a RefusedError
// (ErrDPIDInUse); if not, it is closed with ErrReplaced and its
// Disconnected returns (bounded by HandshakeTimeout) before sess takes the
// DPID. Claims on one DPID are settled one at a time: a claim that arrives
// while another is being probed waits for the outcome (at most
// HandshakeTimeout, then it is refused), so that two claimants never both
// replace the holder. Called on sess's reader goroutine.
func (s *Server) admit(ctx context.Context, sess *Session) (seen bool, err error) {
	dpid := sess.dpid
	inLine := time.NewTimer(s.cfg.HandshakeTimeout)
	defer inLine.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false, ErrServerClosed
		}
		if settled, busy := s.claims[dpid]; busy {
			s.mu.Unlock()
			select {
			case <-settled:
				continue
			case <-ctx.Done():
				return false, ErrServerClosed
			case <-sess.done:
				return false, sess.closeErr
			case <-inLine.C:
				return false, &RefusedError{DPID: dpid, Reason: RefusedDPIDInUse,
					Err: fmt.Errorf("%w (another claim on it is still being settled)", ErrDPIDInUse)}
			}
		}
		old := s.sessions[dpid]
		if old == nil {
			seen = s.take(sess, false)
			s.mu.Unlock()
			return seen, nil
		}
		settled := make(chan struct{})
		s.claims[dpid] = settled
		s.mu.Unlock()

		alive := old.probe(ctx, s.cfg.ProbeTimeout)
		if !alive && ctx.Err() == nil {
			sess.log.Info("datapath connected again and its old session does not answer echo; closing the old session",
				"old_remote", old.remote.String())
			old.Close(ErrReplaced)
			// Let the old session's Disconnected finish before our Connected.
			select {
			case <-old.finished:
			case <-ctx.Done():
			case <-time.After(s.cfg.HandshakeTimeout):
				sess.log.Warn("old session of the datapath did not finish in time", "old_remote", old.remote.String())
			}
		}
		s.mu.Lock()
		delete(s.claims, dpid)
		close(settled)
		switch {
		case s.closed || ctx.Err() != nil:
			err = ErrServerClosed
		case alive:
			err = &RefusedError{DPID: dpid, Reason: RefusedDPIDInUse, Err: ErrDPIDInUse}
		default:
			seen = s.take(sess, true)
		}
		s.mu.Unlock()
		if re, ok := err.(*RefusedError); ok {
			re.HeldBy = old.remote
		}
		return seen, err
	}
}

// take makes sess the session of its DPID and returns whether the DPID
// was seen before (replaced: it had a session). Must hold s.mu.
func (s *Server) take(sess *Session, replaced bool) bool {
	s.sessions[sess.dpid] = sess
	_, seen := s.seen[sess.dpid]
	if !seen {
		s.remember(sess.dpid)
	}
	return seen || replaced
}

// remember adds dpid to the bounded set of seen datapaths. Must hold s.mu.
func (s *Server) remember(dpid uint64) {
	if len(s.seenOrder) < s.cfg.SeenDPIDs {
		s.seenOrder = append(s.seenOrder, dpid)
	} else {
		delete(s.seen, s.seenOrder[s.seenHead])
		s.seenOrder[s.seenHead] = dpid
		s.seenHead = (s.seenHead + 1) % len(s.seenOrder)
	}
	s.seen[dpid] = struct{}{}
}

// unregister forgets sess, as the session of its DPID (if it still is)
// and as a connection.
func (s *Server) unregister(sess *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.dpid] == sess {
		delete(s.sessions, sess.dpid)
	}
	delete(s.conns, sess)
}

// wrapTLS runs the TLS handshake of c (if TLS is configured) within
// the handshake timeout.
func (s *Server) wrapTLS(ctx context.Context, c net.Conn) (net.Conn, error) {
	if s.cfg.TLS == nil {
		return c, nil
	}
	tc := tls.Server(c, s.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, err
	}
	return tc, nil
}
