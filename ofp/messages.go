package ofp

import (
	"fmt"
	"net"
)

// HelloElement is one element of a HELLO (struct ofp_hello_elem_header). For a version-bitmap element
// (Type HelloElemVersionBitmap) Bitmaps holds the bitmap words; for any other type Data holds the raw
// element body.
type HelloElement struct {
	Type    uint16
	Bitmaps []uint32
	Data    []byte
}

func (e HelloElement) unpaddedLen() int {
	if e.Type == HelloElemVersionBitmap {
		return 4 + 4*len(e.Bitmaps)
	}
	return 4 + len(e.Data)
}

// Hello is OFPT_HELLO. HeaderVersion is the version in the header of a decoded HELLO (the encoder always
// writes Version).
type Hello struct {
	HeaderVersion uint8
	Elements      []HelloElement
}

// NewHello returns a HELLO advertising exactly the given versions in a version-bitmap element.
func NewHello(versions ...uint8) *Hello {
	var bm []uint32
	for _, v := range versions {
		for int(v/32) >= len(bm) {
			bm = append(bm, 0)
		}
		bm[v/32] |= 1 << (v % 32)
	}
	return &Hello{HeaderVersion: Version, Elements: []HelloElement{{Type: HelloElemVersionBitmap, Bitmaps: bm}}}
}

// Supports reports whether the peer that sent h supports version v: by its version bitmap if it sent
// one, else only its header version (OpenFlow 1.3.5 section 6.3.1).
func (h *Hello) Supports(v uint8) bool {
	for _, e := range h.Elements {
		if e.Type != HelloElemVersionBitmap {
			continue
		}
		i := int(v / 32)
		return i < len(e.Bitmaps) && e.Bitmaps[i]&(1<<(v%32)) != 0
	}
	return v == h.HeaderVersion
}

func (*Hello) Type() Type { return TypeHello }
func (h *Hello) Len() int {
	n := HeaderLen
	for _, e := range h.Elements {
		n += pad8(e.unpaddedLen())
	}
	return n
}
func (h *Hello) appendBody(b []byte) []byte {
	for _, e := range h.Elements {
		n := e.unpaddedLen()
		b = be.AppendUint16(b, e.Type)
		b = be.AppendUint16(b, uint16(n))
		if e.Type == HelloElemVersionBitmap {
			for _, w := range e.Bitmaps {
				b = be.AppendUint32(b, w)
			}
		} else {
			b = append(b, e.Data...)
		}
		b = appendZeros(b, pad8(n)-n)
	}
	return b
}
func (h *Hello) decodeBody(p []byte) error {
	for len(p) > 0 {
		if len(p) < 4 {
			return errBadLen("hello element header truncated (%d bytes)", len(p))
		}
		t, n := be.Uint16(p), int(be.Uint16(p[2:]))
		if n < 4 || n > len(p) {
			return errBadLen("hello element length %d invalid (%d bytes left)", n, len(p))
		}
		e := HelloElement{Type: t}
		body := p[4:n]
		if t == HelloElemVersionBitmap {
			if len(body)%4 != 0 {
				return errBadLen("hello version bitmap of %d bytes", len(body))
			}
			e.Bitmaps = make([]uint32, len(body)/4)
			for i := range e.Bitmaps {
				e.Bitmaps[i] = be.Uint32(body[4*i:])
			}
		} else {
			e.Data = body
		}
		h.Elements = append(h.Elements, e)
		// Elements are padded to 8 bytes; tolerate a missing pad after the last one.
		p = p[min(pad8(n), len(p)):]
	}
	return nil
}

// Error is OFPT_ERROR. For ErrType ErrTypeExperimenter, Code is the experimenter-defined exp_type and
// Experimenter the experimenter id. Data holds (usually) the start of the offending request.
// *Error also implements error, so a switch's error can be returned as one.
type Error struct {
	ErrType      ErrorType
	Code         uint16
	Data         []byte
	Experimenter uint32
}

// String names the type and code ("OFPET_BAD_REQUEST/OFPBRC_BAD_LEN").
func (e *Error) String() string {
	if e.ErrType == ErrTypeExperimenter {
		return fmt.Sprintf("OFPET_EXPERIMENTER/exp_type(%d) experimenter %#x", e.Code, e.Experimenter)
	}
	return e.ErrType.String() + "/" + ErrorCodeString(e.ErrType, e.Code)
}

func (e *Error) Error() string { return "ofp: switch error " + e.String() }

func (*Error) Type() Type { return TypeError }
func (e *Error) Len() int {
	n := HeaderLen + 4 + len(e.Data)
	if e.ErrType == ErrTypeExperimenter {
		n += 4
	}
	return n
}
func (e *Error) appendBody(b []byte) []byte {
	b = be.AppendUint16(b, uint16(e.ErrType))
	b = be.AppendUint16(b, e.Code)
	if e.ErrType == ErrTypeExperimenter {
		b = be.AppendUint32(b, e.Experimenter)
	}
	return append(b, e.Data...)
}
func (e *Error) decodeBody(p []byte) error {
	if err := needMin("error", p, 4); err != nil {
		return err
	}
	e.ErrType, e.Code = ErrorType(be.Uint16(p)), be.Uint16(p[2:])
	p = p[4:]
	if e.ErrType == ErrTypeExperimenter {
		if err := needMin("experimenter error", p, 4); err != nil {
			return err
		}
		e.Experimenter = be.Uint32(p)
		p = p[4:]
	}
	e.Data = p
	return nil
}

// EchoRequest is OFPT_ECHO_REQUEST; the reply must carry the same xid and Data.
type EchoRequest struct{ Data []byte }

// EchoReply is OFPT_ECHO_REPLY.
type EchoReply struct{ Data []byte }

func (*EchoRequest) Type() Type                   { return TypeEchoRequest }
func (m *EchoRequest) Len() int                   { return HeaderLen + len(m.Data) }
func (m *EchoRequest) appendBody(b []byte) []byte { return append(b, m.Data...) }
func (m *EchoRequest) decodeBody(p []byte) error  { m.Data = p; return nil }

func (*EchoReply) Type() Type                   { return TypeEchoReply }
func (m *EchoReply) Len() int                   { return HeaderLen + len(m.Data) }
func (m *EchoReply) appendBody(b []byte) []byte { return append(b, m.Data...) }
func (m *EchoReply) decodeBody(p []byte) error  { m.Data = p; return nil }

// Experimenter is OFPT_EXPERIMENTER.
type Experimenter struct {
	Experimenter uint32
	ExpType      uint32
	Data         []byte
}

func (*Experimenter) Type() Type { return TypeExperimenter }
func (m *Experimenter) Len() int { return HeaderLen + 8 + len(m.Data) }
func (m *Experimenter) appendBody(b []byte) []byte {
	b = be.AppendUint32(b, m.Experimenter)
	b = be.AppendUint32(b, m.ExpType)
	return append(b, m.Data...)
}
func (m *Experimenter) decodeBody(p []byte) error {
	if err := needMin("experimenter", p, 8); err != nil {
		return err
	}
	m.Experimenter, m.ExpType, m.Data = be.Uint32(p), be.Uint32(p[4:]), p[8:]
	return nil
}

// emptyBody is embedded by the messages that have no body.
type emptyBody struct{}

func (emptyBody) appendBody(b []byte) []byte { return b }
func (emptyBody) Len() int                   { return HeaderLen }

func decodeEmpty(t Type, p []byte) error { return needLen(t, p, 0) }

// FeaturesRequest is OFPT_FEATURES_REQUEST.
type FeaturesRequest struct{ emptyBody }

func (*FeaturesRequest) Type() Type                  { return TypeFeaturesRequest }
func (m *FeaturesRequest) decodeBody(p []byte) error { return decodeEmpty(m.Type(), p) }

// FeaturesReply is OFPT_FEATURES_REPLY.
type FeaturesReply struct {
	DatapathID   uint64
	NBuffers     uint32
	NTables      uint8
	AuxiliaryID  uint8
	Capabilities uint32
}

func (*FeaturesReply) Type() Type { return TypeFeaturesReply }
func (*FeaturesReply) Len() int   { return 32 }
func (m *FeaturesReply) appendBody(b []byte) []byte {
	b = be.AppendUint64(b, m.DatapathID)
	b = be.AppendUint32(b, m.NBuffers)
	b = append(b, m.NTables, m.AuxiliaryID, 0, 0)
	b = be.AppendUint32(b, m.Capabilities)
	return append(b, 0, 0, 0, 0)
}
func (m *FeaturesReply) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 24); err != nil {
		return err
	}
	m.DatapathID, m.NBuffers = be.Uint64(p), be.Uint32(p[8:])
	m.NTables, m.AuxiliaryID = p[12], p[13]
	m.Capabilities = be.Uint32(p[16:])
	return nil
}

// GetConfigRequest is OFPT_GET_CONFIG_REQUEST.
type GetConfigRequest struct{ emptyBody }

func (*GetConfigRequest) Type() Type                  { return TypeGetConfigRequest }
func (m *GetConfigRequest) decodeBody(p []byte) error { return decodeEmpty(m.Type(), p) }

// GetConfigReply is OFPT_GET_CONFIG_REPLY.
type GetConfigReply struct{ Flags, MissSendLen uint16 }

// SetConfig is OFPT_SET_CONFIG.
type SetConfig struct{ Flags, MissSendLen uint16 }

func appendConfig(b []byte, flags, miss uint16) []byte {
	b = be.AppendUint16(b, flags)
	return be.AppendUint16(b, miss)
}

func (*GetConfigReply) Type() Type                   { return TypeGetConfigReply }
func (*GetConfigReply) Len() int                     { return 12 }
func (m *GetConfigReply) appendBody(b []byte) []byte { return appendConfig(b, m.Flags, m.MissSendLen) }
func (m *GetConfigReply) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 4); err != nil {
		return err
	}
	m.Flags, m.MissSendLen = be.Uint16(p), be.Uint16(p[2:])
	return nil
}

func (*SetConfig) Type() Type                   { return TypeSetConfig }
func (*SetConfig) Len() int                     { return 12 }
func (m *SetConfig) appendBody(b []byte) []byte { return appendConfig(b, m.Flags, m.MissSendLen) }
func (m *SetConfig) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 4); err != nil {
		return err
	}
	m.Flags, m.MissSendLen = be.Uint16(p), be.Uint16(p[2:])
	return nil
}

// PacketIn is OFPT_PACKET_IN. Match holds the pipeline fields (IN_PORT at least); Data the frame (or
// its first bytes when buffered).
type PacketIn struct {
	BufferID uint32
	TotalLen uint16
	Reason   uint8
	TableID  uint8
	Cookie   uint64
	Match    Match
	Data     []byte
}

func (*PacketIn) Type() Type { return TypePacketIn }
func (m *PacketIn) Len() int { return HeaderLen + 16 + m.Match.Len() + 2 + len(m.Data) }
func (m *PacketIn) appendBody(b []byte) []byte {
	b = be.AppendUint32(b, m.BufferID)
	b = be.AppendUint16(b, m.TotalLen)
	b = append(b, m.Reason, m.TableID)
	b = be.AppendUint64(b, m.Cookie)
	b = m.Match.appendTo(b)
	b = append(b, 0, 0)
	return append(b, m.Data...)
}
func (m *PacketIn) decodeBody(p []byte) error {
	if err := needMin("packet-in", p, 16); err != nil {
		return err
	}
	m.BufferID, m.TotalLen = be.Uint32(p), be.Uint16(p[4:])
	m.Reason, m.TableID, m.Cookie = p[6], p[7], be.Uint64(p[8:])
	match, n, err := decodeMatchInto(p[16:], m.Match.Fields[:0]) // Fields is nil unless UnmarshalPacketIn reuses m
	if err != nil {
		return err
	}
	m.Match = match
	p = p[16+n:]
	if err := needMin("packet-in padding", p, 2); err != nil {
		return err
	}
	m.Data = p[2:]
	return nil
}

// FlowRemoved is OFPT_FLOW_REMOVED.
type FlowRemoved struct {
	Cookie                   uint64
	Priority                 uint16
	Reason, TableID          uint8
	DurationSec              uint32
	DurationNSec             uint32
	IdleTimeout, HardTimeout uint16
	PacketCount, ByteCount   uint64
	Match                    Match
}

func (*FlowRemoved) Type() Type { return TypeFlowRemoved }
func (m *FlowRemoved) Len() int { return HeaderLen + 40 + m.Match.Len() }
func (m *FlowRemoved) appendBody(b []byte) []byte {
	b = be.AppendUint64(b, m.Cookie)
	b = be.AppendUint16(b, m.Priority)
	b = append(b, m.Reason, m.TableID)
	b = be.AppendUint32(b, m.DurationSec)
	b = be.AppendUint32(b, m.DurationNSec)
	b = be.AppendUint16(b, m.IdleTimeout)
	b = be.AppendUint16(b, m.HardTimeout)
	b = be.AppendUint64(b, m.PacketCount)
	b = be.AppendUint64(b, m.ByteCount)
	return m.Match.appendTo(b)
}
func (m *FlowRemoved) decodeBody(p []byte) error {
	if err := needMin("flow-removed", p, 40); err != nil {
		return err
	}
	m.Cookie, m.Priority, m.Reason, m.TableID = be.Uint64(p), be.Uint16(p[8:]), p[10], p[11]
	m.DurationSec, m.DurationNSec = be.Uint32(p[12:]), be.Uint32(p[16:])
	m.IdleTimeout, m.HardTimeout = be.Uint16(p[20:]), be.Uint16(p[22:])
	m.PacketCount, m.ByteCount = be.Uint64(p[24:]), be.Uint64(p[32:])
	match, n, err := decodeMatch(p[40:])
	if err != nil {
		return err
	}
	if 40+n != len(p) {
		return errBadLen("flow-removed has %d bytes after its match", len(p)-40-n)
	}
	m.Match = match
	return nil
}

// Port describes a switch port (struct ofp_port). Name is at most 15 bytes on the wire.
type Port struct {
	PortNo     uint32
	HWAddr     net.HardwareAddr
	Name       string
	Config     uint32
	State      uint32
	Curr       uint32
	Advertised uint32
	Supported  uint32
	Peer       uint32
	CurrSpeed  uint32 // kbps
	MaxSpeed   uint32 // kbps
}

// PortLen is the encoded size of a Port.
const PortLen = 64

func (pt *Port) appendTo(b []byte) []byte {
	b = be.AppendUint32(b, pt.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, mac6(pt.HWAddr)...)
	b = append(b, 0, 0)
	b = appendCString(b, pt.Name, 16)
	for _, v := range [...]uint32{pt.Config, pt.State, pt.Curr, pt.Advertised, pt.Supported, pt.Peer, pt.CurrSpeed, pt.MaxSpeed} {
		b = be.AppendUint32(b, v)
	}
	return b
}

// mac6 returns a 6-byte address, padding or truncating a without allocating when it is already 6 bytes.
func mac6(a net.HardwareAddr) []byte {
	if len(a) == 6 {
		return a
	}
	var m [6]byte
	copy(m[:], a)
	return m[:]
}

func decodePort(p []byte) (Port, error) {
	if len(p) < PortLen {
		return Port{}, errBadLen("port: %d bytes, need %d", len(p), PortLen)
	}
	return Port{
		PortNo:     be.Uint32(p),
		HWAddr:     net.HardwareAddr(p[8:14:14]),
		Name:       cstring(p[16:32]),
		Config:     be.Uint32(p[32:]),
		State:      be.Uint32(p[36:]),
		Curr:       be.Uint32(p[40:]),
		Advertised: be.Uint32(p[44:]),
		Supported:  be.Uint32(p[48:]),
		Peer:       be.Uint32(p[52:]),
		CurrSpeed:  be.Uint32(p[56:]),
		MaxSpeed:   be.Uint32(p[60:]),
	}, nil
}

// PortStatus is OFPT_PORT_STATUS: a port was added, deleted or modified (PortReason*).
type PortStatus struct {
	Reason uint8
	Port   Port
}

func (*PortStatus) Type() Type { return TypePortStatus }
func (*PortStatus) Len() int   { return HeaderLen + 8 + PortLen }
func (m *PortStatus) appendBody(b []byte) []byte {
	b = append(b, m.Reason, 0, 0, 0, 0, 0, 0, 0)
	return m.Port.appendTo(b)
}
func (m *PortStatus) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 8+PortLen); err != nil {
		return err
	}
	m.Reason = p[0]
	pt, err := decodePort(p[8:])
	m.Port = pt
	return err
}

// PacketOut is OFPT_PACKET_OUT. With BufferID NoBuffer, Data is the frame to send.
type PacketOut struct {
	BufferID uint32
	InPort   uint32
	Actions  []Action
	Data     []byte
}

func (*PacketOut) Type() Type { return TypePacketOut }
func (m *PacketOut) Len() int { return HeaderLen + 16 + actionsLen(m.Actions) + len(m.Data) }
func (m *PacketOut) appendBody(b []byte) []byte {
	b = be.AppendUint32(b, m.BufferID)
	b = be.AppendUint32(b, m.InPort)
	b = be.AppendUint16(b, uint16(actionsLen(m.Actions)))
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = appendActions(b, m.Actions)
	return append(b, m.Data...)
}
func (m *PacketOut) decodeBody(p []byte) error {
	if err := needMin("packet-out", p, 16); err != nil {
		return err
	}
	m.BufferID, m.InPort = be.Uint32(p), be.Uint32(p[4:])
	alen := int(be.Uint16(p[8:]))
	p = p[16:]
	if alen > len(p) {
		return errBadLen("packet-out actions length %d overruns %d bytes", alen, len(p))
	}
	as, err := decodeActions(p[:alen])
	if err != nil {
		return err
	}
	m.Actions, m.Data = as, p[alen:]
	return nil
}

// FlowMod is OFPT_FLOW_MOD. Zero is meaningful on the wire for BufferID, OutPort and OutGroup: set
// them to NoBuffer, PortAny and GroupAny unless you mean buffer 0 or port/group 0 (OutPort and OutGroup
// only filter deletes). An InstrApplyActions without actions (or no instructions) drops the packet.
type FlowMod struct {
	Cookie, CookieMask       uint64
	TableID                  uint8
	Command                  FlowModCommand
	IdleTimeout, HardTimeout uint16
	Priority                 uint16
	BufferID                 uint32
	OutPort                  uint32
	OutGroup                 uint32
	Flags                    uint16
	Match                    Match
	Instructions             []Instruction
}

func (*FlowMod) Type() Type { return TypeFlowMod }
func (m *FlowMod) Len() int {
	return HeaderLen + 40 + m.Match.Len() + instructionsLen(m.Instructions)
}
func (m *FlowMod) appendBody(b []byte) []byte {
	b = be.AppendUint64(b, m.Cookie)
	b = be.AppendUint64(b, m.CookieMask)
	b = append(b, m.TableID, byte(m.Command))
	b = be.AppendUint16(b, m.IdleTimeout)
	b = be.AppendUint16(b, m.HardTimeout)
	b = be.AppendUint16(b, m.Priority)
	b = be.AppendUint32(b, m.BufferID)
	b = be.AppendUint32(b, m.OutPort)
	b = be.AppendUint32(b, m.OutGroup)
	b = be.AppendUint16(b, m.Flags)
	b = append(b, 0, 0)
	b = m.Match.appendTo(b)
	return appendInstructions(b, m.Instructions)
}
func (m *FlowMod) decodeBody(p []byte) error {
	if err := needMin("flow-mod", p, 40); err != nil {
		return err
	}
	m.Cookie, m.CookieMask = be.Uint64(p), be.Uint64(p[8:])
	m.TableID, m.Command = p[16], FlowModCommand(p[17])
	m.IdleTimeout, m.HardTimeout, m.Priority = be.Uint16(p[18:]), be.Uint16(p[20:]), be.Uint16(p[22:])
	m.BufferID, m.OutPort, m.OutGroup = be.Uint32(p[24:]), be.Uint32(p[28:]), be.Uint32(p[32:])
	m.Flags = be.Uint16(p[36:])
	match, n, err := decodeMatch(p[40:])
	if err != nil {
		return err
	}
	is, err := decodeInstructions(p[40+n:])
	if err != nil {
		return err
	}
	m.Match, m.Instructions = match, is
	return nil
}

// Bucket is one bucket of a group (struct ofp_bucket).
type Bucket struct {
	Weight     uint16
	WatchPort  uint32
	WatchGroup uint32
	Actions    []Action
}

func (bk *Bucket) Len() int { return 16 + actionsLen(bk.Actions) }

func (bk *Bucket) appendTo(b []byte) []byte {
	b = be.AppendUint16(b, uint16(bk.Len()))
	b = be.AppendUint16(b, bk.Weight)
	b = be.AppendUint32(b, bk.WatchPort)
	b = be.AppendUint32(b, bk.WatchGroup)
	b = append(b, 0, 0, 0, 0)
	return appendActions(b, bk.Actions)
}

func bucketsLen(bs []Bucket) int {
	n := 0
	for i := range bs {
		n += bs[i].Len()
	}
	return n
}

func appendBuckets(b []byte, bs []Bucket) []byte {
	for i := range bs {
		b = bs[i].appendTo(b)
	}
	return b
}

func decodeBuckets(p []byte) ([]Bucket, error) {
	var bs []Bucket
	for len(p) > 0 {
		if len(p) < 16 {
			return nil, errBadLen("bucket truncated (%d bytes)", len(p))
		}
		n := int(be.Uint16(p))
		if n < 16 || n > len(p) {
			return nil, errBadLen("bucket length %d invalid (%d bytes left)", n, len(p))
		}
		as, err := decodeActions(p[16:n])
		if err != nil {
			return nil, err
		}
		bs = append(bs, Bucket{Weight: be.Uint16(p[2:]), WatchPort: be.Uint32(p[4:]), WatchGroup: be.Uint32(p[8:]), Actions: as})
		p = p[n:]
	}
	return bs, nil
}

// GroupMod is OFPT_GROUP_MOD.
type GroupMod struct {
	Command   uint16
	GroupType uint8
	GroupID   uint32
	Buckets   []Bucket
}

func (*GroupMod) Type() Type { return TypeGroupMod }
func (m *GroupMod) Len() int { return HeaderLen + 8 + bucketsLen(m.Buckets) }
func (m *GroupMod) appendBody(b []byte) []byte {
	b = be.AppendUint16(b, m.Command)
	b = append(b, m.GroupType, 0)
	b = be.AppendUint32(b, m.GroupID)
	return appendBuckets(b, m.Buckets)
}
func (m *GroupMod) decodeBody(p []byte) error {
	if err := needMin("group-mod", p, 8); err != nil {
		return err
	}
	m.Command, m.GroupType, m.GroupID = be.Uint16(p), p[2], be.Uint32(p[4:])
	bs, err := decodeBuckets(p[8:])
	m.Buckets = bs
	return err
}

// PortMod is OFPT_PORT_MOD.
type PortMod struct {
	PortNo    uint32
	HWAddr    net.HardwareAddr
	Config    uint32
	Mask      uint32
	Advertise uint32
}

func (*PortMod) Type() Type { return TypePortMod }
func (*PortMod) Len() int   { return 40 }
func (m *PortMod) appendBody(b []byte) []byte {
	b = be.AppendUint32(b, m.PortNo)
	b = append(b, 0, 0, 0, 0)
	b = append(b, mac6(m.HWAddr)...)
	b = append(b, 0, 0)
	b = be.AppendUint32(b, m.Config)
	b = be.AppendUint32(b, m.Mask)
	b = be.AppendUint32(b, m.Advertise)
	return append(b, 0, 0, 0, 0)
}
func (m *PortMod) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 32); err != nil {
		return err
	}
	m.PortNo, m.HWAddr = be.Uint32(p), net.HardwareAddr(p[8:14:14])
	m.Config, m.Mask, m.Advertise = be.Uint32(p[16:]), be.Uint32(p[20:]), be.Uint32(p[24:])
	return nil
}

// TableMod is OFPT_TABLE_MOD.
type TableMod struct {
	TableID uint8
	Config  uint32
}

func (*TableMod) Type() Type { return TypeTableMod }
func (*TableMod) Len() int   { return 16 }
func (m *TableMod) appendBody(b []byte) []byte {
	b = append(b, m.TableID, 0, 0, 0)
	return be.AppendUint32(b, m.Config)
}
func (m *TableMod) decodeBody(p []byte) error {
	if err := needLen(m.Type(), p, 8); err != nil {
		return err
	}
	m.TableID, m.Config = p[0], be.Uint32(p[4:])
	return nil
}

// BarrierRequest is OFPT_BARRIER_REQUEST.
type BarrierRequest struct{ emptyBody }

func (*BarrierRequest) Type() Type                  { return TypeBarrierRequest }
func (m *BarrierRequest) decodeBody(p []byte) error { return decodeEmpty(m.Type(), p) }

// BarrierReply is OFPT_BARRIER_REPLY.
type BarrierReply struct{ emptyBody }

func (*BarrierReply) Type() Type                  { return TypeBarrierReply }
func (m *BarrierReply) decodeBody(p []byte) error { return decodeEmpty(m.Type(), p) }

// RoleRequest is OFPT_ROLE_REQUEST (ControllerRole*).
type RoleRequest struct {
	Role         uint32
	GenerationID uint64
}

// RoleReply is OFPT_ROLE_REPLY.
type RoleReply struct {
	Role         uint32
	GenerationID uint64
}

func appendRole(b []byte, role uint32, gen uint64) []byte {
	b = be.AppendUint32(b, role)
	b = append(b, 0, 0, 0, 0)
	return be.AppendUint64(b, gen)
}

func decodeRole(t Type, p []byte) (uint32, uint64, error) {
	if err := needLen(t, p, 16); err != nil {
		return 0, 0, err
	}
	return be.Uint32(p), be.Uint64(p[8:]), nil
}

func (*RoleRequest) Type() Type                   { return TypeRoleRequest }
func (*RoleRequest) Len() int                     { return 24 }
func (m *RoleRequest) appendBody(b []byte) []byte { return appendRole(b, m.Role, m.GenerationID) }
func (m *RoleRequest) decodeBody(p []byte) (err error) {
	m.Role, m.GenerationID, err = decodeRole(m.Type(), p)
	return err
}

func (*RoleReply) Type() Type                   { return TypeRoleReply }
func (*RoleReply) Len() int                     { return 24 }
func (m *RoleReply) appendBody(b []byte) []byte { return appendRole(b, m.Role, m.GenerationID) }
func (m *RoleReply) decodeBody(p []byte) (err error) {
	m.Role, m.GenerationID, err = decodeRole(m.Type(), p)
	return err
}

// GetAsyncRequest is OFPT_GET_ASYNC_REQUEST.
type GetAsyncRequest struct{ emptyBody }

func (*GetAsyncRequest) Type() Type                  { return TypeGetAsyncRequest }
func (m *GetAsyncRequest) decodeBody(p []byte) error { return decodeEmpty(m.Type(), p) }

// GetAsyncReply is OFPT_GET_ASYNC_REPLY. Index 0 of each mask is for the master/equal role, 1 for slave.
type GetAsyncReply struct {
	PacketInMask, PortStatusMask, FlowRemovedMask [2]uint32
}

// SetAsync is OFPT_SET_ASYNC.
type SetAsync struct {
	PacketInMask, PortStatusMask, FlowRemovedMask [2]uint32
}

func appendAsync(b []byte, masks ...[2]uint32) []byte {
	for _, m := range masks {
		b = be.AppendUint32(b, m[0])
		b = be.AppendUint32(b, m[1])
	}
	return b
}

func decodeAsync(t Type, p []byte, masks ...*[2]uint32) error {
	if err := needLen(t, p, 24); err != nil {
		return err
	}
	for i, m := range masks {
		m[0], m[1] = be.Uint32(p[8*i:]), be.Uint32(p[8*i+4:])
	}
	return nil
}

func (*GetAsyncReply) Type() Type { return TypeGetAsyncReply }
func (*GetAsyncReply) Len() int   { return 32 }
func (m *GetAsyncReply) appendBody(b []byte) []byte {
	return appendAsync(b, m.PacketInMask, m.PortStatusMask, m.FlowRemovedMask)
}
func (m *GetAsyncReply) decodeBody(p []byte) error {
	return decodeAsync(m.Type(), p, &m.PacketInMask, &m.PortStatusMask, &m.FlowRemovedMask)
}

func (*SetAsync) Type() Type { return TypeSetAsync }
func (*SetAsync) Len() int   { return 32 }
func (m *SetAsync) appendBody(b []byte) []byte {
	return appendAsync(b, m.PacketInMask, m.PortStatusMask, m.FlowRemovedMask)
}
func (m *SetAsync) decodeBody(p []byte) error {
	return decodeAsync(m.Type(), p, &m.PacketInMask, &m.PortStatusMask, &m.FlowRemovedMask)
}

// MeterBand is one band of a meter (struct ofp_meter_band_*): MeterBandDrop, MeterBandDSCPRemark (uses
// PrecLevel) or MeterBandExperimenter (uses Experimenter and Data, padded to 8 by the encoder).
type MeterBand struct {
	Type         uint16
	Rate         uint32
	BurstSize    uint32
	PrecLevel    uint8
	Experimenter uint32
	Data         []byte
}

func (mb *MeterBand) Len() int {
	if mb.Type == MeterBandExperimenter {
		return pad8(16 + len(mb.Data))
	}
	return 16
}

func (mb *MeterBand) appendTo(b []byte) []byte {
	n := mb.Len()
	b = be.AppendUint16(b, mb.Type)
	b = be.AppendUint16(b, uint16(n))
	b = be.AppendUint32(b, mb.Rate)
	b = be.AppendUint32(b, mb.BurstSize)
	switch mb.Type {
	case MeterBandDSCPRemark:
		return append(b, mb.PrecLevel, 0, 0, 0)
	case MeterBandExperimenter:
		b = be.AppendUint32(b, mb.Experimenter)
		b = append(b, mb.Data...)
		return appendZeros(b, n-16-len(mb.Data))
	}
	return append(b, 0, 0, 0, 0)
}

func bandsLen(bs []MeterBand) int {
	n := 0
	for i := range bs {
		n += bs[i].Len()
	}
	return n
}

func appendBands(b []byte, bs []MeterBand) []byte {
	for i := range bs {
		b = bs[i].appendTo(b)
	}
	return b
}

func decodeBands(p []byte) ([]MeterBand, error) {
	var bs []MeterBand
	for len(p) > 0 {
		if len(p) < 16 {
			return nil, errBadLen("meter band truncated (%d bytes)", len(p))
		}
		t, n := be.Uint16(p), int(be.Uint16(p[2:]))
		if n < 16 || n%8 != 0 || n > len(p) {
			return nil, errBadLen("meter band length %d invalid (%d bytes left)", n, len(p))
		}
		mb := MeterBand{Type: t, Rate: be.Uint32(p[4:]), BurstSize: be.Uint32(p[8:])}
		switch t {
		case MeterBandDrop:
		case MeterBandDSCPRemark:
			mb.PrecLevel = p[12]
		case MeterBandExperimenter:
			mb.Experimenter, mb.Data = be.Uint32(p[12:]), p[16:n]
		default:
			return nil, decodeErr(ErrTypeMeterModFailed, MeterModFailedBadBand, "unknown meter band type %d", t)
		}
		if t != MeterBandExperimenter && n != 16 {
			return nil, errBadLen("meter band type %d length %d, want 16", t, n)
		}
		bs = append(bs, mb)
		p = p[n:]
	}
	return bs, nil
}

// MeterMod is OFPT_METER_MOD.
type MeterMod struct {
	Command uint16
	Flags   uint16
	MeterID uint32
	Bands   []MeterBand
}

func (*MeterMod) Type() Type { return TypeMeterMod }
func (m *MeterMod) Len() int { return HeaderLen + 8 + bandsLen(m.Bands) }
func (m *MeterMod) appendBody(b []byte) []byte {
	b = be.AppendUint16(b, m.Command)
	b = be.AppendUint16(b, m.Flags)
	b = be.AppendUint32(b, m.MeterID)
	return appendBands(b, m.Bands)
}
func (m *MeterMod) decodeBody(p []byte) error {
	if err := needMin("meter-mod", p, 8); err != nil {
		return err
	}
	m.Command, m.Flags, m.MeterID = be.Uint16(p), be.Uint16(p[2:]), be.Uint32(p[4:])
	bs, err := decodeBands(p[8:])
	m.Bands = bs
	return err
}

// Unknown is a message of a type this package does not decode (including OFPT_QUEUE_GET_CONFIG_*);
// Body is the raw body after the header.
type Unknown struct {
	Kind Type
	Body []byte
}

func (m *Unknown) Type() Type                 { return m.Kind }
func (m *Unknown) Len() int                   { return HeaderLen + len(m.Body) }
func (m *Unknown) appendBody(b []byte) []byte { return append(b, m.Body...) }
func (m *Unknown) decodeBody(p []byte) error  { m.Body = p; return nil }
