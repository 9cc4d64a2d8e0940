package bench

import (
	"encoding/binary"

	"portcullis/ofp"
)

var be = binary.BigEndian

// Offsets into the messages the scanner reads (OpenFlow 1.3.5 sections
// 7.3.4.1 and 7.3.7): ofp_flow_mod's command and match, ofp_packet_out's
// actions_len and actions.
const (
	flowModCommandOff = 25
	flowModMatchOff   = 48
	packetOutALenOff  = 16
	packetOutActsOff  = 24
)

// flowModMAC returns the eth_src (or, failing that, eth_dst) value of an
// OFPFC_ADD flow-mod's match, without allocating. ok is false for other
// commands, matches without either field, or a message too short.
func flowModMAC(b []byte) (mac [6]byte, ok bool) {
	if len(b) < flowModMatchOff+4 || ofp.FlowModCommand(b[flowModCommandOff]) != ofp.FlowAdd {
		return mac, false
	}
	m := b[flowModMatchOff:]
	mlen := int(be.Uint16(m[2:]))
	if be.Uint16(m) != 1 || mlen < 4 || mlen > len(m) { // OFPMT_OXM
		return mac, false
	}
	var dst [6]byte
	haveDst := false
	for o := m[4:mlen]; len(o) >= 4; {
		class, field, n := be.Uint16(o), o[2]>>1, int(o[3])
		if 4+n > len(o) {
			break
		}
		if class == ofp.OXMClassOpenflowBasic && n >= 6 {
			switch field {
			case ofp.OXMEthSrc:
				copy(mac[:], o[4:10])
				return mac, true
			case ofp.OXMEthDst:
				copy(dst[:], o[4:10])
				haveDst = true
			}
		}
		o = o[4+n:]
	}
	return dst, haveDst
}

// packetOutMAC returns the source MAC of a packet-out's frame.
func packetOutMAC(b []byte) (mac [6]byte, ok bool) {
	if len(b) < packetOutActsOff {
		return mac, false
	}
	data := packetOutActsOff + int(be.Uint16(b[packetOutALenOff:]))
	if len(b) < data+12 {
		return mac, false
	}
	copy(mac[:], b[data+6:data+12])
	return mac, true
}
