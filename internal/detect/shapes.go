package detect

import (
	"encoding/binary"
	"math/bits"

	"portcullis/internal/packet"
)

// nmap probe shapes. Sources: the nmap book, "TCP/IP Fingerprinting Methods
// Supported by Nmap" (probes sent: SEQ 1-6, ECN, T2-T7, U1, IE) and nmap's
// raw SYN scan as seen in ndpi_synscan.pcap.

// OS-detection shape bits.
const (
	shapeSEQ1 uint32 = 1 << iota // window 1
	shapeSEQ2                    // window 63
	shapeSEQ3                    // window 4
	shapeSEQ5                    // window 16
	shapeSEQ6                    // window 512
	shapeECN                     // SYN|ECE|CWR, window 3, urgent 0xF7F5
	shapeT2                      // NULL, window 128
	shapeT3                      // SYN|FIN|PSH|URG, window 256
	shapeT4                      // ACK, window 1024
	shapeT5                      // SYN, window 31337
	shapeT6                      // ACK, window 32768
	shapeT7                      // FIN|PSH|URG, window 65535
	shapeU1                      // UDP, 300 bytes of 'C'
	shapeIE1                     // echo request, code 9
	shapeIE2                     // echo request, TOS 4, 150 bytes
)

var shapeNames = [...]string{"SEQ1", "SEQ2", "SEQ3", "SEQ5", "SEQ6", "ECN", "T2", "T3", "T4", "T5", "T6", "T7", "U1", "IE1", "IE2"}

func shapeIndex(s uint32) int { return bits.TrailingZeros32(s) }

// nmapSYN reports nmap's raw SYN scan probe: a bare SYN with window 1024,
// 2048, 3072 or 4096 and a single MSS option.
func nmapSYN(p *packet.Packet) bool {
	switch p.TCPWindow {
	case 1024, 2048, 3072, 4096:
	default:
		return false
	}
	o := p.TCPOptions
	return p.TCPFlags&0x3f == packet.TCPSyn && len(o) == 4 && o[0] == 2 && o[1] == 4
}

// tsAllOnes reports a TCP timestamp option with TSval 0xFFFFFFFF and TSecr
// 0, which every nmap OS-detection TCP probe carries and no stack sends.
func tsAllOnes(o []byte) bool {
	for i := 0; i < len(o); {
		switch o[i] {
		case 0: // end of options
			return false
		case 1: // NOP
			i++
			continue
		}
		if i+1 >= len(o) || o[i+1] < 2 || i+int(o[i+1]) > len(o) {
			return false
		}
		if o[i] == 8 && o[i+1] == 10 {
			return binary.BigEndian.Uint32(o[i+2:]) == 0xffffffff && binary.BigEndian.Uint32(o[i+6:]) == 0
		}
		i += int(o[i+1])
	}
	return false
}

// tcpOSShape returns the OS-detection shape bit of p, or 0.
func tcpOSShape(p *packet.Packet) uint32 {
	f := p.TCPFlags & 0xff
	const fin, syn, psh, ack, urg, ece, cwr = packet.TCPFin, packet.TCPSyn, packet.TCPPsh, packet.TCPAck, packet.TCPUrg, packet.TCPEce, packet.TCPCwr
	if f == syn|ece|cwr && p.TCPWindow == 3 && p.TCPUrgent == 0xf7f5 {
		return shapeECN
	}
	if !tsAllOnes(p.TCPOptions) {
		return 0
	}
	switch {
	case f == syn:
		switch p.TCPWindow {
		case 1:
			return shapeSEQ1
		case 63:
			return shapeSEQ2
		case 4:
			return shapeSEQ3
		case 16:
			return shapeSEQ5
		case 512:
			return shapeSEQ6
		case 31337:
			return shapeT5
		}
	case f == 0 && p.TCPWindow == 128:
		return shapeT2
	case f == syn|fin|psh|urg && p.TCPWindow == 256:
		return shapeT3
	case f == ack && p.TCPWindow == 1024:
		return shapeT4
	case f == ack && p.TCPWindow == 32768:
		return shapeT6
	case f == fin|psh|urg && p.TCPWindow == 65535:
		return shapeT7
	}
	return 0
}

// udpOSProbe reports nmap's U1 probe: 300 bytes of 'C' to a closed port.
func udpOSProbe(p *packet.Packet) bool {
	if p.PayloadLen != 300 || len(p.Payload) == 0 {
		return false
	}
	for _, c := range p.Payload {
		if c != 'C' {
			return false
		}
	}
	return true
}

// icmpOSShape returns the IE probe shape of an echo request, or 0.
func icmpOSShape(p *packet.Packet) uint32 {
	switch {
	case p.ICMPCode == 9:
		return shapeIE1
	case p.ICMPCode == 0 && p.TOS == 4 && p.PayloadLen == 150:
		return shapeIE2
	}
	return 0
}
