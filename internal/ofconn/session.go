package ofconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"portcullis/internal/dpid"
	"portcullis/ofp"
)

const (
	// maxQueueBytes bounds the encoded bytes waiting in a write queue, on
	// top of the message count.
	maxQueueBytes = 16 << 20
	// maxReplyBytes bounds the parts of one multipart reply kept for
	// reassembly (a flow dump of ~500k flows), so that a switch cannot
	// grow our memory without end by never clearing the MORE flag.
	maxReplyBytes = 64 << 20
	// keepWriteBuf is the largest write buffer a session keeps whatever
	// its use; a larger one is kept while batches fill a quarter of it.
	keepWriteBuf = 16 << 10
	// flushBytes is how much the reader lets the queue hold, while more
	// messages are buffered, before it flushes anyway.
	flushBytes = 32 << 10
	// flushTimeout bounds the last write of a session being closed with an
	// OFPT_ERROR.
	flushTimeout = 2 * time.Second
	// errDataLen is how much of an offending message an OFPT_ERROR carries
	// (OpenFlow 1.3.5 section 7.4.4: "at least 64 bytes").
	errDataLen = 64
)

// Session is one switch connection. Its methods are safe for concurrent use.
type Session struct {
	srv    *Server
	cfg    *Config
	raw    net.Conn // the accepted connection; Close closes it
	conn   net.Conn // raw, or TLS over raw; set before the writer starts
	br     *reader  // over conn, owned by the reader; grows on demand (reader.go)
	remote net.Addr
	log    *slog.Logger

	// Set by the reader during the handshake, read-only once Connected.
	dpid        uint64
	features    ofp.FeaturesReply
	connectedAt time.Time
	reconnect   bool
	established atomic.Bool

	xid atomic.Uint32

	attached atomic.Pointer[any] // the handler's value (Attach)

	mu       sync.Mutex // guards ports and pending
	ports    []ofp.Port
	pending  map[uint32]*pendingReq
	npending atomic.Int32 // len(pending), read without mu on the hot path

	wmu       sync.Mutex // guards the write queue: wbuf, wn, writing, wclosed, wclosing, wcloseErr
	wbuf      []byte     // encoded messages waiting for the writer
	wn        int        // messages in wbuf
	writing   bool       // a batch taken from wbuf is being written (by the writer or the reader)
	wclosed   bool
	wclosing  bool // flush what is queued, then close with wcloseErr
	wcloseErr error
	wake      chan struct{} // cap 1: wakes the writer

	// The reader flushes the queue itself after the messages it has
	// buffered are handled (see flush): a packet-in's flow-mods then leave
	// without a hop to the writer goroutine. While it handles them,
	// holding is set and Send leaves the writer asleep.
	holding atomic.Bool
	direct  bool            // plain TCP: the reader may write (set before the reader loop)
	rc      syscall.RawConn // plain TCP: the socket, for rawio.go (set before the reader loop)
	inRaw   atomic.Bool     // the reader is inside serveRaw's RawConn.Read call (Close)
	shut    atomic.Bool     // Close ran: the reader stops (rawStep)
	rspare  []byte          // the reader's write buffer, owned by the reader

	done       chan struct{} // closed by Close
	closeOnce  sync.Once
	closeErr   error         // why; written before done is closed
	writerDone chan struct{} // the writer goroutine has returned
	finished   chan struct{} // serve has returned (Disconnected too)

	rbuf []byte       // reused read buffer, owned by the reader
	pin  ofp.PacketIn // every packet-in is decoded into it (dispatch), owned by the reader
	rr   *rawReader   // plain TCP: the reader's socket reads
	rw   *rawWriter   // plain TCP: the reader's socket writes (flush)

	rx, tx, batches, drops, dropped, echoes atomic.Uint64
}

type pendingReq struct {
	ch    chan result // cap 1
	parts []*ofp.MultipartReply
	size  int // bytes of parts
}

type result struct {
	m   ofp.Message
	err error
}

// Stats counts a session's traffic.
type Stats struct {
	RxMessages uint64 // messages read
	TxMessages uint64 // messages handed to the socket
	TxBatches  uint64 // Write calls (each drains the whole queue)
	QueueDrops uint64 // messages refused by Send with ErrQueueFull
	Dropped    uint64 // messages read before the handshake finished and not handled
	EchoesSent uint64 // keepalive ECHO_REQUESTs we sent
	QueueLen   int    // messages waiting in the write queue now
}

func (s *Server) newSession(c net.Conn) *Session {
	sess := &Session{
		srv:        s,
		cfg:        &s.cfg,
		raw:        c,
		conn:       c,
		remote:     c.RemoteAddr(),
		pending:    make(map[uint32]*pendingReq),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		finished:   make(chan struct{}),
		rbuf:       make([]byte, 0, 1024),
	}
	sess.log = s.log.With("remote", sess.remote.String())
	return sess
}

// Attach stores v with the session for its handler (its per-switch
// state), so that the handler finds it on every message without a lookup
// under a lock shared by all sessions. Attach(nil) clears it. Safe for
// concurrent use.
func (s *Session) Attach(v any) { s.attached.Store(&v) }

// Attached returns the value of the last Attach, or nil.
func (s *Session) Attached() any {
	if p := s.attached.Load(); p != nil {
		return *p
	}
	return nil
}

// DPID is the switch's datapath id (from FEATURES_REPLY).
func (s *Session) DPID() uint64 { return s.dpid }

// RemoteAddr is the switch's address.
func (s *Session) RemoteAddr() net.Addr { return s.remote }

// ConnectedAt is when the handshake finished.
func (s *Session) ConnectedAt() time.Time { return s.connectedAt }

// Features is the switch's FEATURES_REPLY.
func (s *Session) Features() ofp.FeaturesReply { return s.features }

// Reconnect reports whether this datapath had connected to this server
// before (the server remembers Config.SeenDPIDs datapaths).
func (s *Session) Reconnect() bool { return s.reconnect }

// Logger is the session's logger, with "remote" and "dpid" attributes.
func (s *Session) Logger() *slog.Logger { return s.log }

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session was closed, or nil while it is open.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.closeErr
	default:
		return nil
	}
}

// Ports returns a copy of the switch's ports: the PORT_DESC reply of the
// handshake, kept current from PORT_STATUS messages.
func (s *Session) Ports() []ofp.Port {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ports)
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.wmu.Lock()
	qlen := s.wn
	s.wmu.Unlock()
	return Stats{
		RxMessages: s.rx.Load(),
		TxMessages: s.tx.Load(),
		TxBatches:  s.batches.Load(),
		QueueDrops: s.drops.Load(),
		Dropped:    s.dropped.Load(),
		EchoesSent: s.echoes.Load(),
		QueueLen:   qlen,
	}
}

// nextXID returns a fresh transaction id; never 0, which switches use for
// asynchronous messages.
func (s *Session) nextXID() uint32 {
	for {
		if x := s.xid.Add(1); x != 0 {
			return x
		}
	}
}

// Send queues msgs for the writer, each with a fresh xid, and returns at
// once. The messages are encoded before Send returns, so they may alias
// buffers the caller reuses (such as a packet-in's data). Either all msgs
// are queued or none: ErrQueueFull when the queue cannot take them all,
// ErrClosed on a closed session.
func (s *Session) Send(msgs ...ofp.Message) error {
	_, err := s.send(msgs, false)
	return err
}

// send queues msgs and returns the xid of the last one. force ignores the
// queue bounds (for the last OFPT_ERROR of a session).
func (s *Session) send(msgs []ofp.Message, force bool) (uint32, error) {
	n := 0
	for _, m := range msgs {
		l := m.Len()
		if l > ofp.MaxLen {
			return 0, fmt.Errorf("ofconn: %v of %d bytes exceeds the 65535-byte limit", m.Type(), l)
		}
		n += l
	}
	s.wmu.Lock()
	if s.wclosed || s.wclosing {
		s.wmu.Unlock()
		return 0, ErrClosed
	}
	if !force && (s.wn+len(msgs) > s.cfg.WriteQueue || len(s.wbuf)+n > maxQueueBytes) {
		s.wmu.Unlock()
		s.drops.Add(uint64(len(msgs)))
		return 0, ErrQueueFull
	}
	var xid uint32
	for _, m := range msgs {
		xid = s.nextXID()
		s.wbuf = ofp.Append(s.wbuf, xid, m)
	}
	s.wn += len(msgs)
	s.wmu.Unlock()
	s.wakeWriter()
	return xid, nil
}

// sendXID queues messages with given xids (replies and handshake).
func (s *Session) sendXID(out []outMsg, force bool) error {
	s.wmu.Lock()
	if s.wclosed || s.wclosing {
		s.wmu.Unlock()
		return ErrClosed
	}
	if !force && (s.wn+len(out) > s.cfg.WriteQueue || len(s.wbuf) > maxQueueBytes) {
		s.wmu.Unlock()
		s.drops.Add(uint64(len(out)))
		return ErrQueueFull
	}
	for _, o := range out {
		s.wbuf = ofp.Append(s.wbuf, o.xid, o.m)
	}
	s.wn += len(out)
	s.wmu.Unlock()
	s.wakeWriter()
	return nil
}

// wakeWriter wakes the writer for what was just queued, unless the reader
// is handling messages and will flush the queue when done.
func (s *Session) wakeWriter() {
	if !s.holding.Load() {
		s.kick()
	}
}

func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// closeAfter queues out (if any), then has the writer flush the queue and
// close the session with err.
func (s *Session) closeAfter(err error, out []outMsg) {
	s.wmu.Lock()
	if s.wclosed || s.wclosing {
		s.wmu.Unlock()
		return
	}
	for _, o := range out {
		s.wbuf = ofp.Append(s.wbuf, o.xid, o.m)
	}
	s.wn += len(out)
	s.wclosing = true
	s.wcloseErr = err
	s.wmu.Unlock()
	s.kick()
}

// Request sends m and waits for the switch's reply with the same xid: a
// multipart reply is returned reassembled (ofp.MergeMultipart), an
// OFPT_ERROR reply is returned as the error (*ofp.Error). It returns early
// when ctx is done or the session closes. The reply does not alias any
// buffer of the session. Do not call it from Handler.Message.
func (s *Session) Request(ctx context.Context, m ofp.Message) (ofp.Message, error) {
	return s.request(ctx, m, false)
}

// request is Request; force ignores the write queue's bounds.
func (s *Session) request(ctx context.Context, m ofp.Message, force bool) (ofp.Message, error) {
	p := &pendingReq{ch: make(chan result, 1)}
	// The xid is registered before the request is queued, so that the
	// reply cannot arrive first; send allocates the xid, so reserve it.
	s.wmu.Lock()
	if s.wclosed || s.wclosing {
		s.wmu.Unlock()
		return nil, ErrClosed
	}
	s.wmu.Unlock()
	xid := s.nextXID()
	s.mu.Lock()
	s.pending[xid] = p
	s.npending.Store(int32(len(s.pending)))
	s.mu.Unlock()
	defer s.forget(xid)

	if err := s.sendXID([]outMsg{{xid, m}}, force); err != nil {
		return nil, err
	}
	select {
	case r := <-p.ch:
		return r.m, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("ofconn: %v xid %d: %w", m.Type(), xid, ctx.Err())
	case <-s.done:
		return nil, fmt.Errorf("%w: %w", ErrClosed, s.closeErr)
	}
}

func (s *Session) forget(xid uint32) {
	s.mu.Lock()
	delete(s.pending, xid)
	s.npending.Store(int32(len(s.pending)))
	s.mu.Unlock()
}

// probe reports whether the switch is alive: it answers an ECHO_REQUEST
// within d, or at least sends us something meanwhile (a connection cut off
// without a FIN or RST brings nothing). The echo is queued past the queue's
// bounds: a switch that is slow to drain a full queue is late, not dead.
func (s *Session) probe(ctx context.Context, d time.Duration) bool {
	rx := s.rx.Load()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	r, err := s.request(ctx, &ofp.EchoRequest{Data: []byte("portcullis: datapath id claimed")}, true)
	if oe := (*ofp.Error)(nil); errors.As(err, &oe) {
		return true // an OFPT_ERROR answer is an answer
	}
	if err != nil {
		return s.Err() == nil && s.rx.Load() != rx
	}
	_, ok := r.(*ofp.EchoReply)
	return ok
}

// Barrier sends a BARRIER_REQUEST and waits for its reply: every message
// queued before it has then been processed by the switch.
func (s *Session) Barrier(ctx context.Context) error {
	r, err := s.Request(ctx, &ofp.BarrierRequest{})
	if err != nil {
		return err
	}
	if _, ok := r.(*ofp.BarrierReply); !ok {
		return fmt.Errorf("%w: %v to OFPT_BARRIER_REQUEST", ErrUnexpectedReply, r.Type())
	}
	return nil
}

// Close closes the session with err as the reason (nil: ErrClosed). It
// does not wait for the handler's Disconnected call; Done is closed at
// once. Closing a closed session does nothing.
func (s *Session) Close(err error) {
	s.closeOnce.Do(func() {
		if err == nil {
			err = ErrClosed
		}
		s.closeErr = err
		s.wmu.Lock()
		s.wclosed = true
		s.wmu.Unlock()
		s.shut.Store(true)
		close(s.done)
		if s.inRaw.Load() {
			// The reader is inside its RawConn.Read call (serveRaw), maybe on
			// this very goroutine (a handler or the reader's own write closing
			// the session): closing the descriptor would wait for that call to
			// end. Shut the socket down instead; the reader sees the end and
			// serve closes the descriptor once the call is over.
			s.rc.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
			return
		}
		s.raw.Close()
	})
}

// serve runs the session: TLS handshake, writer goroutine, the reader loop
// on this goroutine, and the handler's Disconnected at the end.
func (s *Session) serve(ctx context.Context) {
	defer close(s.finished)
	defer s.srv.unregister(s)

	conn, err := s.srv.wrapTLS(ctx, s.raw)
	if err != nil && s.Err() != nil {
		close(s.writerDone) // closed by us (server stopping) during TLS
		return
	}
	if err != nil {
		s.log.Warn("switch refused: TLS handshake failed", "reason", err.Error())
		s.srv.tlsFailures.Add(1)
		s.Close(&HandshakeError{Stage: "tls", Err: err})
		close(s.writerDone)
		return
	}
	s.conn = conn
	s.br = newReader(conn)
	if tc, ok := conn.(*net.TCPConn); ok { // not TLS: a partial write can be resumed
		if rc, err := tc.SyscallConn(); err == nil {
			s.rc, s.direct = rc, true
			s.rr, s.rw = newRawReader(rc), newRawWriter(rc)
			s.rr.step = s.rawStep
			s.br = newReader(s.rr)
		}
	}

	go s.writer()
	err = s.run(ctx)
	s.wmu.Lock()
	closing := s.wclosing
	s.wmu.Unlock()
	if closing {
		<-s.writerDone // the writer flushes, then closes
	}
	s.Close(err)
	s.raw.Close() // if Close only shut it down (inRaw)
	<-s.writerDone

	s.failPending()
	if s.established.Load() {
		s.srv.unregister(s)
		s.log.Info("switch disconnected", "reason", s.closeErr.Error(), "rx", s.rx.Load(), "tx", s.tx.Load())
		s.disconnected()
	}
}

// disconnected calls Handler.Disconnected; a panic in it is recovered like
// one in the reader, to protect the process.
func (s *Session) disconnected() {
	defer func() {
		if r := recover(); r != nil {
			s.srv.panics.Add(1)
			s.log.Error("panic in Disconnected handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	s.srv.handler.Disconnected(s, s.closeErr)
}

// failPending completes every pending request with the close reason.
func (s *Session) failPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for xid, p := range s.pending {
		select {
		case p.ch <- result{err: fmt.Errorf("%w: %w", ErrClosed, s.closeErr)}:
		default:
		}
		delete(s.pending, xid)
	}
	s.npending.Store(0)
}

// run is the reader: the handshake, then the message loop. It returns why
// the session ends. A panic anywhere below is recovered, counted and logged:
// it closes this session only.
func (s *Session) run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.panics.Add(1)
			s.log.Error("panic in switch session; closing it", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &PanicError{Value: r}
		}
	}()
	if err := s.handshake(ctx); err != nil {
		return err
	}
	defer s.holding.Store(false)
	if s.rr != nil {
		return s.serveRaw()
	}
	for {
		h, raw, err := s.readMessage()
		if err != nil {
			return err
		}
		s.rx.Add(1)
		s.holding.Store(true)
		if err := s.dispatch(h, raw); err != nil {
			return err
		}
		// Batch the answers to what is buffered already; flush before the
		// next read could block.
		if !s.br.hasMessage() || s.queued() >= flushBytes {
			s.holding.Store(false)
			s.flush()
		}
	}
}

// queued is the number of bytes waiting in the write queue.
func (s *Session) queued() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return len(s.wbuf)
}

// flush writes the queue from the reader goroutine when no batch is being
// written (otherwise the writer takes it after that batch). The write
// never waits for the socket (rawWrite): what the socket did not take goes
// back to the head of the queue for the writer, so that a switch slow to
// read never holds up its reader, and order is kept. On TLS connections
// (a partial TLS write cannot be resumed) the writer does all writing.
func (s *Session) flush() {
	s.wmu.Lock()
	if len(s.wbuf) == 0 {
		s.wmu.Unlock()
		return
	}
	if !s.direct || s.writing || s.wclosed || s.wclosing {
		s.wmu.Unlock()
		s.kick()
		return
	}
	buf := s.wbuf
	s.wbuf = s.rspare[:0]
	n := s.wn
	s.wn = 0
	s.writing = true
	s.wmu.Unlock()

	s.tx.Add(uint64(n))
	s.batches.Add(1)
	w, err := s.rw.write(buf)
	var rest []byte
	if err != nil {
		s.Close(fmt.Errorf("ofconn: write: %w", err))
	} else if w < len(buf) {
		rest = buf[w:]
	}
	s.wmu.Lock()
	if len(rest) > 0 {
		s.wbuf = append(slices.Clip(rest), s.wbuf...)
	}
	s.writing = false
	again := len(s.wbuf) > 0 || s.wclosing
	s.wmu.Unlock()
	if again {
		s.kick()
	}
	if len(rest) > 0 || cap(buf) > keepWriteBuf && len(buf) < cap(buf)/4 {
		buf = nil // rest is in the queue now; or a burst's buffer
	}
	s.rspare = buf[:0]
}

// handshake runs the handshake state machine within HandshakeTimeout.
func (s *Session) handshake(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	s.conn.SetReadDeadline(deadline)
	hs := handshake{
		missSendLen: s.cfg.MissSendLen,
		featuresXID: s.nextXID(),
		portsXID:    s.nextXID(),
	}
	if err := s.sendXID(hs.start(s.nextXID()), true); err != nil {
		return err
	}
	kept := 0 // bytes of replies kept for reassembly
	for !hs.done() {
		h, raw, err := s.readMessage()
		if err != nil {
			if s.Err() != nil {
				return err // closed by us (server stopping): not the switch's failure
			}
			s.srv.hsFailures.Add(1)
			if isTimeout(err) {
				err = &HandshakeError{Stage: hs.stage(), Err: fmt.Errorf("no answer within %v", s.cfg.HandshakeTimeout)}
			}
			s.log.Warn("switch handshake failed", "reason", err.Error())
			return err
		}
		s.rx.Add(1)
		if hs.owns(h.Xid) {
			// Replies kept across reads: decode a copy of the bytes.
			raw = slices.Clone(raw)
			if kept += len(raw); kept > maxReplyBytes {
				s.srv.hsFailures.Add(1)
				err := &HandshakeError{Stage: hs.stage(), Err: fmt.Errorf("%w: more than %d bytes", ErrReplyTooLarge, maxReplyBytes)}
				s.log.Warn("switch handshake failed", "reason", err.Error())
				return err
			}
		}
		_, m, err := ofp.Unmarshal(raw)
		if err != nil {
			s.srv.hsFailures.Add(1)
			return s.protocolError(h, raw, err)
		}
		if er, ok := m.(*ofp.EchoRequest); ok {
			s.sendXID([]outMsg{{h.Xid, &ofp.EchoReply{Data: er.Data}}}, false)
			continue
		}
		out, consumed, err := hs.input(h, m)
		if err != nil {
			s.srv.hsFailures.Add(1)
			if errors.Is(err, ErrIncompatible) {
				s.log.Warn("switch refused: it cannot speak OpenFlow 1.3; sent OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE",
					"reason", err.Error())
			} else {
				s.log.Warn("switch handshake failed", "reason", err.Error())
			}
			s.closeAfter(err, out)
			return err
		}
		if len(out) > 0 {
			if err := s.sendXID(out, true); err != nil {
				return err
			}
		}
		if !consumed {
			s.dropped.Add(1)
		}
	}
	s.conn.SetReadDeadline(time.Time{})

	s.dpid = hs.features.DatapathID
	s.features = hs.features
	s.mu.Lock()
	s.ports = hs.ports
	s.mu.Unlock()
	s.log = s.log.With("dpid", FormatDPID(s.dpid))

	if err := s.checkIdentity(); err != nil {
		return s.refuse(hs.featuresXID, err)
	}
	seen, err := s.srv.admit(ctx, s)
	if err != nil {
		if re, ok := err.(*RefusedError); ok {
			return s.refuse(hs.featuresXID, re)
		}
		return err
	}
	s.reconnect = seen
	s.connectedAt = time.Now()
	s.established.Store(true)
	s.srv.connected.Add(1)
	if seen {
		s.srv.reconnects.Add(1)
	}
	s.log.Info("switch connected", "reconnect", seen, "ports", len(hs.ports),
		"tables", hs.features.NTables)
	s.srv.handler.Connected(s)
	return nil
}

func (hs *handshake) stage() string {
	if hs.state == hsHello {
		return "hello"
	}
	if !hs.haveFeatures {
		return "features"
	}
	return "ports"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readMessage reads one message into the reused read buffer. The framing
// checks (version, length) answer with an OFPT_ERROR and end the session.
func (s *Session) readMessage() (ofp.Header, []byte, error) {
	hdr := s.rbuf[:ofp.HeaderLen]
	if _, err := io.ReadFull(s.br, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ofp.Header{}, nil, fmt.Errorf("ofconn: truncated header: %w", err)
		}
		return ofp.Header{}, nil, fmt.Errorf("ofconn: read: %w", err)
	}
	h, err := s.checkHeader(hdr)
	if err != nil {
		return h, nil, err
	}
	n := int(h.Length)
	if cap(s.rbuf) < n {
		nb := make([]byte, n, min(max(n, 2*cap(s.rbuf)), s.cfg.MaxMessageLen))
		copy(nb, hdr)
		s.rbuf = nb[:0]
	}
	b := s.rbuf[:n]
	if _, err := io.ReadFull(s.br, b[ofp.HeaderLen:]); err != nil {
		return h, nil, fmt.Errorf("ofconn: %v body of %d bytes: %w", h.Type, n, err)
	}
	return h, b, nil
}

// checkHeader parses a message's header and applies the framing checks
// (version, length); a message that fails them gets its protocolError.
// hdr must be the header just consumed from s.br (protocolError adds what
// follows it there).
func (s *Session) checkHeader(hdr []byte) (ofp.Header, error) {
	h, err := ofp.ParseHeader(hdr)
	if err != nil {
		return h, s.protocolError(h, hdr, err)
	}
	if h.Version != ofp.Version && h.Type != ofp.TypeHello {
		return h, s.protocolError(h, hdr, &ofp.DecodeError{ErrType: ofp.ErrTypeBadRequest,
			Code: ofp.BadRequestBadVersion, Reason: fmt.Sprintf("version 0x%02x, want 0x%02x", h.Version, ofp.Version)})
	}
	if int(h.Length) > s.cfg.MaxMessageLen {
		return h, s.protocolError(h, hdr, &ofp.DecodeError{ErrType: ofp.ErrTypeBadRequest,
			Code: ofp.BadRequestBadLen, Reason: fmt.Sprintf("length %d exceeds %d", h.Length, s.cfg.MaxMessageLen)})
	}
	return h, nil
}

// nextBuffered returns the next whole message in the read buffer and
// consumes it; raw is nil when no whole message is buffered. raw aliases
// the buffer until the next read (room). It applies checkHeader.
func (s *Session) nextBuffered() (ofp.Header, []byte, error) {
	b := s.br
	if b.Buffered() < ofp.HeaderLen {
		return ofp.Header{}, nil, nil
	}
	start := b.r
	b.r += ofp.HeaderLen // consumed, as readMessage consumes it: protocolError adds what follows
	h, err := s.checkHeader(b.buf[start:b.r])
	if err != nil {
		return h, nil, err
	}
	if end := start + int(h.Length); end <= b.w {
		b.r = end
		return h, b.buf[start:end], nil
	}
	b.r = start // not whole yet
	return h, nil, nil
}

// drain handles every whole message in the read buffer and writes the
// answers (serveRaw's loop body: what run's loop does per message).
func (s *Session) drain() error {
	for {
		h, raw, err := s.nextBuffered()
		if err != nil {
			return err
		}
		if raw == nil {
			break
		}
		s.rx.Add(1)
		s.holding.Store(true)
		if err := s.dispatch(h, raw); err != nil {
			return err
		}
		if s.queued() >= flushBytes {
			s.holding.Store(false)
			s.flush()
		}
	}
	s.holding.Store(false)
	s.flush()
	return nil
}

// eofError is why a session ends when the switch closed its side, worded
// as readMessage words it.
func (s *Session) eofError() error {
	b := s.br
	switch n := b.Buffered(); {
	case n == 0:
		return fmt.Errorf("ofconn: read: %w", io.EOF)
	case n < ofp.HeaderLen:
		return fmt.Errorf("ofconn: truncated header: %w", io.ErrUnexpectedEOF)
	default:
		h, _ := ofp.ParseHeader(b.buf[b.r : b.r+ofp.HeaderLen])
		err := io.ErrUnexpectedEOF
		if n == ofp.HeaderLen {
			err = io.EOF // as io.ReadFull says of a body of which nothing came
		}
		return fmt.Errorf("ofconn: %v body of %d bytes: %w", h.Type, h.Length, err)
	}
}

// protocolError answers a message that breaks the protocol: an OFPT_ERROR
// with the type and code of its decode error and the first 64 bytes of the
// message (for a bad header: the header and what is already buffered), a
// log line, and the end of the session. It returns the session's error.
func (s *Session) protocolError(h ofp.Header, raw []byte, err error) error {
	data := raw
	if len(raw) == ofp.HeaderLen && s.br != nil {
		// Only the header was read: add what is buffered of the body,
		// without blocking.
		want := min(s.br.Buffered(), errDataLen-ofp.HeaderLen, max(int(h.Length)-ofp.HeaderLen, 0))
		more, _ := s.br.Peek(want)
		data = append(slices.Clone(raw), more...)
	}
	if len(data) > errDataLen {
		data = data[:errDataLen]
	}
	var de *ofp.DecodeError
	if !errors.As(err, &de) {
		de = &ofp.DecodeError{ErrType: ofp.ErrTypeBadRequest, Code: ofp.BadRequestBadLen, Reason: err.Error()}
	}
	pe := &ProtocolError{ErrType: de.ErrType, Code: de.Code, Reason: de.Reason, Err: err}
	s.srv.protoErrors.Add(1)
	s.log.Warn("malformed message from switch; closing its session",
		"type", h.Type.String(), "xid", h.Xid, "reason", de.Reason,
		"error", ofp.ErrorCodeString(de.ErrType, de.Code))
	s.closeAfter(pe, []outMsg{{h.Xid, de.AsError(data)}})
	return pe
}

// isReply reports whether messages of type t answer a request.
func isReply(t ofp.Type) bool {
	switch t {
	case ofp.TypeError, ofp.TypeEchoReply, ofp.TypeExperimenter, ofp.TypeFeaturesReply,
		ofp.TypeGetConfigReply, ofp.TypeMultipartReply, ofp.TypeBarrierReply,
		ofp.TypeQueueGetConfigReply, ofp.TypeRoleReply, ofp.TypeGetAsyncReply:
		return true
	}
	return false
}

// dispatch handles one message after the handshake: echo, replies to
// pending requests, then the handler.
func (s *Session) dispatch(h ofp.Header, raw []byte) error {
	if s.npending.Load() > 0 && isReply(h.Type) {
		s.mu.Lock()
		p := s.pending[h.Xid]
		s.mu.Unlock()
		if p != nil {
			return s.reply(h, p, raw)
		}
	}
	if h.Type == ofp.TypePacketIn {
		// The hot path: decoded into the session's PacketIn, which the
		// handler may not keep past the call (Handler.Message), so that
		// no packet-in allocates.
		if _, err := ofp.UnmarshalPacketIn(raw, &s.pin); err != nil {
			return s.protocolError(h, raw, err)
		}
		s.srv.handler.Message(s, h.Xid, &s.pin)
		return nil
	}
	_, m, err := ofp.Unmarshal(raw)
	if err != nil {
		return s.protocolError(h, raw, err)
	}
	switch m := m.(type) {
	case *ofp.EchoRequest:
		// Echo replies copy the request's xid and data (sendXID encodes
		// now: aliasing the read buffer is fine).
		s.sendXID([]outMsg{{h.Xid, &ofp.EchoReply{Data: m.Data}}}, false)
		return nil
	case *ofp.EchoReply, *ofp.Hello:
		// Keepalive answers count as traffic; a late HELLO is ignored.
		return nil
	case *ofp.PortStatus:
		s.portStatus(m)
	}
	s.srv.handler.Message(s, h.Xid, m)
	return nil
}

// reply completes pending request p with the message in raw, decoded from
// a copy so that it outlives the read buffer.
func (s *Session) reply(h ofp.Header, p *pendingReq, raw []byte) error {
	cp := slices.Clone(raw)
	_, m, err := ofp.Unmarshal(cp)
	if err != nil {
		return s.protocolError(h, raw, err)
	}
	var r result
	switch m := m.(type) {
	case *ofp.Error:
		r = result{m: m, err: m}
	case *ofp.MultipartReply:
		p.parts = append(p.parts, m)
		p.size += len(cp)
		if m.More() && p.size <= maxReplyBytes {
			return nil
		}
		if m.More() {
			r = result{err: fmt.Errorf("%w: multipart reply exceeds %d bytes", ErrReplyTooLarge, maxReplyBytes)}
			break
		}
		if len(p.parts) == 1 {
			r = result{m: m}
		} else {
			merged, err := ofp.MergeMultipart(p.parts)
			r = result{m: merged, err: err}
		}
		p.parts = nil
	default:
		r = result{m: m}
	}
	s.mu.Lock()
	delete(s.pending, h.Xid)
	s.npending.Store(int32(len(s.pending)))
	s.mu.Unlock()
	p.ch <- r // cap 1, sent once
	return nil
}

// portStatus applies a PORT_STATUS to the session's port list.
func (s *Session) portStatus(m *ofp.PortStatus) {
	port := clonePort(m.Port)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.ports, func(p ofp.Port) bool { return p.PortNo == port.PortNo })
	switch {
	case m.Reason == ofp.PortReasonDelete:
		if i >= 0 {
			s.ports = slices.Delete(s.ports, i, i+1)
		}
	case i >= 0:
		s.ports[i] = port
	default:
		s.ports = append(s.ports, port)
	}
}

// writer drains the write queue with one Write per batch and runs the echo
// keepalive. It closes the session on a write error, an echo timeout, or
// after flushing a closeAfter.
func (s *Session) writer() {
	defer close(s.writerDone)
	period := min(s.cfg.EchoInterval, s.cfg.EchoTimeout) / 2
	tick := time.NewTicker(max(period, time.Millisecond))
	defer tick.Stop()

	var (
		buf        []byte // the writer's half of the double buffer
		lastRx     uint64
		lastRxAt   = time.Now()
		echoXID    uint32
		echoSentAt time.Time
	)
	for {
		select {
		case <-s.wake:
		case <-s.done:
			return
		case now := <-tick.C:
			if !s.established.Load() {
				continue
			}
			if rx := s.rx.Load(); rx != lastRx {
				lastRx, lastRxAt, echoXID = rx, now, 0
			}
			switch {
			case echoXID != 0 && now.Sub(echoSentAt) >= s.cfg.EchoTimeout:
				s.log.Warn("switch did not answer echo; closing its session",
					"idle", now.Sub(lastRxAt).Round(time.Millisecond).String())
				s.Close(ErrEchoTimeout)
				return
			case echoXID == 0 && now.Sub(lastRxAt) >= s.cfg.EchoInterval:
				x, err := s.send([]ofp.Message{&ofp.EchoRequest{}}, false)
				if err == nil {
					echoXID, echoSentAt = x, now
					s.echoes.Add(1)
				}
			}
			continue
		}
		s.wmu.Lock()
		if s.writing {
			// The reader writes a batch; it wakes us when it is done if
			// more is queued.
			s.wmu.Unlock()
			continue
		}
		buf, s.wbuf = s.wbuf, buf[:0]
		n := s.wn
		s.wn = 0
		closing, closeErr := s.wclosing, s.wcloseErr
		s.writing = len(buf) > 0
		s.wmu.Unlock()

		if len(buf) > 0 {
			timeout := s.cfg.WriteTimeout
			if closing {
				timeout = min(timeout, flushTimeout)
			}
			// Counted before the Write, so that a reply to these messages
			// can never be seen before they are counted.
			s.tx.Add(uint64(n))
			s.batches.Add(1)
			s.conn.SetWriteDeadline(time.Now().Add(timeout))
			if _, err := s.conn.Write(buf); err != nil {
				s.Close(fmt.Errorf("ofconn: write: %w", err))
				return
			}
			// The reader's raw writes honour the socket's deadline too: one
			// left set would fail them once it passed (a quiet session, closed
			// at its first echo reply WriteTimeout after this batch).
			s.conn.SetWriteDeadline(time.Time{})
			if cap(buf) > keepWriteBuf && len(buf) < cap(buf)/4 {
				buf = nil // do not keep a burst's buffer: an idle switch holds none
			}
			s.wmu.Lock()
			s.writing = false
			more := len(s.wbuf) > 0
			s.wmu.Unlock()
			if more && !closing {
				s.kick()
			}
		}
		if closing {
			s.Close(closeErr)
			return
		}
	}
}

// FormatDPID formats a datapath id as Open vSwitch does: 16 hex digits.
func FormatDPID(d uint64) string { return dpid.Format(d) }

// clonePort returns p without aliasing the read buffer.
func clonePort(p ofp.Port) ofp.Port {
	p.HWAddr = slices.Clone(p.HWAddr)
	return p
}
