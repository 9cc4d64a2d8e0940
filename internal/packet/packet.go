// Package packet turns a packet-in payload into a small, flat record of the
// fields that forwarding and scan detection need. Parsing never allocates:
// callers reuse one Packet per goroutine. Parse is safe for concurrent use
// on distinct Packets.
//
// PcapReader reads classic libpcap files (both byte orders, microsecond and
// nanosecond timestamps) for tests and replay tools.
package packet

import "net/netip"

// Packet is the parsed view of one Ethernet frame. Fields that do not apply
// to the frame are zero. Parse overwrites every field.
type Packet struct {
	EthDst, EthSrc [6]byte
	EthType        uint16 // after any VLAN tags
	VLAN           uint16 // VLAN ID of the outermost tag, 0 if untagged
	HasVLAN        bool

	// ARP (EthType 0x0806).
	ARPOp        uint16
	ARPSenderMAC [6]byte
	ARPSenderIP  netip.Addr
	ARPTargetIP  netip.Addr

	// IPv4 / IPv6.
	Src, Dst netip.Addr // invalid if not IP
	Proto    uint8      // IP protocol (IPv6: the upper-layer protocol after extension headers)
	TTL      uint8      // IPv4 TTL or IPv6 hop limit
	TOS      uint8      // IPv4 type of service or IPv6 traffic class (DSCP and ECN bits)
	IPID     uint16     // IPv4 identification
	DF       bool       // IPv4 don't-fragment
	Fragment bool       // a non-first fragment: no L4 header
	// FirstFragment is a first fragment of several (offset 0, more to
	// come); TinyFragment one too short to hold its whole transport header
	// (RFC 1858 section 3.1: the TCP flags travel in the second fragment),
	// whose L4 fields are then zero. FragID, FragOffset and FragLen (the
	// identification, the offset in bytes and the bytes of fragmentable
	// data this packet carries) are set for every fragment, IPv4 and IPv6.
	FirstFragment bool
	TinyFragment  bool
	FragID        uint32
	FragOffset    uint16
	FragLen       uint16
	IPLen         uint16 // IP total length (IPv4) or payload length (IPv6)

	// TCP / UDP / SCTP.
	SrcPort, DstPort uint16
	TCPFlags         uint16 // FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 NS=0x100
	TCPSeq, TCPAck   uint32
	TCPWindow        uint16
	TCPUrgent        uint16
	TCPOptions       []byte // raw TCP options, aliases the frame
	PayloadLen       int    // L4 payload length
	// Payload is the captured part of the L4 payload (after the TCP, UDP or
	// SCTP header, or after the 8-byte ICMP/ICMPv6 header); it aliases the
	// frame and may be shorter than PayloadLen when the frame was truncated.
	Payload []byte

	// ICMP / ICMPv6.
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16     // echo and timestamp
	NDTarget           netip.Addr // ICMPv6 neighbour solicitation/advertisement target

	// Inner is the header of the datagram quoted by an ICMP or ICMPv6 error
	// (destination unreachable, time exceeded, ...). Valid only when HasInner.
	HasInner bool
	Inner    struct {
		Src, Dst         netip.Addr
		Proto            uint8
		SrcPort, DstPort uint16
	}
}
