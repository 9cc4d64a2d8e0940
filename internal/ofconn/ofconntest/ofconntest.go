// Package ofconntest is a scripted OpenFlow 1.3 switch for tests: it dials
// a controller over a real TCP (or TLS) socket, speaks the protocol with
// the ofp codec, answers the handshake, echoes and barriers by itself, and
// records every message the controller sends. Options make it misbehave
// (another version, no echo replies, not reading its socket, raw bytes).
//
// A Switch has one reader goroutine; all methods are safe for concurrent
// use. Close it when done: it then waits for its reader.
package ofconntest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"portcullis/ofp"
)

// Config scripts a Switch. The zero value is a well-behaved switch with
// datapath id 0 and no ports.
type Config struct {
	DPID  uint64
	Ports []ofp.Port
	// PortDescParts splits the PORT_DESC reply into this many multipart
	// messages (default 1).
	PortDescParts int

	// Hello, if set, is sent as raw bytes instead of our OpenFlow 1.3
	// HELLO with a version bitmap. NoHello sends no HELLO at all.
	Hello   []byte
	NoHello bool

	NoFeaturesReply bool // never answer FEATURES_REQUEST (handshake timeout)
	NoEchoReply     bool // never answer ECHO_REQUEST (a dead switch)
	NoBarrierReply  bool // never answer BARRIER_REQUEST

	// Handle, if set, is called on the reader goroutine for every message
	// from the controller (after any automatic answer) instead of
	// recording it. m aliases a buffer reused after the call.
	Handle func(sw *Switch, h ofp.Header, m ofp.Message)

	// TLS, if set, dials with TLS (set Certificates and RootCAs).
	TLS *tls.Config
}

// Received is one message from the controller. Msg is decoded from Raw,
// which the Switch does not reuse.
type Received struct {
	Header ofp.Header
	Msg    ofp.Message
	Raw    []byte
}

// Switch is a fake switch connected to a controller.
type Switch struct {
	cfg  Config
	conn net.Conn

	wmu sync.Mutex // serializes writes
	xid atomic.Uint32

	pmu     sync.Mutex // guards paused and resume
	paused  bool
	resume  chan struct{}
	recv    chan Received
	dropped atomic.Uint64

	handshook chan struct{} // the PORT_DESC reply (last part) was sent
	hsOnce    sync.Once
	setConfig atomic.Pointer[ofp.SetConfig]

	done    chan struct{} // the reader stopped: the controller closed, or Close
	readErr error         // why the reader stopped; written before done closes
}

// Dial connects to the controller at addr, sends the HELLO (unless told
// otherwise) and starts answering.
func Dial(ctx context.Context, addr string, cfg Config) (*Switch, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ofconntest: dial: %w", err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(c, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("ofconntest: TLS: %w", err)
		}
		c = tc
	}
	return Start(c, cfg)
}

// Start runs a Switch over an established connection.
func Start(c net.Conn, cfg Config) (*Switch, error) {
	sw := &Switch{
		cfg:       cfg,
		conn:      c,
		recv:      make(chan Received, 4096),
		handshook: make(chan struct{}),
		done:      make(chan struct{}),
		resume:    make(chan struct{}),
	}
	switch {
	case cfg.NoHello:
	case cfg.Hello != nil:
		if err := sw.WriteRaw(cfg.Hello); err != nil {
			c.Close()
			return nil, err
		}
	default:
		if err := sw.Send(0, ofp.NewHello(ofp.Version)); err != nil {
			c.Close()
			return nil, err
		}
	}
	go sw.read()
	return sw, nil
}

// Conn is the switch's side of the connection.
func (sw *Switch) Conn() net.Conn { return sw.conn }

// Send writes m with the given xid (0: a fresh one).
func (sw *Switch) Send(xid uint32, m ofp.Message) error {
	if xid == 0 && m.Type() != ofp.TypeHello && !isAsync(m.Type()) {
		xid = sw.xid.Add(1)
	}
	return sw.WriteRaw(ofp.Marshal(xid, m))
}

func isAsync(t ofp.Type) bool {
	return t == ofp.TypePacketIn || t == ofp.TypeFlowRemoved || t == ofp.TypePortStatus
}

// WriteRaw writes b as is: garbage, truncated or oversized messages.
func (sw *Switch) WriteRaw(b []byte) error {
	sw.wmu.Lock()
	defer sw.wmu.Unlock()
	if _, err := sw.conn.Write(b); err != nil {
		return fmt.Errorf("ofconntest: write: %w", err)
	}
	return nil
}

// Close closes the connection and waits for the reader to stop.
func (sw *Switch) Close() error {
	err := sw.conn.Close()
	sw.Resume()
	<-sw.done
	return err
}

// Done is closed when the connection ends (the controller closed it, or
// Close); Err then says why.
func (sw *Switch) Done() <-chan struct{} { return sw.done }

// Err is why the reader stopped (io.EOF: the controller closed the
// connection), or nil while it runs.
func (sw *Switch) Err() error {
	select {
	case <-sw.done:
		return sw.readErr
	default:
		return nil
	}
}

// Handshook is closed once the switch has answered the controller's
// FEATURES_REQUEST and PORT_DESC request.
func (sw *Switch) Handshook() <-chan struct{} { return sw.handshook }

// SetConfig is the last SET_CONFIG the controller sent, or nil.
func (sw *Switch) SetConfig() *ofp.SetConfig { return sw.setConfig.Load() }

// Dropped counts messages not recorded because the record buffer was full.
func (sw *Switch) Dropped() uint64 { return sw.dropped.Load() }

// Pause stops reading the socket (after the message being read), so the
// controller's writes back up: a switch that does not read.
func (sw *Switch) Pause() {
	sw.pmu.Lock()
	defer sw.pmu.Unlock()
	if !sw.paused {
		sw.paused = true
		sw.resume = make(chan struct{})
	}
}

// Resume undoes Pause.
func (sw *Switch) Resume() {
	sw.pmu.Lock()
	defer sw.pmu.Unlock()
	if sw.paused {
		sw.paused = false
		close(sw.resume)
	}
}

func (sw *Switch) gate() {
	sw.pmu.Lock()
	paused, ch := sw.paused, sw.resume
	sw.pmu.Unlock()
	if paused {
		<-ch
	}
}

// Next returns the next recorded message from the controller.
func (sw *Switch) Next(ctx context.Context) (Received, error) {
	select {
	case r := <-sw.recv:
		return r, nil
	case <-ctx.Done():
		return Received{}, fmt.Errorf("ofconntest: waiting for a message: %w", ctx.Err())
	case <-sw.done:
		// Drain what was recorded before the end.
		select {
		case r := <-sw.recv:
			return r, nil
		default:
		}
		return Received{}, fmt.Errorf("ofconntest: connection ended: %w", sw.readErr)
	}
}

// WaitFor skips recorded messages until one of type t.
func (sw *Switch) WaitFor(ctx context.Context, t ofp.Type) (Received, error) {
	for {
		r, err := sw.Next(ctx)
		if err != nil {
			return r, fmt.Errorf("%w (waiting for %v)", err, t)
		}
		if r.Header.Type == t {
			return r, nil
		}
	}
}

// ErrMalformed is returned by the reader for bytes from the controller
// that do not decode.
var ErrMalformed = errors.New("ofconntest: controller sent a malformed message")

func (sw *Switch) read() {
	defer close(sw.done)
	var hdr [ofp.HeaderLen]byte
	var reuse []byte // with Handle set, messages are not kept: one buffer
	for {
		sw.gate()
		if _, err := io.ReadFull(sw.conn, hdr[:]); err != nil {
			sw.readErr = err
			return
		}
		h, err := ofp.ParseHeader(hdr[:])
		if err != nil {
			sw.readErr = fmt.Errorf("%w: %w", ErrMalformed, err)
			return
		}
		var raw []byte
		if sw.cfg.Handle != nil {
			if cap(reuse) < int(h.Length) {
				reuse = make([]byte, 0, max(int(h.Length), 4096))
			}
			raw = reuse[:h.Length]
		} else {
			raw = make([]byte, h.Length)
		}
		copy(raw, hdr[:])
		if _, err := io.ReadFull(sw.conn, raw[ofp.HeaderLen:]); err != nil {
			sw.readErr = err
			return
		}
		_, m, err := ofp.Unmarshal(raw)
		if err != nil {
			sw.readErr = fmt.Errorf("%w: %w", ErrMalformed, err)
			return
		}
		if err := sw.answer(h, m); err != nil {
			sw.readErr = err
			return
		}
		if sw.cfg.Handle != nil {
			sw.cfg.Handle(sw, h, m)
			continue
		}
		select {
		case sw.recv <- Received{Header: h, Msg: m, Raw: raw}:
		default:
			sw.dropped.Add(1)
		}
	}
}

// answer sends what a switch answers by itself.
func (sw *Switch) answer(h ofp.Header, m ofp.Message) error {
	switch m := m.(type) {
	case *ofp.EchoRequest:
		if !sw.cfg.NoEchoReply {
			return sw.Send(h.Xid, &ofp.EchoReply{Data: m.Data})
		}
	case *ofp.FeaturesRequest:
		if !sw.cfg.NoFeaturesReply {
			return sw.Send(h.Xid, &ofp.FeaturesReply{
				DatapathID:   sw.cfg.DPID,
				NBuffers:     0,
				NTables:      254,
				Capabilities: 0x4f,
			})
		}
	case *ofp.SetConfig:
		c := *m
		sw.setConfig.Store(&c)
	case *ofp.BarrierRequest:
		if !sw.cfg.NoBarrierReply {
			return sw.Send(h.Xid, &ofp.BarrierReply{})
		}
	case *ofp.MultipartRequest:
		if _, ok := m.Body.(*ofp.PortDescRequest); ok {
			if err := sw.sendPortDesc(h.Xid); err != nil {
				return err
			}
			sw.hsOnce.Do(func() { close(sw.handshook) })
		}
	}
	return nil
}

// sendPortDesc answers a PORT_DESC request in cfg.PortDescParts parts.
func (sw *Switch) sendPortDesc(xid uint32) error {
	parts := max(sw.cfg.PortDescParts, 1)
	ports := sw.cfg.Ports
	per := (len(ports) + parts - 1) / parts
	for i := range parts {
		lo := min(i*per, len(ports))
		hi := min(lo+per, len(ports))
		r := &ofp.MultipartReply{Body: &ofp.PortDescReply{Ports: slices.Clone(ports[lo:hi])}}
		if i < parts-1 {
			r.Flags = ofp.MultipartReplyMore
		}
		if err := sw.Send(xid, r); err != nil {
			return err
		}
	}
	return nil
}

// Ports returns n ports numbered 1..n named "p1".."pn" with distinct MACs.
func Ports(n int) []ofp.Port {
	ports := make([]ofp.Port, n)
	for i := range ports {
		no := uint32(i + 1)
		ports[i] = ofp.Port{
			PortNo: no,
			HWAddr: net.HardwareAddr{0x02, 0, 0, 0, byte(no >> 8), byte(no)},
			Name:   fmt.Sprintf("p%d", no),
		}
	}
	return ports
}
