package notice

import (
	"encoding/binary"
	"net/netip"
)

// Header sizes and constants of the frame Frame builds.
const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	minFrameLen   = 60 // Ethernet minimum without FCS
	frameTTL      = 64
	protoUDP      = 17
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
)

// Frame returns the Ethernet frame that carries payload in one UDP datagram
// from srcIP:srcPort to dstIP:dstPort: the packet the controller sends out of
// the victim's switch port. IPv4 gets a header checksum, DF set and ID 0
// (RFC 6864); both families get a UDP checksum (mandatory for IPv6). Frames
// shorter than 60 bytes are zero-padded. IPv4-mapped IPv6 addresses count as
// IPv4.
//
// Frame returns nil if the addresses are not both IPv4 or both IPv6, or if
// the payload does not fit one unfragmented datagram (65507 bytes for IPv4,
// 65527 for IPv6).
func Frame(dstMAC, srcMAC [6]byte, dstIP, srcIP netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	dstIP, srcIP = dstIP.Unmap(), srcIP.Unmap()
	udpLen := udpHeaderLen + len(payload)
	var ipLen int
	switch {
	case dstIP.Is4() && srcIP.Is4():
		ipLen = ipv4HeaderLen
	case dstIP.Is6() && srcIP.Is6():
		ipLen = ipv6HeaderLen
	default:
		return nil
	}
	if ipLen == ipv4HeaderLen && ipLen+udpLen > 0xffff || udpLen > 0xffff {
		return nil // IPv4 total length or IPv6 payload length would overflow
	}
	total := max(ethHeaderLen+ipLen+udpLen, minFrameLen)
	b := make([]byte, total)

	copy(b[0:6], dstMAC[:])
	copy(b[6:12], srcMAC[:])
	ip := b[ethHeaderLen:]
	var udp []byte
	var sum uint32 // pseudo-header sum for the UDP checksum
	if ipLen == ipv4HeaderLen {
		binary.BigEndian.PutUint16(b[12:], etherTypeIPv4)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+udpLen))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF, offset 0
		ip[8] = frameTTL
		ip[9] = protoUDP
		s, d := srcIP.As4(), dstIP.As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(addBytes(0, ip[:ipv4HeaderLen])))
		sum = addBytes(0, ip[12:20])
		udp = ip[ipv4HeaderLen:]
	} else {
		binary.BigEndian.PutUint16(b[12:], etherTypeIPv6)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6] = protoUDP
		ip[7] = frameTTL
		s, d := srcIP.As16(), dstIP.As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
		sum = addBytes(0, ip[8:40])
		udp = ip[ipv6HeaderLen:]
	}
	sum += protoUDP + uint32(udpLen)

	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	copy(udp[udpHeaderLen:], payload)
	c := ^fold(addBytes(sum, udp[:udpLen]))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return b
}

// addBytes adds b to sum as big-endian 16-bit words (RFC 1071), padding an
// odd final byte with zero. sum must be folded before it can overflow:
// 65535 bytes add at most 32768 * 0xffff, well below 2^32.
func addBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold reduces a 32-bit one's-complement sum to 16 bits.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
