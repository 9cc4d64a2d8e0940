package ofp

import (
	"encoding/binary"
	"fmt"
)

// Version is the OpenFlow wire version this package speaks (OpenFlow 1.3).
const Version uint8 = 0x04

// HeaderLen is the length of the OpenFlow header (struct ofp_header).
const HeaderLen = 8

// MaxLen is the largest encodable message: the header's length field is 16 bits.
const MaxLen = 0xffff

// Type is an OpenFlow message type (enum ofp_type).
type Type uint8

// Message types (OpenFlow 1.3.5 section 7.1, enum ofp_type).
const (
	TypeHello                 Type = 0  // OFPT_HELLO
	TypeError                 Type = 1  // OFPT_ERROR
	TypeEchoRequest           Type = 2  // OFPT_ECHO_REQUEST
	TypeEchoReply             Type = 3  // OFPT_ECHO_REPLY
	TypeExperimenter          Type = 4  // OFPT_EXPERIMENTER
	TypeFeaturesRequest       Type = 5  // OFPT_FEATURES_REQUEST
	TypeFeaturesReply         Type = 6  // OFPT_FEATURES_REPLY
	TypeGetConfigRequest      Type = 7  // OFPT_GET_CONFIG_REQUEST
	TypeGetConfigReply        Type = 8  // OFPT_GET_CONFIG_REPLY
	TypeSetConfig             Type = 9  // OFPT_SET_CONFIG
	TypePacketIn              Type = 10 // OFPT_PACKET_IN
	TypeFlowRemoved           Type = 11 // OFPT_FLOW_REMOVED
	TypePortStatus            Type = 12 // OFPT_PORT_STATUS
	TypePacketOut             Type = 13 // OFPT_PACKET_OUT
	TypeFlowMod               Type = 14 // OFPT_FLOW_MOD
	TypeGroupMod              Type = 15 // OFPT_GROUP_MOD
	TypePortMod               Type = 16 // OFPT_PORT_MOD
	TypeTableMod              Type = 17 // OFPT_TABLE_MOD
	TypeMultipartRequest      Type = 18 // OFPT_MULTIPART_REQUEST
	TypeMultipartReply        Type = 19 // OFPT_MULTIPART_REPLY
	TypeBarrierRequest        Type = 20 // OFPT_BARRIER_REQUEST
	TypeBarrierReply          Type = 21 // OFPT_BARRIER_REPLY
	TypeQueueGetConfigRequest Type = 22 // OFPT_QUEUE_GET_CONFIG_REQUEST
	TypeQueueGetConfigReply   Type = 23 // OFPT_QUEUE_GET_CONFIG_REPLY
	TypeRoleRequest           Type = 24 // OFPT_ROLE_REQUEST
	TypeRoleReply             Type = 25 // OFPT_ROLE_REPLY
	TypeGetAsyncRequest       Type = 26 // OFPT_GET_ASYNC_REQUEST
	TypeGetAsyncReply         Type = 27 // OFPT_GET_ASYNC_REPLY
	TypeSetAsync              Type = 28 // OFPT_SET_ASYNC
	TypeMeterMod              Type = 29 // OFPT_METER_MOD
)

var typeNames = [...]string{
	"OFPT_HELLO", "OFPT_ERROR", "OFPT_ECHO_REQUEST", "OFPT_ECHO_REPLY", "OFPT_EXPERIMENTER",
	"OFPT_FEATURES_REQUEST", "OFPT_FEATURES_REPLY", "OFPT_GET_CONFIG_REQUEST", "OFPT_GET_CONFIG_REPLY",
	"OFPT_SET_CONFIG", "OFPT_PACKET_IN", "OFPT_FLOW_REMOVED", "OFPT_PORT_STATUS", "OFPT_PACKET_OUT",
	"OFPT_FLOW_MOD", "OFPT_GROUP_MOD", "OFPT_PORT_MOD", "OFPT_TABLE_MOD", "OFPT_MULTIPART_REQUEST",
	"OFPT_MULTIPART_REPLY", "OFPT_BARRIER_REQUEST", "OFPT_BARRIER_REPLY", "OFPT_QUEUE_GET_CONFIG_REQUEST",
	"OFPT_QUEUE_GET_CONFIG_REPLY", "OFPT_ROLE_REQUEST", "OFPT_ROLE_REPLY", "OFPT_GET_ASYNC_REQUEST",
	"OFPT_GET_ASYNC_REPLY", "OFPT_SET_ASYNC", "OFPT_METER_MOD",
}

// String returns the spec name of t ("OFPT_FLOW_MOD"), or "OFPT_UNKNOWN(n)".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("OFPT_UNKNOWN(%d)", uint8(t))
}

// Header is the fixed OpenFlow header (struct ofp_header) that starts every message.
type Header struct {
	Version uint8
	Type    Type
	Length  uint16 // length of the whole message including this header
	Xid     uint32
}

// ParseHeader decodes the 8-byte header at the start of b. It needs len(b) >= HeaderLen and checks that
// Length >= HeaderLen; it does not look at the body, so a stream reader can use it to learn how many
// more bytes to read.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errBadLen("header needs %d bytes, have %d", HeaderLen, len(b))
	}
	h := Header{
		Version: b[0],
		Type:    Type(b[1]),
		Length:  binary.BigEndian.Uint16(b[2:]),
		Xid:     binary.BigEndian.Uint32(b[4:]),
	}
	if h.Length < HeaderLen {
		return h, errBadLen("header length %d below %d", h.Length, HeaderLen)
	}
	return h, nil
}

// AppendHeader appends the 8 header bytes to b.
func (h Header) AppendHeader(b []byte) []byte {
	b = append(b, h.Version, byte(h.Type))
	b = binary.BigEndian.AppendUint16(b, h.Length)
	return binary.BigEndian.AppendUint32(b, h.Xid)
}

// Message is one OpenFlow message. Every message type of this package is a pointer type implementing it;
// the set is closed (the encode and decode methods are unexported).
type Message interface {
	// Type is the message type carried in the header.
	Type() Type
	// Len is the full encoded length, header included.
	Len() int
	appendBody(b []byte) []byte
	decodeBody(body []byte) error
}

// Append appends the full encoding of m (header and body) with the given xid to b and returns the
// extended slice. The encoder computes every length and pad field itself; length fields in m are not
// consulted. Append panics if m encodes to more than MaxLen bytes, which no valid message does.
func Append(b []byte, xid uint32, m Message) []byte {
	n := m.Len()
	if n > MaxLen {
		panic(fmt.Sprintf("ofp: %v of %d bytes exceeds the 65535-byte limit", m.Type(), n))
	}
	b = append(b, Version, byte(m.Type()), byte(n>>8), byte(n))
	b = binary.BigEndian.AppendUint32(b, xid)
	return m.appendBody(b)
}

// Marshal returns the full encoding of m with the given xid in a new slice.
func Marshal(xid uint32, m Message) []byte {
	return Append(make([]byte, 0, m.Len()), xid, m)
}

// Unmarshal decodes b, which must hold exactly one message (len(b) == header length).
//
// Slices in the decoded message (payloads, OXM values, hardware addresses, raw bodies) alias b: they stay
// valid only while b is not modified. Unmarshal a copy of the bytes to keep a message beyond the life of
// a reused read buffer.
//
// A HELLO of any version decodes, so versions can be negotiated; any other message whose header version
// is not Version returns an error. Unknown message types decode to *Unknown. Errors are *DecodeError and
// carry the OFPT_ERROR type and code a controller should answer with.
func Unmarshal(b []byte) (Header, Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if int(h.Length) != len(b) {
		return h, nil, errBadLen("header length %d but message has %d bytes", h.Length, len(b))
	}
	if h.Type == TypeHello {
		// Hello elements exist since OpenFlow 1.3.1; a peer of another version may send a body we cannot
		// parse. Keep what parsed so the caller can still negotiate (and answer HELLO_FAILED).
		m := &Hello{HeaderVersion: h.Version}
		if err := m.decodeBody(b[HeaderLen:]); err != nil && h.Version == Version {
			return h, nil, err
		}
		return h, m, nil
	}
	if h.Version != Version {
		return h, nil, &DecodeError{ErrType: ErrTypeBadRequest, Code: BadRequestBadVersion,
			Reason: fmt.Sprintf("version %#x, want %#x", h.Version, Version)}
	}
	m := newMessage(h.Type)
	if err := m.decodeBody(b[HeaderLen:]); err != nil {
		return h, nil, err
	}
	return h, m, nil
}

// UnmarshalPacketIn decodes the OFPT_PACKET_IN message b into m, as
// Unmarshal would, reusing m's match fields' backing array: a reader that
// decodes every packet-in into one PacketIn allocates nothing. Whatever m
// held before is overwritten; m aliases b afterwards, as Unmarshal's result
// does. A message of another type is a *DecodeError (OFPBRC_BAD_TYPE).
func UnmarshalPacketIn(b []byte, m *PacketIn) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if int(h.Length) != len(b) {
		return h, errBadLen("header length %d but message has %d bytes", h.Length, len(b))
	}
	if h.Version != Version {
		return h, &DecodeError{ErrType: ErrTypeBadRequest, Code: BadRequestBadVersion,
			Reason: fmt.Sprintf("version %#x, want %#x", h.Version, Version)}
	}
	if h.Type != TypePacketIn {
		return h, &DecodeError{ErrType: ErrTypeBadRequest, Code: BadRequestBadType,
			Reason: fmt.Sprintf("%v, want OFPT_PACKET_IN", h.Type)}
	}
	fields := m.Match.Fields[:0]
	clear(fields[:cap(fields)]) // drop the old values' references into an earlier buffer
	*m = PacketIn{Match: Match{Fields: fields}}
	if err := m.decodeBody(b[HeaderLen:]); err != nil {
		m.Match.Fields = fields
		return h, err
	}
	return h, nil
}

// newMessage is the table from type code to an empty message of that type.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{HeaderVersion: Version}
	case TypeError:
		return &Error{}
	case TypeEchoRequest:
		return &EchoRequest{}
	case TypeEchoReply:
		return &EchoReply{}
	case TypeExperimenter:
		return &Experimenter{}
	case TypeFeaturesRequest:
		return &FeaturesRequest{}
	case TypeFeaturesReply:
		return &FeaturesReply{}
	case TypeGetConfigRequest:
		return &GetConfigRequest{}
	case TypeGetConfigReply:
		return &GetConfigReply{}
	case TypeSetConfig:
		return &SetConfig{}
	case TypePacketIn:
		return &PacketIn{}
	case TypeFlowRemoved:
		return &FlowRemoved{}
	case TypePortStatus:
		return &PortStatus{}
	case TypePacketOut:
		return &PacketOut{}
	case TypeFlowMod:
		return &FlowMod{}
	case TypeGroupMod:
		return &GroupMod{}
	case TypePortMod:
		return &PortMod{}
	case TypeTableMod:
		return &TableMod{}
	case TypeMultipartRequest:
		return &MultipartRequest{}
	case TypeMultipartReply:
		return &MultipartReply{}
	case TypeBarrierRequest:
		return &BarrierRequest{}
	case TypeBarrierReply:
		return &BarrierReply{}
	case TypeRoleRequest:
		return &RoleRequest{}
	case TypeRoleReply:
		return &RoleReply{}
	case TypeGetAsyncRequest:
		return &GetAsyncRequest{}
	case TypeGetAsyncReply:
		return &GetAsyncReply{}
	case TypeSetAsync:
		return &SetAsync{}
	case TypeMeterMod:
		return &MeterMod{}
	}
	return &Unknown{Kind: t}
}

// DecodeError is returned for bytes that are not a valid OpenFlow 1.3 message. ErrType and Code are the
// OFPT_ERROR type and code a controller should answer with (OpenFlow 1.3.5 section 7.4.4).
type DecodeError struct {
	ErrType ErrorType
	Code    uint16
	Reason  string
}

func (e *DecodeError) Error() string { return "ofp: " + e.Reason }

// AsError returns the OFPT_ERROR message answering the offending message orig: the spec asks for at
// least 64 bytes of it in the data field.
func (e *DecodeError) AsError(orig []byte) *Error {
	if len(orig) > 64 {
		orig = orig[:64]
	}
	return &Error{ErrType: e.ErrType, Code: e.Code, Data: orig}
}

func decodeErr(t ErrorType, code uint16, format string, args ...any) *DecodeError {
	return &DecodeError{ErrType: t, Code: code, Reason: fmt.Sprintf(format, args...)}
}

func errBadLen(format string, args ...any) *DecodeError {
	return decodeErr(ErrTypeBadRequest, BadRequestBadLen, format, args...)
}

// wire helpers

var be = binary.BigEndian

func pad8(n int) int { return (n + 7) &^ 7 }

func appendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

// needLen checks that a fixed-size body is exactly n bytes (or at least n with atLeast).
func needLen(t Type, body []byte, n int) error {
	if len(body) != n {
		return errBadLen("%v body is %d bytes, want %d", t, len(body), n)
	}
	return nil
}

func needMin(what string, b []byte, n int) error {
	if len(b) < n {
		return errBadLen("%s: %d bytes, need at least %d", what, len(b), n)
	}
	return nil
}

// cstring returns the NUL-terminated string in the fixed-size field b. The last byte is reserved for
// the terminator (as the encoder writes it), so a field without a NUL gives its first len(b)-1 bytes.
func cstring(b []byte) string {
	if len(b) > 0 {
		b = b[:len(b)-1]
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendCString appends s as a NUL-padded field of n bytes (truncated to n-1 bytes so it stays
// terminated).
func appendCString(b []byte, s string, n int) []byte {
	if len(s) > n-1 {
		s = s[:n-1]
	}
	b = append(b, s...)
	return appendZeros(b, n-len(s))
}
