package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"portcullis/ofp"
)

// Offsets of the varying fields in a packet-in built by packetInTemplate.
const (
	piXIDOff   = 4
	piFrameOff = ofp.HeaderLen + 16 + 16 + 2 // header, fixed part, match with in_port (16 bytes padded), pad
	piPortOff  = ofp.HeaderLen + 16 + 4 + 4  // OXM in_port value
	frameLen   = 60
	frSrcOff   = 6
	frIPOff    = 14
	frIPSrcOff = frIPOff + 12
)

// dstMAC is the destination of every frame: a unicast address no emulated
// host uses, so a learning switch never knows where it lives.
var dstMAC = [6]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0xfe}

// hostMAC is the source MAC of packet-in seq of switch idx: locally
// administered unicast, the switch in bytes 1-2, the sequence in 3-5.
func hostMAC(idx int, seq uint32) [6]byte {
	return [6]byte{0x02, byte(idx >> 8), byte(idx), byte(seq >> 16), byte(seq >> 8), byte(seq)}
}

// packetInTemplate encodes a packet-in of a 60-byte IPv4/UDP frame with
// the codec; emit patches the xid, in_port, source MAC and address.
func packetInTemplate(m Miss) []byte {
	frame := make([]byte, frameLen)
	copy(frame, dstMAC[:])
	frame[12], frame[13] = 0x08, 0x00
	ip := frame[frIPOff:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17 // IPv4, TTL, UDP
	be.PutUint16(ip[2:], frameLen-frIPOff)
	copy(ip[16:20], []byte{10, 255, 255, 254})
	be.PutUint16(ip[20:], 40000) // UDP source port
	be.PutUint16(ip[22:], 9)     // discard
	be.PutUint16(ip[24:], frameLen-frIPOff-20)
	pi := &ofp.PacketIn{BufferID: ofp.NoBuffer, TotalLen: frameLen, Reason: m.Reason, TableID: m.Table,
		Cookie: m.Cookie, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(1)}}, Data: frame}
	b := ofp.Marshal(0, pi)
	if len(b) != piFrameOff+frameLen {
		panic(fmt.Sprintf("bench: packet-in template is %d bytes, want %d", len(b), piFrameOff+frameLen))
	}
	return b
}

type slot struct {
	seq  uint32
	sent int64 // ns since the run's epoch
	live bool
}

// seqMask keeps sequence numbers in the 24 bits of a MAC that carry them.
const seqMask = 1<<24 - 1

// lostAfter is how long a packet-in may go unanswered before the watchdog
// counts it lost and sends another in its place.
const lostAfter = time.Second

// emulated is one emulated switch. The reader goroutine owns br and rbuf;
// mu guards the write buffer and the in-flight slots (the watchdog and
// start take it too).
type emulated struct {
	r    *runner
	idx  int
	dpid uint64
	conn net.Conn
	br   *bufio.Reader
	rbuf []byte

	mu       sync.Mutex
	wbuf     []byte
	tmpl     []byte
	slots    []slot
	seq      uint32
	inflight int
	hist     *hist // latency mode only
	err      error

	featuresAt atomic.Int64 // ns since epoch; 0 until FEATURES_REPLY is sent
	ready      atomic.Bool
	byTimeout  atomic.Bool // counted ready without a flow-mod or barrier
	failed     atomic.Bool // err is set
	lastAnswer atomic.Int64

	answered, lost, flowMods, packetOuts, others atomic.Uint64
}

func newEmulated(r *runner, idx int) *emulated {
	k := max(r.inFlight(), 1)
	n := 1
	for n < 4*k {
		n <<= 1
	}
	e := &emulated{r: r, idx: idx, dpid: uint64(idx) + 1, tmpl: packetInTemplate(r.cfg.Miss), slots: make([]slot, n),
		rbuf: make([]byte, 0, 512)}
	if r.cfg.Mode == Latency {
		e.hist = new(hist)
	}
	return e
}

// dial connects and sends HELLO.
func (e *emulated) dial() error {
	d := net.Dialer{Deadline: e.r.epoch.Add(e.r.cfg.ConnectTimeout)} // all switches share the connect time
	c, err := d.Dial("tcp", e.r.cfg.Addr)
	if err != nil {
		return fmt.Errorf("bench: switch %d: %w", e.idx, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	e.conn = c
	e.br = bufio.NewReaderSize(c, 8<<10)
	e.mu.Lock()
	e.wbuf = ofp.Append(e.wbuf, 1, ofp.NewHello(ofp.Version))
	err = e.flushLocked()
	e.mu.Unlock()
	return err
}

// serve is the reader loop; it returns when the connection ends.
func (e *emulated) serve() {
	for {
		raw, err := e.read()
		if err != nil {
			e.mu.Lock()
			if !e.r.closing.Load() {
				e.setErr(err)
			}
			e.mu.Unlock()
			return
		}
		e.mu.Lock()
		e.handle(raw)
		if e.br.Buffered() == 0 {
			e.flushLocked()
		}
		e.mu.Unlock()
	}
}

func (e *emulated) read() ([]byte, error) {
	hdr := e.rbuf[:ofp.HeaderLen]
	if _, err := io.ReadFull(e.br, hdr); err != nil {
		return nil, err
	}
	n := int(be.Uint16(hdr[2:]))
	if n < ofp.HeaderLen {
		return nil, fmt.Errorf("bench: switch %d: message length %d", e.idx, n)
	}
	if cap(e.rbuf) < n {
		nb := make([]byte, n)
		copy(nb, hdr)
		e.rbuf = nb[:0]
	}
	b := e.rbuf[:n]
	if _, err := io.ReadFull(e.br, b[ofp.HeaderLen:]); err != nil {
		return nil, err
	}
	return b, nil
}

// handle answers one message from the controller. Must hold e.mu.
func (e *emulated) handle(raw []byte) {
	t, xid := ofp.Type(raw[1]), be.Uint32(raw[4:])
	switch t {
	case ofp.TypeFlowMod:
		e.flowMods.Add(1)
		if !e.ready.Load() && e.featuresAt.Load() != 0 {
			e.ready.Store(true)
		}
		if mac, ok := flowModMAC(raw); ok {
			e.answer(mac)
		}
		return
	case ofp.TypePacketOut:
		e.packetOuts.Add(1)
		if mac, ok := packetOutMAC(raw); ok {
			e.answer(mac)
		}
		return
	case ofp.TypeHello, ofp.TypeEchoReply, ofp.TypeSetConfig, ofp.TypeMeterMod, ofp.TypeGroupMod,
		ofp.TypePortMod, ofp.TypeTableMod, ofp.TypeSetAsync:
		e.others.Add(1)
		return
	case ofp.TypeBarrierRequest:
		if !e.ready.Load() && e.featuresAt.Load() != 0 {
			e.ready.Store(true)
		}
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.BarrierReply{})
		return
	case ofp.TypeFeaturesRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.FeaturesReply{DatapathID: e.dpid, NBuffers: 0, NTables: 254,
			Capabilities: 0x4f})
		e.featuresAt.Store(e.r.since())
		return
	}
	// The rest is rare: decode with the codec.
	_, m, err := ofp.Unmarshal(raw)
	if err != nil {
		e.wbuf = ofp.Append(e.wbuf, xid, (&ofp.DecodeError{ErrType: ofp.ErrTypeBadRequest,
			Code: ofp.BadRequestBadType, Reason: err.Error()}).AsError(raw[:min(len(raw), 64)]))
		return
	}
	e.others.Add(1)
	switch m := m.(type) {
	case *ofp.EchoRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.EchoReply{Data: m.Data})
	case *ofp.GetConfigRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.GetConfigReply{MissSendLen: 0xffff})
	case *ofp.RoleRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.RoleReply{Role: m.Role, GenerationID: m.GenerationID})
	case *ofp.GetAsyncRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.GetAsyncReply{})
	case *ofp.MultipartRequest:
		e.wbuf = ofp.Append(e.wbuf, xid, &ofp.MultipartReply{Body: e.multipart(m.Body)})
		if m.Body.MultipartType() == ofp.MultipartPortDesc && e.r.cfg.readyOnPortDesc {
			e.ready.Store(true)
		}
	default:
		e.wbuf = ofp.Append(e.wbuf, xid, (&ofp.DecodeError{ErrType: ofp.ErrTypeBadRequest,
			Code: ofp.BadRequestBadType, Reason: "unsupported"}).AsError(raw[:min(len(raw), 64)]))
	}
}

// multipart is the reply body a switch with no flows, meters or groups
// gives to a multipart request.
func (e *emulated) multipart(req ofp.MultipartBody) ofp.MultipartBody {
	switch req.MultipartType() {
	case ofp.MultipartDesc:
		return &ofp.DescReply{MfrDesc: "portcullis bench", HWDesc: "emulated", SWDesc: "bench", SerialNum: fmt.Sprint(e.dpid),
			DPDesc: "emulated switch"}
	case ofp.MultipartPortDesc:
		return &ofp.PortDescReply{Ports: e.r.ports}
	case ofp.MultipartFlow:
		return &ofp.FlowStatsReply{}
	case ofp.MultipartAggregate:
		return &ofp.AggregateStatsReply{}
	case ofp.MultipartTable:
		return &ofp.TableStatsReply{}
	case ofp.MultipartPortStats:
		return &ofp.PortStatsReply{}
	case ofp.MultipartGroupDesc:
		return &ofp.GroupDescReply{}
	case ofp.MultipartMeter:
		return &ofp.MeterStatsReply{}
	case ofp.MultipartMeterConfig:
		return &ofp.MeterConfigReply{}
	case ofp.MultipartMeterFeatures:
		return &ofp.MeterFeaturesReply{MaxMeter: 1024, BandTypes: 1 << ofp.MeterBandDrop, Capabilities: 0xf, MaxBands: 1, MaxColor: 0}
	}
	return &ofp.UnknownMultipart{Kind: req.MultipartType()}
}

// answer completes the packet-in whose source MAC is mac, if it is one of
// ours in flight, and sends the next. Must hold e.mu.
func (e *emulated) answer(mac [6]byte) {
	if mac[0] != 0x02 || int(mac[1])<<8|int(mac[2]) != e.idx&0xffff {
		return
	}
	seq := uint32(mac[3])<<16 | uint32(mac[4])<<8 | uint32(mac[5])
	s := &e.slots[int(seq)&(len(e.slots)-1)]
	if !s.live || s.seq != seq {
		return // answered already (a second flow-mod for it), or lost
	}
	now := e.r.since()
	s.live = false
	e.inflight--
	e.answered.Add(1)
	e.lastAnswer.Store(now)
	if e.hist != nil {
		e.hist.add(time.Duration(now - s.sent))
	}
	if e.r.running.Load() {
		e.fill(now)
	}
}

// fill sends packet-ins until the switch has its quota in flight. Must
// hold e.mu.
func (e *emulated) fill(now int64) {
	k := e.r.inFlight()
	for e.inflight < k {
		seq := e.seq & seqMask
		e.seq++
		s := &e.slots[int(seq)&(len(e.slots)-1)]
		if s.live { // far behind: that one is lost
			e.lost.Add(1)
			e.inflight--
		}
		*s = slot{seq: seq, sent: now, live: true}
		e.inflight++
		e.wbuf = e.emit(e.wbuf, seq)
	}
}

// emit appends packet-in seq to b.
func (e *emulated) emit(b []byte, seq uint32) []byte {
	n := len(b)
	b = append(b, e.tmpl...)
	m := b[n:]
	be.PutUint32(m[piXIDOff:], seq|1<<24)
	ports := uint32(len(e.r.ports))
	be.PutUint32(m[piPortOff:], 1+seq%ports)
	f := m[piFrameOff:]
	mac := hostMAC(e.idx, seq)
	copy(f[frSrcOff:], mac[:])
	ip := f[frIPOff:]
	ip[12], ip[13], ip[14], ip[15] = 10, byte(seq>>16), byte(seq>>8), byte(seq)
	ip[10], ip[11] = 0, 0
	be.PutUint16(ip[10:], ipChecksum(ip[:20]))
	return b
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// expire counts packet-ins unanswered for lostAfter as lost and replaces
// them. Must hold e.mu.
func (e *emulated) expire(now int64) {
	for i := range e.slots {
		s := &e.slots[i]
		if s.live && now-s.sent > int64(lostAfter) {
			s.live = false
			e.inflight--
			e.lost.Add(1)
		}
	}
}

// flushLocked writes the write buffer. Must hold e.mu.
func (e *emulated) flushLocked() error {
	if len(e.wbuf) == 0 {
		return nil
	}
	_, err := e.conn.Write(e.wbuf)
	e.wbuf = e.wbuf[:0]
	if err != nil && !e.r.closing.Load() {
		e.setErr(err)
	}
	return err
}

// setErr records why the switch failed (the first reason). Must hold e.mu.
func (e *emulated) setErr(err error) {
	if e.err == nil {
		e.err = err
		e.failed.Store(true)
	}
}

func (e *emulated) close() {
	if e.conn != nil {
		e.conn.Close()
	}
}
