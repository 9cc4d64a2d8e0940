package ofp

import (
	"fmt"
)

// MultipartType is the type of a multipart request or reply (enum ofp_multipart_type).
type MultipartType uint16

// Multipart types.
const (
	MultipartDesc          MultipartType = 0      // OFPMP_DESC
	MultipartFlow          MultipartType = 1      // OFPMP_FLOW
	MultipartAggregate     MultipartType = 2      // OFPMP_AGGREGATE
	MultipartTable         MultipartType = 3      // OFPMP_TABLE
	MultipartPortStats     MultipartType = 4      // OFPMP_PORT_STATS
	MultipartQueue         MultipartType = 5      // OFPMP_QUEUE
	MultipartGroup         MultipartType = 6      // OFPMP_GROUP
	MultipartGroupDesc     MultipartType = 7      // OFPMP_GROUP_DESC
	MultipartGroupFeatures MultipartType = 8      // OFPMP_GROUP_FEATURES
	MultipartMeter         MultipartType = 9      // OFPMP_METER
	MultipartMeterConfig   MultipartType = 10     // OFPMP_METER_CONFIG
	MultipartMeterFeatures MultipartType = 11     // OFPMP_METER_FEATURES
	MultipartTableFeatures MultipartType = 12     // OFPMP_TABLE_FEATURES
	MultipartPortDesc      MultipartType = 13     // OFPMP_PORT_DESC
	MultipartExperimenter  MultipartType = 0xffff // OFPMP_EXPERIMENTER
)

var multipartNames = [...]string{"OFPMP_DESC", "OFPMP_FLOW", "OFPMP_AGGREGATE", "OFPMP_TABLE",
	"OFPMP_PORT_STATS", "OFPMP_QUEUE", "OFPMP_GROUP", "OFPMP_GROUP_DESC", "OFPMP_GROUP_FEATURES",
	"OFPMP_METER", "OFPMP_METER_CONFIG", "OFPMP_METER_FEATURES", "OFPMP_TABLE_FEATURES", "OFPMP_PORT_DESC"}

// String returns the spec name ("OFPMP_FLOW").
func (t MultipartType) String() string {
	if int(t) < len(multipartNames) {
		return multipartNames[t]
	}
	if t == MultipartExperimenter {
		return "OFPMP_EXPERIMENTER"
	}
	return fmt.Sprintf("OFPMP_UNKNOWN(%d)", uint16(t))
}

// MultipartBody is the body of a multipart request or reply. The set is closed: the request and reply
// body types of this package, and *UnknownMultipart.
type MultipartBody interface {
	MultipartType() MultipartType
	// Len is the encoded length of the body (after the 16-byte multipart header).
	Len() int
	appendTo(b []byte) []byte
}

// MultipartRequest is OFPT_MULTIPART_REQUEST.
type MultipartRequest struct {
	Flags uint16
	Body  MultipartBody
}

// MultipartReply is OFPT_MULTIPART_REPLY. A long reply arrives in several messages with the same xid,
// all but the last flagged with MultipartReplyMore; MergeMultipart joins them.
type MultipartReply struct {
	Flags uint16
	Body  MultipartBody
}

// More reports whether more parts of this reply follow (OFPMPF_REPLY_MORE).
func (r *MultipartReply) More() bool { return r.Flags&MultipartReplyMore != 0 }

func appendMultipart(b []byte, flags uint16, body MultipartBody) []byte {
	b = be.AppendUint16(b, uint16(body.MultipartType()))
	b = be.AppendUint16(b, flags)
	b = append(b, 0, 0, 0, 0)
	return body.appendTo(b)
}

func (*MultipartRequest) Type() Type { return TypeMultipartRequest }
func (m *MultipartRequest) Len() int { return HeaderLen + 8 + m.Body.Len() }
func (m *MultipartRequest) appendBody(b []byte) []byte {
	return appendMultipart(b, m.Flags, m.Body)
}
func (m *MultipartRequest) decodeBody(p []byte) error {
	if err := needMin("multipart request", p, 8); err != nil {
		return err
	}
	m.Flags = be.Uint16(p[2:])
	body, err := decodeMultipartRequest(MultipartType(be.Uint16(p)), p[8:])
	m.Body = body
	return err
}

func (*MultipartReply) Type() Type { return TypeMultipartReply }
func (m *MultipartReply) Len() int { return HeaderLen + 8 + m.Body.Len() }
func (m *MultipartReply) appendBody(b []byte) []byte {
	return appendMultipart(b, m.Flags, m.Body)
}
func (m *MultipartReply) decodeBody(p []byte) error {
	if err := needMin("multipart reply", p, 8); err != nil {
		return err
	}
	m.Flags = be.Uint16(p[2:])
	body, err := decodeMultipartReply(MultipartType(be.Uint16(p)), p[8:])
	m.Body = body
	return err
}

// UnknownMultipart is a multipart body of a type this package does not decode; Body is raw.
type UnknownMultipart struct {
	Kind MultipartType
	Body []byte
}

func (u *UnknownMultipart) MultipartType() MultipartType { return u.Kind }
func (u *UnknownMultipart) Len() int                     { return len(u.Body) }
func (u *UnknownMultipart) appendTo(b []byte) []byte     { return append(b, u.Body...) }

// Request bodies.

// DescRequest asks for the switch description (OFPMP_DESC).
type DescRequest struct{}

// FlowStatsRequest asks for individual flow statistics (OFPMP_FLOW). Use TableAll, PortAny and GroupAny
// for no restriction.
type FlowStatsRequest struct {
	TableID            uint8
	OutPort, OutGroup  uint32
	Cookie, CookieMask uint64
	Match              Match
}

// AggregateStatsRequest asks for aggregate flow statistics (OFPMP_AGGREGATE).
type AggregateStatsRequest struct {
	TableID            uint8
	OutPort, OutGroup  uint32
	Cookie, CookieMask uint64
	Match              Match
}

// TableStatsRequest asks for table statistics (OFPMP_TABLE).
type TableStatsRequest struct{}

// PortStatsRequest asks for port statistics (OFPMP_PORT_STATS); PortAny for all ports.
type PortStatsRequest struct{ PortNo uint32 }

// PortDescRequest asks for the port descriptions (OFPMP_PORT_DESC).
type PortDescRequest struct{}

// GroupDescRequest asks for the group descriptions (OFPMP_GROUP_DESC).
type GroupDescRequest struct{}

// MeterStatsRequest asks for meter statistics (OFPMP_METER); MeterAll for all meters.
type MeterStatsRequest struct{ MeterID uint32 }

// MeterConfigRequest asks for meter configuration (OFPMP_METER_CONFIG); MeterAll for all meters.
type MeterConfigRequest struct{ MeterID uint32 }

// MeterFeaturesRequest asks for the meter features (OFPMP_METER_FEATURES).
type MeterFeaturesRequest struct{}

func (*DescRequest) MultipartType() MultipartType           { return MultipartDesc }
func (*FlowStatsRequest) MultipartType() MultipartType      { return MultipartFlow }
func (*AggregateStatsRequest) MultipartType() MultipartType { return MultipartAggregate }
func (*TableStatsRequest) MultipartType() MultipartType     { return MultipartTable }
func (*PortStatsRequest) MultipartType() MultipartType      { return MultipartPortStats }
func (*PortDescRequest) MultipartType() MultipartType       { return MultipartPortDesc }
func (*GroupDescRequest) MultipartType() MultipartType      { return MultipartGroupDesc }
func (*MeterStatsRequest) MultipartType() MultipartType     { return MultipartMeter }
func (*MeterConfigRequest) MultipartType() MultipartType    { return MultipartMeterConfig }
func (*MeterFeaturesRequest) MultipartType() MultipartType  { return MultipartMeterFeatures }

func (*DescRequest) Len() int             { return 0 }
func (r *FlowStatsRequest) Len() int      { return 32 + r.Match.Len() }
func (r *AggregateStatsRequest) Len() int { return 32 + r.Match.Len() }
func (*TableStatsRequest) Len() int       { return 0 }
func (*PortStatsRequest) Len() int        { return 8 }
func (*PortDescRequest) Len() int         { return 0 }
func (*GroupDescRequest) Len() int        { return 0 }
func (*MeterStatsRequest) Len() int       { return 8 }
func (*MeterConfigRequest) Len() int      { return 8 }
func (*MeterFeaturesRequest) Len() int    { return 0 }

func (*DescRequest) appendTo(b []byte) []byte          { return b }
func (*TableStatsRequest) appendTo(b []byte) []byte    { return b }
func (*PortDescRequest) appendTo(b []byte) []byte      { return b }
func (*GroupDescRequest) appendTo(b []byte) []byte     { return b }
func (*MeterFeaturesRequest) appendTo(b []byte) []byte { return b }

func appendFlowStatsReq(b []byte, table uint8, outPort, outGroup uint32, cookie, mask uint64, m Match) []byte {
	b = append(b, table, 0, 0, 0)
	b = be.AppendUint32(b, outPort)
	b = be.AppendUint32(b, outGroup)
	b = append(b, 0, 0, 0, 0)
	b = be.AppendUint64(b, cookie)
	b = be.AppendUint64(b, mask)
	return m.appendTo(b)
}

func (r *FlowStatsRequest) appendTo(b []byte) []byte {
	return appendFlowStatsReq(b, r.TableID, r.OutPort, r.OutGroup, r.Cookie, r.CookieMask, r.Match)
}
func (r *AggregateStatsRequest) appendTo(b []byte) []byte {
	return appendFlowStatsReq(b, r.TableID, r.OutPort, r.OutGroup, r.Cookie, r.CookieMask, r.Match)
}
func (r *PortStatsRequest) appendTo(b []byte) []byte {
	return append(be.AppendUint32(b, r.PortNo), 0, 0, 0, 0)
}
func (r *MeterStatsRequest) appendTo(b []byte) []byte {
	return append(be.AppendUint32(b, r.MeterID), 0, 0, 0, 0)
}
func (r *MeterConfigRequest) appendTo(b []byte) []byte {
	return append(be.AppendUint32(b, r.MeterID), 0, 0, 0, 0)
}

func badMultipartLen(t MultipartType, format string, args ...any) *DecodeError {
	return errBadLen("%v: %s", t, fmt.Sprintf(format, args...))
}

func decodeFlowStatsReq(t MultipartType, p []byte) (FlowStatsRequest, error) {
	var r FlowStatsRequest
	if len(p) < 32 {
		return r, badMultipartLen(t, "request body %d bytes, need 32", len(p))
	}
	r.TableID, r.OutPort, r.OutGroup = p[0], be.Uint32(p[4:]), be.Uint32(p[8:])
	r.Cookie, r.CookieMask = be.Uint64(p[16:]), be.Uint64(p[24:])
	m, n, err := decodeMatch(p[32:])
	if err != nil {
		return r, err
	}
	if 32+n != len(p) {
		return r, badMultipartLen(t, "%d trailing bytes", len(p)-32-n)
	}
	r.Match = m
	return r, nil
}

func decodeMultipartRequest(t MultipartType, p []byte) (MultipartBody, error) {
	empty := func(b MultipartBody) (MultipartBody, error) {
		if len(p) != 0 {
			return nil, badMultipartLen(t, "request body %d bytes, want 0", len(p))
		}
		return b, nil
	}
	id8 := func() (uint32, error) {
		if len(p) != 8 {
			return 0, badMultipartLen(t, "request body %d bytes, want 8", len(p))
		}
		return be.Uint32(p), nil
	}
	switch t {
	case MultipartDesc:
		return empty(&DescRequest{})
	case MultipartTable:
		return empty(&TableStatsRequest{})
	case MultipartPortDesc:
		return empty(&PortDescRequest{})
	case MultipartGroupDesc:
		return empty(&GroupDescRequest{})
	case MultipartMeterFeatures:
		return empty(&MeterFeaturesRequest{})
	case MultipartFlow:
		r, err := decodeFlowStatsReq(t, p)
		if err != nil {
			return nil, err
		}
		return &r, nil
	case MultipartAggregate:
		r, err := decodeFlowStatsReq(t, p)
		if err != nil {
			return nil, err
		}
		a := AggregateStatsRequest(r)
		return &a, nil
	case MultipartPortStats:
		id, err := id8()
		if err != nil {
			return nil, err
		}
		return &PortStatsRequest{PortNo: id}, nil
	case MultipartMeter:
		id, err := id8()
		if err != nil {
			return nil, err
		}
		return &MeterStatsRequest{MeterID: id}, nil
	case MultipartMeterConfig:
		id, err := id8()
		if err != nil {
			return nil, err
		}
		return &MeterConfigRequest{MeterID: id}, nil
	}
	return &UnknownMultipart{Kind: t, Body: p}, nil
}

// Reply bodies.

// DescReply is the switch description (struct ofp_desc).
type DescReply struct {
	MfrDesc, HWDesc, SWDesc, SerialNum, DPDesc string
}

// FlowStats is one flow entry's statistics (struct ofp_flow_stats).
type FlowStats struct {
	TableID                  uint8
	DurationSec              uint32
	DurationNSec             uint32
	Priority                 uint16
	IdleTimeout, HardTimeout uint16
	Flags                    uint16
	Cookie                   uint64
	PacketCount, ByteCount   uint64
	Match                    Match
	Instructions             []Instruction
}

// FlowStatsReply lists flow statistics.
type FlowStatsReply struct{ Stats []FlowStats }

// AggregateStatsReply is the aggregate of the matching flows.
type AggregateStatsReply struct {
	PacketCount, ByteCount uint64
	FlowCount              uint32
}

// TableStats is one table's statistics (struct ofp_table_stats).
type TableStats struct {
	TableID      uint8
	ActiveCount  uint32
	LookupCount  uint64
	MatchedCount uint64
}

// TableStatsReply lists table statistics.
type TableStatsReply struct{ Stats []TableStats }

// PortStats is one port's statistics (struct ofp_port_stats).
type PortStats struct {
	PortNo                    uint32
	RxPackets, TxPackets      uint64
	RxBytes, TxBytes          uint64
	RxDropped, TxDropped      uint64
	RxErrors, TxErrors        uint64
	RxFrameErr, RxOverErr     uint64
	RxCRCErr, Collisions      uint64
	DurationSec, DurationNSec uint32
}

// PortStatsReply lists port statistics.
type PortStatsReply struct{ Stats []PortStats }

// PortDescReply lists the switch's ports.
type PortDescReply struct{ Ports []Port }

// GroupDesc describes one group (struct ofp_group_desc).
type GroupDesc struct {
	GroupType uint8
	GroupID   uint32
	Buckets   []Bucket
}

// GroupDescReply lists group descriptions.
type GroupDescReply struct{ Groups []GroupDesc }

// MeterBandStats counts one band's traffic.
type MeterBandStats struct{ PacketBandCount, ByteBandCount uint64 }

// MeterStats is one meter's statistics (struct ofp_meter_stats).
type MeterStats struct {
	MeterID                    uint32
	FlowCount                  uint32
	PacketInCount, ByteInCount uint64
	DurationSec, DurationNSec  uint32
	Bands                      []MeterBandStats
}

// MeterStatsReply lists meter statistics.
type MeterStatsReply struct{ Stats []MeterStats }

// MeterConfig is one meter's configuration (struct ofp_meter_config).
type MeterConfig struct {
	Flags   uint16
	MeterID uint32
	Bands   []MeterBand
}

// MeterConfigReply lists meter configurations.
type MeterConfigReply struct{ Configs []MeterConfig }

// MeterFeaturesReply is the switch's meter support (struct ofp_meter_features).
type MeterFeaturesReply struct {
	MaxMeter     uint32
	BandTypes    uint32
	Capabilities uint32
	MaxBands     uint8
	MaxColor     uint8
}

func (*DescReply) MultipartType() MultipartType           { return MultipartDesc }
func (*FlowStatsReply) MultipartType() MultipartType      { return MultipartFlow }
func (*AggregateStatsReply) MultipartType() MultipartType { return MultipartAggregate }
func (*TableStatsReply) MultipartType() MultipartType     { return MultipartTable }
func (*PortStatsReply) MultipartType() MultipartType      { return MultipartPortStats }
func (*PortDescReply) MultipartType() MultipartType       { return MultipartPortDesc }
func (*GroupDescReply) MultipartType() MultipartType      { return MultipartGroupDesc }
func (*MeterStatsReply) MultipartType() MultipartType     { return MultipartMeter }
func (*MeterConfigReply) MultipartType() MultipartType    { return MultipartMeterConfig }
func (*MeterFeaturesReply) MultipartType() MultipartType  { return MultipartMeterFeatures }

const (
	descLen         = 1056
	tableStatsLen   = 24
	portStatsLen    = 112
	aggregateLen    = 24
	meterFeatLen    = 16
	flowStatsFixed  = 48
	meterStatsFixed = 40
)

func (*DescReply) Len() int { return descLen }
func (r *FlowStatsReply) Len() int {
	n := 0
	for i := range r.Stats {
		n += r.Stats[i].Len()
	}
	return n
}
func (*AggregateStatsReply) Len() int { return aggregateLen }
func (r *TableStatsReply) Len() int   { return tableStatsLen * len(r.Stats) }
func (r *PortStatsReply) Len() int    { return portStatsLen * len(r.Stats) }
func (r *PortDescReply) Len() int     { return PortLen * len(r.Ports) }
func (r *GroupDescReply) Len() int {
	n := 0
	for i := range r.Groups {
		n += 8 + bucketsLen(r.Groups[i].Buckets)
	}
	return n
}
func (r *MeterStatsReply) Len() int {
	n := 0
	for i := range r.Stats {
		n += meterStatsFixed + 16*len(r.Stats[i].Bands)
	}
	return n
}
func (r *MeterConfigReply) Len() int {
	n := 0
	for i := range r.Configs {
		n += 8 + bandsLen(r.Configs[i].Bands)
	}
	return n
}
func (*MeterFeaturesReply) Len() int { return meterFeatLen }

// Len is the encoded length of one flow stats entry.
func (fs *FlowStats) Len() int {
	return flowStatsFixed + fs.Match.Len() + instructionsLen(fs.Instructions)
}

func (r *DescReply) appendTo(b []byte) []byte {
	b = appendCString(b, r.MfrDesc, 256)
	b = appendCString(b, r.HWDesc, 256)
	b = appendCString(b, r.SWDesc, 256)
	b = appendCString(b, r.SerialNum, 32)
	return appendCString(b, r.DPDesc, 256)
}
func (r *FlowStatsReply) appendTo(b []byte) []byte {
	for i := range r.Stats {
		fs := &r.Stats[i]
		b = be.AppendUint16(b, uint16(fs.Len()))
		b = append(b, fs.TableID, 0)
		b = be.AppendUint32(b, fs.DurationSec)
		b = be.AppendUint32(b, fs.DurationNSec)
		b = be.AppendUint16(b, fs.Priority)
		b = be.AppendUint16(b, fs.IdleTimeout)
		b = be.AppendUint16(b, fs.HardTimeout)
		b = be.AppendUint16(b, fs.Flags)
		b = append(b, 0, 0, 0, 0)
		b = be.AppendUint64(b, fs.Cookie)
		b = be.AppendUint64(b, fs.PacketCount)
		b = be.AppendUint64(b, fs.ByteCount)
		b = fs.Match.appendTo(b)
		b = appendInstructions(b, fs.Instructions)
	}
	return b
}
func (r *AggregateStatsReply) appendTo(b []byte) []byte {
	b = be.AppendUint64(b, r.PacketCount)
	b = be.AppendUint64(b, r.ByteCount)
	b = be.AppendUint32(b, r.FlowCount)
	return append(b, 0, 0, 0, 0)
}
func (r *TableStatsReply) appendTo(b []byte) []byte {
	for _, s := range r.Stats {
		b = append(b, s.TableID, 0, 0, 0)
		b = be.AppendUint32(b, s.ActiveCount)
		b = be.AppendUint64(b, s.LookupCount)
		b = be.AppendUint64(b, s.MatchedCount)
	}
	return b
}
func (r *PortStatsReply) appendTo(b []byte) []byte {
	for i := range r.Stats {
		s := &r.Stats[i]
		b = be.AppendUint32(b, s.PortNo)
		b = append(b, 0, 0, 0, 0)
		for _, v := range [...]uint64{s.RxPackets, s.TxPackets, s.RxBytes, s.TxBytes, s.RxDropped, s.TxDropped,
			s.RxErrors, s.TxErrors, s.RxFrameErr, s.RxOverErr, s.RxCRCErr, s.Collisions} {
			b = be.AppendUint64(b, v)
		}
		b = be.AppendUint32(b, s.DurationSec)
		b = be.AppendUint32(b, s.DurationNSec)
	}
	return b
}
func (r *PortDescReply) appendTo(b []byte) []byte {
	for i := range r.Ports {
		b = r.Ports[i].appendTo(b)
	}
	return b
}
func (r *GroupDescReply) appendTo(b []byte) []byte {
	for i := range r.Groups {
		g := &r.Groups[i]
		b = be.AppendUint16(b, uint16(8+bucketsLen(g.Buckets)))
		b = append(b, g.GroupType, 0)
		b = be.AppendUint32(b, g.GroupID)
		b = appendBuckets(b, g.Buckets)
	}
	return b
}
func (r *MeterStatsReply) appendTo(b []byte) []byte {
	for i := range r.Stats {
		s := &r.Stats[i]
		b = be.AppendUint32(b, s.MeterID)
		b = be.AppendUint16(b, uint16(meterStatsFixed+16*len(s.Bands)))
		b = append(b, 0, 0, 0, 0, 0, 0)
		b = be.AppendUint32(b, s.FlowCount)
		b = be.AppendUint64(b, s.PacketInCount)
		b = be.AppendUint64(b, s.ByteInCount)
		b = be.AppendUint32(b, s.DurationSec)
		b = be.AppendUint32(b, s.DurationNSec)
		for _, bs := range s.Bands {
			b = be.AppendUint64(b, bs.PacketBandCount)
			b = be.AppendUint64(b, bs.ByteBandCount)
		}
	}
	return b
}
func (r *MeterConfigReply) appendTo(b []byte) []byte {
	for i := range r.Configs {
		c := &r.Configs[i]
		b = be.AppendUint16(b, uint16(8+bandsLen(c.Bands)))
		b = be.AppendUint16(b, c.Flags)
		b = be.AppendUint32(b, c.MeterID)
		b = appendBands(b, c.Bands)
	}
	return b
}
func (r *MeterFeaturesReply) appendTo(b []byte) []byte {
	b = be.AppendUint32(b, r.MaxMeter)
	b = be.AppendUint32(b, r.BandTypes)
	b = be.AppendUint32(b, r.Capabilities)
	return append(b, r.MaxBands, r.MaxColor, 0, 0)
}

// entryLen reads a 16-bit length at off of an entry at the start of p and checks it against min and
// the bytes left; every list decoder uses it so each loop provably advances.
func entryLen(t MultipartType, p []byte, off, minLen int) (int, error) {
	if len(p) < minLen {
		return 0, badMultipartLen(t, "entry truncated (%d bytes, need %d)", len(p), minLen)
	}
	n := int(be.Uint16(p[off:]))
	if n < minLen || n > len(p) {
		return 0, badMultipartLen(t, "entry length %d invalid (%d bytes left)", n, len(p))
	}
	return n, nil
}

func decodeMultipartReply(t MultipartType, p []byte) (MultipartBody, error) {
	fixed := func(size int) error {
		if len(p)%size != 0 {
			return badMultipartLen(t, "reply body %d bytes is not a multiple of %d", len(p), size)
		}
		return nil
	}
	exact := func(size int) error {
		if len(p) != size {
			return badMultipartLen(t, "reply body %d bytes, want %d", len(p), size)
		}
		return nil
	}
	switch t {
	case MultipartDesc:
		if err := exact(descLen); err != nil {
			return nil, err
		}
		return &DescReply{
			MfrDesc: cstring(p[0:256]), HWDesc: cstring(p[256:512]), SWDesc: cstring(p[512:768]),
			SerialNum: cstring(p[768:800]), DPDesc: cstring(p[800:1056]),
		}, nil
	case MultipartFlow:
		r := &FlowStatsReply{}
		for len(p) > 0 {
			n, err := entryLen(t, p, 0, flowStatsFixed+8)
			if err != nil {
				return nil, err
			}
			e := p[:n]
			fs := FlowStats{
				TableID: e[2], DurationSec: be.Uint32(e[4:]), DurationNSec: be.Uint32(e[8:]),
				Priority: be.Uint16(e[12:]), IdleTimeout: be.Uint16(e[14:]), HardTimeout: be.Uint16(e[16:]),
				Flags: be.Uint16(e[18:]), Cookie: be.Uint64(e[24:]), PacketCount: be.Uint64(e[32:]),
				ByteCount: be.Uint64(e[40:]),
			}
			m, k, err := decodeMatch(e[flowStatsFixed:])
			if err != nil {
				return nil, err
			}
			is, err := decodeInstructions(e[flowStatsFixed+k:])
			if err != nil {
				return nil, err
			}
			fs.Match, fs.Instructions = m, is
			r.Stats = append(r.Stats, fs)
			p = p[n:]
		}
		return r, nil
	case MultipartAggregate:
		if err := exact(aggregateLen); err != nil {
			return nil, err
		}
		return &AggregateStatsReply{PacketCount: be.Uint64(p), ByteCount: be.Uint64(p[8:]), FlowCount: be.Uint32(p[16:])}, nil
	case MultipartTable:
		if err := fixed(tableStatsLen); err != nil {
			return nil, err
		}
		r := &TableStatsReply{}
		if len(p) > 0 {
			r.Stats = make([]TableStats, 0, len(p)/tableStatsLen)
		}
		for ; len(p) > 0; p = p[tableStatsLen:] {
			r.Stats = append(r.Stats, TableStats{TableID: p[0], ActiveCount: be.Uint32(p[4:]),
				LookupCount: be.Uint64(p[8:]), MatchedCount: be.Uint64(p[16:])})
		}
		return r, nil
	case MultipartPortStats:
		if err := fixed(portStatsLen); err != nil {
			return nil, err
		}
		r := &PortStatsReply{}
		if len(p) > 0 {
			r.Stats = make([]PortStats, 0, len(p)/portStatsLen)
		}
		for ; len(p) > 0; p = p[portStatsLen:] {
			var c [12]uint64
			for i := range c {
				c[i] = be.Uint64(p[8+8*i:])
			}
			r.Stats = append(r.Stats, PortStats{PortNo: be.Uint32(p),
				RxPackets: c[0], TxPackets: c[1], RxBytes: c[2], TxBytes: c[3], RxDropped: c[4], TxDropped: c[5],
				RxErrors: c[6], TxErrors: c[7], RxFrameErr: c[8], RxOverErr: c[9], RxCRCErr: c[10], Collisions: c[11],
				DurationSec: be.Uint32(p[104:]), DurationNSec: be.Uint32(p[108:])})
		}
		return r, nil
	case MultipartPortDesc:
		if err := fixed(PortLen); err != nil {
			return nil, err
		}
		r := &PortDescReply{}
		if len(p) > 0 {
			r.Ports = make([]Port, 0, len(p)/PortLen)
		}
		for ; len(p) > 0; p = p[PortLen:] {
			pt, err := decodePort(p)
			if err != nil {
				return nil, err
			}
			r.Ports = append(r.Ports, pt)
		}
		return r, nil
	case MultipartGroupDesc:
		r := &GroupDescReply{}
		for len(p) > 0 {
			n, err := entryLen(t, p, 0, 8)
			if err != nil {
				return nil, err
			}
			bs, err := decodeBuckets(p[8:n])
			if err != nil {
				return nil, err
			}
			r.Groups = append(r.Groups, GroupDesc{GroupType: p[2], GroupID: be.Uint32(p[4:]), Buckets: bs})
			p = p[n:]
		}
		return r, nil
	case MultipartMeter:
		// Two passes: the first checks every entry's length and counts
		// meters and bands, so the second fills one slice of each (a
		// switch answers every second with dozens of meters per port).
		var meters, bands int
		for q := p; len(q) > 0; {
			n, err := entryLen(t, q, 4, meterStatsFixed)
			if err != nil {
				return nil, err
			}
			if (n-meterStatsFixed)%16 != 0 {
				return nil, badMultipartLen(t, "meter stats length %d leaves a partial band", n)
			}
			meters++
			bands += (n - meterStatsFixed) / 16
			q = q[n:]
		}
		r := &MeterStatsReply{}
		if meters > 0 {
			r.Stats = make([]MeterStats, 0, meters)
		}
		var all []MeterBandStats
		if bands > 0 {
			all = make([]MeterBandStats, 0, bands)
		}
		for len(p) > 0 {
			n := int(be.Uint16(p[4:]))
			s := MeterStats{MeterID: be.Uint32(p), FlowCount: be.Uint32(p[12:]), PacketInCount: be.Uint64(p[16:]),
				ByteInCount: be.Uint64(p[24:]), DurationSec: be.Uint32(p[32:]), DurationNSec: be.Uint32(p[36:])}
			if n > meterStatsFixed {
				from := len(all)
				for q := p[meterStatsFixed:n]; len(q) > 0; q = q[16:] {
					all = append(all, MeterBandStats{PacketBandCount: be.Uint64(q), ByteBandCount: be.Uint64(q[8:])})
				}
				s.Bands = all[from:len(all):len(all)]
			}
			r.Stats = append(r.Stats, s)
			p = p[n:]
		}
		return r, nil
	case MultipartMeterConfig:
		r := &MeterConfigReply{}
		for len(p) > 0 {
			n, err := entryLen(t, p, 0, 8)
			if err != nil {
				return nil, err
			}
			bs, err := decodeBands(p[8:n])
			if err != nil {
				return nil, err
			}
			r.Configs = append(r.Configs, MeterConfig{Flags: be.Uint16(p[2:]), MeterID: be.Uint32(p[4:]), Bands: bs})
			p = p[n:]
		}
		return r, nil
	case MultipartMeterFeatures:
		if err := exact(meterFeatLen); err != nil {
			return nil, err
		}
		return &MeterFeaturesReply{MaxMeter: be.Uint32(p), BandTypes: be.Uint32(p[4:]), Capabilities: be.Uint32(p[8:]),
			MaxBands: p[12], MaxColor: p[13]}, nil
	}
	return &UnknownMultipart{Kind: t, Body: p}, nil
}

// MergeMultipart joins the parts of one multipart reply, in arrival order, into a single reply: list
// bodies are concatenated, and the result has OFPMPF_REPLY_MORE cleared. All parts must have the same
// multipart type, every part but the last must have More set and the last must not; a body type that
// is not a list (DESC, AGGREGATE, METER_FEATURES) must come in one part. Slices in the result alias the
// parts' buffers like the parts do, so those buffers must outlive the result.
func MergeMultipart(parts []*MultipartReply) (*MultipartReply, error) {
	if len(parts) == 0 {
		return nil, errBadLen("no multipart parts to merge")
	}
	for i, p := range parts {
		if p == nil || p.Body == nil {
			return nil, decodeErr(ErrTypeBadRequest, BadRequestBadMultipart, "multipart part %d has no body", i)
		}
	}
	kind := parts[0].Body.MultipartType()
	for i, p := range parts {
		if p.Body.MultipartType() != kind {
			return nil, decodeErr(ErrTypeBadRequest, BadRequestBadMultipart, "multipart part %d is not %v", i, kind)
		}
		if last := i == len(parts)-1; p.More() == last {
			return nil, decodeErr(ErrTypeBadRequest, BadRequestBadMultipart, "multipart part %d of %d has more=%v", i, len(parts), p.More())
		}
	}
	out := &MultipartReply{Flags: parts[len(parts)-1].Flags &^ MultipartReplyMore}
	if len(parts) == 1 {
		out.Body = parts[0].Body
		return out, nil
	}
	var err error
	switch kind {
	case MultipartFlow:
		r := &FlowStatsReply{}
		r.Stats, err = concat(parts, func(b *FlowStatsReply) []FlowStats { return b.Stats })
		out.Body = r
	case MultipartTable:
		r := &TableStatsReply{}
		r.Stats, err = concat(parts, func(b *TableStatsReply) []TableStats { return b.Stats })
		out.Body = r
	case MultipartPortStats:
		r := &PortStatsReply{}
		r.Stats, err = concat(parts, func(b *PortStatsReply) []PortStats { return b.Stats })
		out.Body = r
	case MultipartPortDesc:
		r := &PortDescReply{}
		r.Ports, err = concat(parts, func(b *PortDescReply) []Port { return b.Ports })
		out.Body = r
	case MultipartGroupDesc:
		r := &GroupDescReply{}
		r.Groups, err = concat(parts, func(b *GroupDescReply) []GroupDesc { return b.Groups })
		out.Body = r
	case MultipartMeter:
		r := &MeterStatsReply{}
		r.Stats, err = concat(parts, func(b *MeterStatsReply) []MeterStats { return b.Stats })
		out.Body = r
	case MultipartMeterConfig:
		r := &MeterConfigReply{}
		r.Configs, err = concat(parts, func(b *MeterConfigReply) []MeterConfig { return b.Configs })
		out.Body = r
	case MultipartDesc, MultipartAggregate, MultipartMeterFeatures:
		return nil, decodeErr(ErrTypeBadRequest, BadRequestBadMultipart, "%v reply split into %d parts", kind, len(parts))
	default:
		r := &UnknownMultipart{Kind: kind}
		r.Body, err = concat(parts, func(b *UnknownMultipart) []byte { return b.Body })
		out.Body = r
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// concat joins the list items of every part, each of which must have body type B.
func concat[B MultipartBody, T any](parts []*MultipartReply, items func(B) []T) ([]T, error) {
	var out []T
	for i, p := range parts {
		b, ok := p.Body.(B)
		if !ok {
			return nil, decodeErr(ErrTypeBadRequest, BadRequestBadMultipart, "multipart part %d body is %T", i, p.Body)
		}
		out = append(out, items(b)...)
	}
	return out, nil
}
