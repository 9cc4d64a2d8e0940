package ofp

import (
	"net"
	"net/netip"
)

// OXM classes (enum ofp_oxm_class).
const (
	OXMClassNXM0          uint16 = 0x0000 // OFPXMC_NXM_0
	OXMClassNXM1          uint16 = 0x0001 // OFPXMC_NXM_1
	OXMClassOpenflowBasic uint16 = 0x8000 // OFPXMC_OPENFLOW_BASIC
	OXMClassExperimenter  uint16 = 0xffff // OFPXMC_EXPERIMENTER
)

// OXM fields of class OXMClassOpenflowBasic (enum oxm_ofb_match_fields).
const (
	OXMInPort       uint8 = 0  // OFPXMT_OFB_IN_PORT
	OXMInPhyPort    uint8 = 1  // OFPXMT_OFB_IN_PHY_PORT
	OXMMetadata     uint8 = 2  // OFPXMT_OFB_METADATA
	OXMEthDst       uint8 = 3  // OFPXMT_OFB_ETH_DST
	OXMEthSrc       uint8 = 4  // OFPXMT_OFB_ETH_SRC
	OXMEthType      uint8 = 5  // OFPXMT_OFB_ETH_TYPE
	OXMVlanVID      uint8 = 6  // OFPXMT_OFB_VLAN_VID
	OXMVlanPCP      uint8 = 7  // OFPXMT_OFB_VLAN_PCP
	OXMIPDSCP       uint8 = 8  // OFPXMT_OFB_IP_DSCP
	OXMIPECN        uint8 = 9  // OFPXMT_OFB_IP_ECN
	OXMIPProto      uint8 = 10 // OFPXMT_OFB_IP_PROTO
	OXMIPv4Src      uint8 = 11 // OFPXMT_OFB_IPV4_SRC
	OXMIPv4Dst      uint8 = 12 // OFPXMT_OFB_IPV4_DST
	OXMTCPSrc       uint8 = 13 // OFPXMT_OFB_TCP_SRC
	OXMTCPDst       uint8 = 14 // OFPXMT_OFB_TCP_DST
	OXMUDPSrc       uint8 = 15 // OFPXMT_OFB_UDP_SRC
	OXMUDPDst       uint8 = 16 // OFPXMT_OFB_UDP_DST
	OXMSCTPSrc      uint8 = 17 // OFPXMT_OFB_SCTP_SRC
	OXMSCTPDst      uint8 = 18 // OFPXMT_OFB_SCTP_DST
	OXMICMPv4Type   uint8 = 19 // OFPXMT_OFB_ICMPV4_TYPE
	OXMICMPv4Code   uint8 = 20 // OFPXMT_OFB_ICMPV4_CODE
	OXMARPOp        uint8 = 21 // OFPXMT_OFB_ARP_OP
	OXMARPSPA       uint8 = 22 // OFPXMT_OFB_ARP_SPA
	OXMARPTPA       uint8 = 23 // OFPXMT_OFB_ARP_TPA
	OXMARPSHA       uint8 = 24 // OFPXMT_OFB_ARP_SHA
	OXMARPTHA       uint8 = 25 // OFPXMT_OFB_ARP_THA
	OXMIPv6Src      uint8 = 26 // OFPXMT_OFB_IPV6_SRC
	OXMIPv6Dst      uint8 = 27 // OFPXMT_OFB_IPV6_DST
	OXMIPv6FLabel   uint8 = 28 // OFPXMT_OFB_IPV6_FLABEL
	OXMICMPv6Type   uint8 = 29 // OFPXMT_OFB_ICMPV6_TYPE
	OXMICMPv6Code   uint8 = 30 // OFPXMT_OFB_ICMPV6_CODE
	OXMIPv6NDTarget uint8 = 31 // OFPXMT_OFB_IPV6_ND_TARGET
	OXMIPv6NDSLL    uint8 = 32 // OFPXMT_OFB_IPV6_ND_SLL
	OXMIPv6NDTLL    uint8 = 33 // OFPXMT_OFB_IPV6_ND_TLL
	OXMMPLSLabel    uint8 = 34 // OFPXMT_OFB_MPLS_LABEL
	OXMMPLSTC       uint8 = 35 // OFPXMT_OFB_MPLS_TC
	OXMMPLSBOS      uint8 = 36 // OFPXMT_OFB_MPLS_BOS
	OXMPBBISID      uint8 = 37 // OFPXMT_OFB_PBB_ISID
	OXMTunnelID     uint8 = 38 // OFPXMT_OFB_TUNNEL_ID
	OXMIPv6ExtHdr   uint8 = 39 // OFPXMT_OFB_IPV6_EXTHDR
)

// The TCP-flags match Open vSwitch accepts in OpenFlow 1.3: an ONF experimenter OXM (ONF extension
// 1.3 EXT-109, ONFOXM_ET_TCP_FLAGS). OVS also knows NXM_NX_TCP_FLAGS (class NXM1, field 34); what it
// encodes itself for OpenFlow 1.3 is the ONF form, so MatchTCPFlags uses that.
const (
	ONFExperimenterID uint32 = 0x4f4e4600 // ONF_EXPERIMENTER_ID ("ONF\0")
	ONFOXMTCPFlags    uint8  = 42         // ONFOXM_ET_TCP_FLAGS
	NXMNXTCPFlags     uint8  = 34         // NXM_NX_TCP_FLAGS (class OXMClassNXM1)
)

// IP fragment matching. OpenFlow 1.3 has no OXM for it; Open vSwitch accepts its Nicira field
// NXM_NX_IP_FRAG (class NXM1, field 26, one byte, maskable; ovs-fields(7) "nw_frag") in OpenFlow 1.3
// matches too. Value and mask are made of the two bits below: nw_frag=no is 0/IPFragAny, yes is
// IPFragAny/IPFragAny, first is IPFragAny/IPFragAny|IPFragLater, later is both bits set under both,
// not_later is 0/IPFragLater.
const (
	NXMNXIPFrag uint8 = 26     // NXM_NX_IP_FRAG (class OXMClassNXM1)
	IPFragAny   uint8 = 1 << 0 // FLOW_NW_FRAG_ANY: the packet is a fragment
	IPFragLater uint8 = 1 << 1 // FLOW_NW_FRAG_LATER: a fragment with a nonzero offset
)

// TCP flag bits for MatchTCPFlags.
const (
	TCPFlagFIN uint16 = 1 << 0
	TCPFlagSYN uint16 = 1 << 1
	TCPFlagRST uint16 = 1 << 2
	TCPFlagPSH uint16 = 1 << 3
	TCPFlagACK uint16 = 1 << 4
	TCPFlagURG uint16 = 1 << 5
	TCPFlagECE uint16 = 1 << 6
	TCPFlagCWR uint16 = 1 << 7
	TCPFlagNS  uint16 = 1 << 8
)

// oxmBasicLen is the value length of each OpenFlow-basic field, used to validate decoded OXMs.
var oxmBasicLen = [...]uint8{
	OXMInPort: 4, OXMInPhyPort: 4, OXMMetadata: 8, OXMEthDst: 6, OXMEthSrc: 6, OXMEthType: 2,
	OXMVlanVID: 2, OXMVlanPCP: 1, OXMIPDSCP: 1, OXMIPECN: 1, OXMIPProto: 1, OXMIPv4Src: 4, OXMIPv4Dst: 4,
	OXMTCPSrc: 2, OXMTCPDst: 2, OXMUDPSrc: 2, OXMUDPDst: 2, OXMSCTPSrc: 2, OXMSCTPDst: 2,
	OXMICMPv4Type: 1, OXMICMPv4Code: 1, OXMARPOp: 2, OXMARPSPA: 4, OXMARPTPA: 4, OXMARPSHA: 6,
	OXMARPTHA: 6, OXMIPv6Src: 16, OXMIPv6Dst: 16, OXMIPv6FLabel: 4, OXMICMPv6Type: 1, OXMICMPv6Code: 1,
	OXMIPv6NDTarget: 16, OXMIPv6NDSLL: 6, OXMIPv6NDTLL: 6, OXMMPLSLabel: 4, OXMMPLSTC: 1, OXMMPLSBOS: 1,
	OXMPBBISID: 3, OXMTunnelID: 8, OXMIPv6ExtHdr: 2,
}

// OXM is one OpenFlow extensible match TLV (a match field, or the field of a set-field action).
// Value and Mask have equal length; a nil Mask means an exact match. For class OXMClassExperimenter
// the 32-bit experimenter id precedes the value on the wire and is held in Experimenter.
type OXM struct {
	Class        uint16
	Field        uint8
	Value, Mask  []byte
	Experimenter uint32 // only for Class == OXMClassExperimenter
}

// HasMask reports whether the OXM carries a mask.
func (o OXM) HasMask() bool { return o.Mask != nil }

// Len is the encoded length of o: 4-byte header, experimenter id if any, value, mask.
func (o OXM) Len() int { return o.wireLen() }

// wireLen is Len through a pointer, for the encoder's loops (an OXM is 64
// bytes: see appendTo).
func (o *OXM) wireLen() int {
	n := 4 + len(o.Value) + len(o.Mask)
	if o.Class == OXMClassExperimenter {
		n += 4
	}
	return n
}

func (o *OXM) appendTo(b []byte) []byte {
	// A pointer and one append for the header: the flow-mods of every
	// packet-in pass here, and an OXM copied by value (64 bytes) stalled on
	// its own spill to the stack (5% of the controller at 1,000 switches).
	fh := o.Field << 1
	if o.Mask != nil {
		fh |= 1
	}
	b = append(b, byte(o.Class>>8), byte(o.Class), fh, byte(o.wireLen()-4))
	if o.Class == OXMClassExperimenter {
		b = be.AppendUint32(b, o.Experimenter)
	}
	b = append(b, o.Value...)
	return append(b, o.Mask...)
}

// decodeOXM decodes one OXM TLV at the start of b and returns it and its length.
func decodeOXM(b []byte) (OXM, int, error) {
	if len(b) < 4 {
		return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "oxm header truncated (%d bytes)", len(b))
	}
	o := OXM{Class: be.Uint16(b), Field: b[2] >> 1}
	hasMask := b[2]&1 == 1
	plen := int(b[3])
	n := 4 + plen
	if plen == 0 {
		return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "oxm class %#x field %d has zero length", o.Class, o.Field)
	}
	if n > len(b) {
		return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "oxm class %#x field %d length %d overruns %d bytes", o.Class, o.Field, plen, len(b)-4)
	}
	p := b[4:n]
	if o.Class == OXMClassExperimenter {
		if len(p) < 4 {
			return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "experimenter oxm too short (%d bytes)", len(p))
		}
		o.Experimenter = be.Uint32(p)
		p = p[4:]
	}
	if hasMask {
		if len(p)%2 != 0 || len(p) == 0 {
			return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "masked oxm field %d has odd payload %d", o.Field, len(p))
		}
		half := len(p) / 2
		o.Value, o.Mask = p[:half:half], p[half:]
	} else {
		o.Value = p
	}
	if o.Class == OXMClassOpenflowBasic && int(o.Field) < len(oxmBasicLen) && len(o.Value) != int(oxmBasicLen[o.Field]) {
		return OXM{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "oxm field %d value is %d bytes, want %d", o.Field, len(o.Value), oxmBasicLen[o.Field])
	}
	return o, n, nil
}

// Match is an OpenFlow 1.3 match of type OFPMT_OXM: a list of OXM fields. The encoder adds the match
// header and pads to a multiple of 8 bytes.
type Match struct {
	Fields []OXM
}

const matchTypeOXM = 1 // OFPMT_OXM

// Get returns the first field of the given class and field number.
func (m Match) Get(class uint16, field uint8) (OXM, bool) {
	for _, f := range m.Fields {
		if f.Class == class && f.Field == field {
			return f, true
		}
	}
	return OXM{}, false
}

// InPort returns the value of the OXM IN_PORT field, present in every PacketIn from OVS.
func (m Match) InPort() (uint32, bool) {
	f, ok := m.Get(OXMClassOpenflowBasic, OXMInPort)
	if !ok || len(f.Value) != 4 {
		return 0, false
	}
	return be.Uint32(f.Value), true
}

// unpaddedLen is the value of the match's length field: 4 + the OXM bytes.
func (m Match) unpaddedLen() int {
	n := 4
	for i := range m.Fields {
		n += m.Fields[i].wireLen()
	}
	return n
}

// Len is the encoded length of the match including padding to 8 bytes.
func (m Match) Len() int { return pad8(m.unpaddedLen()) }

func (m Match) appendTo(b []byte) []byte {
	n := m.unpaddedLen()
	b = be.AppendUint16(b, matchTypeOXM)
	b = be.AppendUint16(b, uint16(n))
	for i := range m.Fields {
		b = m.Fields[i].appendTo(b)
	}
	return appendZeros(b, pad8(n)-n)
}

// decodeMatch decodes an ofp_match at the start of b and returns it and its padded length. The fields
// slice is allocated once, sized by the number of fields actually present.
func decodeMatch(b []byte) (Match, int, error) { return decodeMatchInto(b, nil) }

// decodeMatchInto is decodeMatch that puts the fields into dst's backing
// array when it has room for them all (UnmarshalPacketIn); the decoded
// match has nil Fields when there are none, as decodeMatch's.
func decodeMatchInto(b []byte, dst []OXM) (Match, int, error) {
	if len(b) < 4 {
		return Match{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "match header truncated (%d bytes)", len(b))
	}
	typ, n := be.Uint16(b), int(be.Uint16(b[2:]))
	if typ != matchTypeOXM {
		return Match{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadType, "match type %d, want OFPMT_OXM", typ)
	}
	if n < 4 {
		return Match{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "match length %d below 4", n)
	}
	padded := pad8(n)
	if padded > len(b) {
		return Match{}, 0, decodeErr(ErrTypeBadMatch, BadMatchBadLen, "match length %d overruns %d bytes", n, len(b))
	}
	fields := b[4:n]
	count := 0
	for p := fields; len(p) > 0; {
		_, k, err := decodeOXM(p)
		if err != nil {
			return Match{}, 0, err
		}
		p = p[k:]
		count++
	}
	var m Match
	if count > 0 {
		if cap(dst) >= count {
			m.Fields = dst[:0]
		} else {
			m.Fields = make([]OXM, 0, count)
		}
		for p := fields; len(p) > 0; {
			o, k, _ := decodeOXM(p)
			m.Fields = append(m.Fields, o)
			p = p[k:]
		}
	}
	return m, padded, nil
}

// Constructors for OpenFlow-basic OXMs. Exact matches unless named Masked or Prefix.

func basic(field uint8, value []byte) OXM {
	return OXM{Class: OXMClassOpenflowBasic, Field: field, Value: value}
}

// basicMasked builds a masked OXM; value bits outside the mask are cleared, as the spec requires
// (OFPBMC_BAD_WILDCARDS otherwise).
func basicMasked(field uint8, value, mask []byte) OXM {
	for i := range value {
		if i < len(mask) {
			value[i] &= mask[i]
		}
	}
	return OXM{Class: OXMClassOpenflowBasic, Field: field, Value: value, Mask: mask}
}

func u8(v uint8) []byte   { return []byte{v} }
func u16(v uint16) []byte { return be.AppendUint16(make([]byte, 0, 2), v) }
func u32(v uint32) []byte { return be.AppendUint32(make([]byte, 0, 4), v) }
func u64(v uint64) []byte { return be.AppendUint64(make([]byte, 0, 8), v) }
func u24(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }
func mac(a net.HardwareAddr) []byte {
	m := make([]byte, 6)
	copy(m, a)
	return m
}

// ip4 returns the 4 bytes of an IPv4 (or IPv4-mapped IPv6) address; any other address gives 0.0.0.0.
func ip4(a netip.Addr) []byte {
	a = a.Unmap()
	if !a.Is4() {
		return make([]byte, 4)
	}
	v := a.As4()
	return v[:]
}

// ip6 returns the 16 bytes of an address (IPv4 addresses in mapped form); the zero Addr gives ::.
func ip6(a netip.Addr) []byte {
	if !a.IsValid() {
		return make([]byte, 16)
	}
	v := a.As16()
	return v[:]
}

func prefixMask(bits, size int) []byte {
	m := make([]byte, size/8)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

func prefix4(field uint8, p netip.Prefix) OXM {
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	if bits < 0 || bits >= 32 {
		return basic(field, ip4(p.Addr()))
	}
	pm := netip.PrefixFrom(p.Addr().Unmap(), bits).Masked()
	return basicMasked(field, ip4(pm.Addr()), prefixMask(bits, 32))
}

func prefix6(field uint8, p netip.Prefix) OXM {
	bits := p.Bits()
	if bits < 0 || bits >= 128 || !p.Addr().Is6() {
		return basic(field, ip6(p.Addr()))
	}
	return basicMasked(field, ip6(p.Masked().Addr()), prefixMask(bits, 128))
}

// MatchInPort matches the ingress port.
func MatchInPort(p uint32) OXM { return basic(OXMInPort, u32(p)) }

// MatchInPhyPort matches the physical ingress port.
func MatchInPhyPort(p uint32) OXM { return basic(OXMInPhyPort, u32(p)) }

// MatchMetadata matches metadata under mask; a mask of all ones is an exact match.
func MatchMetadata(v, mask uint64) OXM {
	if mask == ^uint64(0) {
		return basic(OXMMetadata, u64(v))
	}
	return basicMasked(OXMMetadata, u64(v&mask), u64(mask))
}

// MatchEthDst matches the Ethernet destination.
func MatchEthDst(a net.HardwareAddr) OXM { return basic(OXMEthDst, mac(a)) }

// MatchEthDstMasked matches the Ethernet destination under mask.
func MatchEthDstMasked(a, mask net.HardwareAddr) OXM {
	return basicMasked(OXMEthDst, mac(a), mac(mask))
}

// MatchEthSrc matches the Ethernet source.
func MatchEthSrc(a net.HardwareAddr) OXM { return basic(OXMEthSrc, mac(a)) }

// MatchEthSrcMasked matches the Ethernet source under mask.
func MatchEthSrcMasked(a, mask net.HardwareAddr) OXM {
	return basicMasked(OXMEthSrc, mac(a), mac(mask))
}

// MatchEthType matches the EtherType.
func MatchEthType(t uint16) OXM { return basic(OXMEthType, u16(t)) }

// MatchVlanVID matches packets tagged with VLAN vid (it sets OFPVID_PRESENT).
func MatchVlanVID(vid uint16) OXM { return basic(OXMVlanVID, u16(VIDPresent|vid&0x0fff)) }

// MatchVlanNone matches packets without a VLAN tag.
func MatchVlanNone() OXM { return basic(OXMVlanVID, u16(VIDNone)) }

// MatchVlanPCP matches the VLAN priority.
func MatchVlanPCP(p uint8) OXM { return basic(OXMVlanPCP, u8(p)) }

// MatchIPDSCP matches the IP DSCP (6 bits).
func MatchIPDSCP(d uint8) OXM { return basic(OXMIPDSCP, u8(d)) }

// MatchIPECN matches the IP ECN bits.
func MatchIPECN(e uint8) OXM { return basic(OXMIPECN, u8(e)) }

// MatchIPProto matches the IP protocol number.
func MatchIPProto(p uint8) OXM { return basic(OXMIPProto, u8(p)) }

// MatchIPv4Src matches the IPv4 source; a must be IPv4 (or IPv4-mapped), otherwise 0.0.0.0 is used.
func MatchIPv4Src(a netip.Addr) OXM { return basic(OXMIPv4Src, ip4(a)) }

// MatchIPv4Dst matches the IPv4 destination; a must be IPv4 (or IPv4-mapped).
func MatchIPv4Dst(a netip.Addr) OXM { return basic(OXMIPv4Dst, ip4(a)) }

// MatchIPv4SrcPrefix matches IPv4 sources in p (a /32 is an exact match).
func MatchIPv4SrcPrefix(p netip.Prefix) OXM { return prefix4(OXMIPv4Src, p) }

// MatchIPv4DstPrefix matches IPv4 destinations in p (a /32 is an exact match).
func MatchIPv4DstPrefix(p netip.Prefix) OXM { return prefix4(OXMIPv4Dst, p) }

// MatchIPv6Src matches the IPv6 source.
func MatchIPv6Src(a netip.Addr) OXM { return basic(OXMIPv6Src, ip6(a)) }

// MatchIPv6Dst matches the IPv6 destination.
func MatchIPv6Dst(a netip.Addr) OXM { return basic(OXMIPv6Dst, ip6(a)) }

// MatchIPv6SrcPrefix matches IPv6 sources in p (a /128 is an exact match).
func MatchIPv6SrcPrefix(p netip.Prefix) OXM { return prefix6(OXMIPv6Src, p) }

// MatchIPv6DstPrefix matches IPv6 destinations in p (a /128 is an exact match).
func MatchIPv6DstPrefix(p netip.Prefix) OXM { return prefix6(OXMIPv6Dst, p) }

// MatchTCPSrc matches the TCP source port.
func MatchTCPSrc(p uint16) OXM { return basic(OXMTCPSrc, u16(p)) }

// MatchTCPDst matches the TCP destination port.
func MatchTCPDst(p uint16) OXM { return basic(OXMTCPDst, u16(p)) }

// MatchUDPSrc matches the UDP source port.
func MatchUDPSrc(p uint16) OXM { return basic(OXMUDPSrc, u16(p)) }

// MatchUDPDst matches the UDP destination port.
func MatchUDPDst(p uint16) OXM { return basic(OXMUDPDst, u16(p)) }

// MatchUDPSrcMasked matches the UDP source port under a bitwise mask (Open vSwitch accepts masks
// on OXM_OF_UDP_SRC; the OpenFlow 1.3 spec does not require it).
func MatchUDPSrcMasked(p, mask uint16) OXM { return basicMasked(OXMUDPSrc, u16(p), u16(mask)) }

// MatchUDPDstMasked matches the UDP destination port under a bitwise mask (see MatchUDPSrcMasked).
func MatchUDPDstMasked(p, mask uint16) OXM { return basicMasked(OXMUDPDst, u16(p), u16(mask)) }

// MatchSCTPSrc matches the SCTP source port.
func MatchSCTPSrc(p uint16) OXM { return basic(OXMSCTPSrc, u16(p)) }

// MatchSCTPDst matches the SCTP destination port.
func MatchSCTPDst(p uint16) OXM { return basic(OXMSCTPDst, u16(p)) }

// MatchICMPv4Type matches the ICMP type.
func MatchICMPv4Type(t uint8) OXM { return basic(OXMICMPv4Type, u8(t)) }

// MatchICMPv4Code matches the ICMP code.
func MatchICMPv4Code(c uint8) OXM { return basic(OXMICMPv4Code, u8(c)) }

// MatchICMPv6Type matches the ICMPv6 type.
func MatchICMPv6Type(t uint8) OXM { return basic(OXMICMPv6Type, u8(t)) }

// MatchICMPv6Code matches the ICMPv6 code.
func MatchICMPv6Code(c uint8) OXM { return basic(OXMICMPv6Code, u8(c)) }

// MatchARPOp matches the ARP opcode.
func MatchARPOp(op uint16) OXM { return basic(OXMARPOp, u16(op)) }

// MatchARPSPA matches the ARP sender protocol address (IPv4).
func MatchARPSPA(a netip.Addr) OXM { return basic(OXMARPSPA, ip4(a)) }

// MatchARPTPA matches the ARP target protocol address (IPv4).
func MatchARPTPA(a netip.Addr) OXM { return basic(OXMARPTPA, ip4(a)) }

// MatchARPSHA matches the ARP sender hardware address.
func MatchARPSHA(a net.HardwareAddr) OXM { return basic(OXMARPSHA, mac(a)) }

// MatchARPTHA matches the ARP target hardware address.
func MatchARPTHA(a net.HardwareAddr) OXM { return basic(OXMARPTHA, mac(a)) }

// MatchIPv6FLabel matches the IPv6 flow label (20 bits).
func MatchIPv6FLabel(l uint32) OXM { return basic(OXMIPv6FLabel, u32(l&0xfffff)) }

// MatchIPv6NDTarget matches the target address of an IPv6 neighbour discovery message.
func MatchIPv6NDTarget(a netip.Addr) OXM { return basic(OXMIPv6NDTarget, ip6(a)) }

// MatchIPv6NDSLL matches the source link-layer address option of a neighbour solicitation.
func MatchIPv6NDSLL(a net.HardwareAddr) OXM { return basic(OXMIPv6NDSLL, mac(a)) }

// MatchIPv6NDTLL matches the target link-layer address option of a neighbour advertisement.
func MatchIPv6NDTLL(a net.HardwareAddr) OXM { return basic(OXMIPv6NDTLL, mac(a)) }

// MatchMPLSLabel matches the MPLS label (20 bits).
func MatchMPLSLabel(l uint32) OXM { return basic(OXMMPLSLabel, u32(l&0xfffff)) }

// MatchMPLSTC matches the MPLS traffic class.
func MatchMPLSTC(tc uint8) OXM { return basic(OXMMPLSTC, u8(tc)) }

// MatchMPLSBOS matches the MPLS bottom-of-stack bit.
func MatchMPLSBOS(bos uint8) OXM { return basic(OXMMPLSBOS, u8(bos)) }

// MatchPBBISID matches the PBB I-SID (24 bits).
func MatchPBBISID(isid uint32) OXM { return basic(OXMPBBISID, u24(isid)) }

// MatchTunnelID matches the logical port / tunnel id metadata.
func MatchTunnelID(id uint64) OXM { return basic(OXMTunnelID, u64(id)) }

// MatchIPv6ExtHdr matches the IPv6 extension header pseudo-field (enum ofp_ipv6exthdr_flags).
func MatchIPv6ExtHdr(flags uint16) OXM { return basic(OXMIPv6ExtHdr, u16(flags)) }

// MatchIPFrag matches the fragment bits (IPFragAny, IPFragLater) under mask: Open vSwitch's
// NXM_NX_IP_FRAG, which needs an eth_type of IPv4 or IPv6. A mask of both bits is sent as an exact
// match.
func MatchIPFrag(value, mask uint8) OXM {
	mask &= IPFragAny | IPFragLater
	o := OXM{Class: OXMClassNXM1, Field: NXMNXIPFrag, Value: u8(value & mask)}
	if mask != IPFragAny|IPFragLater {
		o.Mask = u8(mask)
	}
	return o
}

// MatchTCPFlags matches TCP flags under mask (TCPFlagSYN, ...): the ONF experimenter OXM
// ONFOXM_ET_TCP_FLAGS, which is how Open vSwitch encodes tcp_flags in OpenFlow 1.3. A mask of 0x0fff
// or more is sent as an exact match. Like every TCP field it needs eth_type and ip_proto=6 prerequisites.
func MatchTCPFlags(flags, mask uint16) OXM {
	o := OXM{Class: OXMClassExperimenter, Field: ONFOXMTCPFlags, Experimenter: ONFExperimenterID, Value: u16(flags & mask)}
	if mask&0x0fff != 0x0fff {
		o.Mask = u16(mask)
	}
	return o
}
