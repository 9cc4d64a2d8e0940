package notice

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"portcullis/internal/testenv"
	"strconv"
	"strings"
	"testing"
)

// udpFrame is what parseFrame reads back out of a frame.
type udpFrame struct {
	dstMAC, srcMAC   [6]byte
	src, dst         netip.Addr
	srcPort, dstPort uint16
	ttl              uint8
	payload          []byte
}

var errFrame = errors.New("bad frame")

// parseFrame is an independent reader for the frames Frame builds: it checks
// every length and both checksums the way a receiving stack would.
func parseFrame(b []byte) (udpFrame, error) {
	var f udpFrame
	if len(b) < 14 {
		return f, errFrame
	}
	copy(f.dstMAC[:], b[0:6])
	copy(f.srcMAC[:], b[6:12])
	ip := b[14:]
	var udp []byte
	var pseudo []byte
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		if len(ip) < 20 || ip[0] != 0x45 || ip[9] != 17 {
			return f, errFrame
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total < 28 || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return f, errFrame
		}
		if checksum(ip[:20]) != 0 {
			return f, errors.New("bad IPv4 header checksum")
		}
		f.ttl = ip[8]
		f.src, f.dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		udp = ip[20:total]
		pseudo = append(append([]byte{}, ip[12:20]...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 || ip[6] != 17 {
			return f, errFrame
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if plen > len(ip)-40 {
			return f, errFrame
		}
		f.ttl = ip[7]
		f.src, f.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		udp = ip[40 : 40+plen]
		pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(plen>>8), byte(plen), 0, 0, 0, 17)
	default:
		return f, errFrame
	}
	if len(udp) < 8 || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		return f, errors.New("bad UDP length")
	}
	if binary.BigEndian.Uint16(udp[6:]) == 0 {
		return f, errors.New("UDP checksum missing")
	}
	if checksum(append(pseudo, udp...)) != 0 {
		return f, errors.New("bad UDP checksum")
	}
	f.srcPort, f.dstPort = binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:])
	f.payload = udp[8:]
	return f, nil
}

// checksum is the plain RFC 1071 algorithm; 0 means the data checks out.
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

var (
	victimMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	ctlMAC    = [6]byte{0x02, 0, 0, 0, 0, 0xfe}
)

func TestFrameParseBack(t *testing.T) {
	notice := Seal(testKey, sample())
	tests := []struct {
		name     string
		dst, src string
		payload  []byte
		wantLen  int
	}{
		{"ipv4 notice", "10.0.0.2", "10.0.0.254", notice, 14 + 20 + 8 + len(notice)},
		{"ipv6 notice", "2001:db8::2", "fe80::1", notice, 14 + 40 + 8 + len(notice)},
		{"ipv4 odd-length payload", "10.0.0.2", "10.0.0.254", []byte("odd"), 60},
		{"ipv4 empty payload padded to 60", "192.0.2.1", "192.0.2.2", nil, 60},
		{"ipv6 empty payload", "::1", "::2", nil, 62},
		{"ipv4-mapped counts as ipv4", "::ffff:10.0.0.2", "10.0.0.254", notice, 14 + 20 + 8 + len(notice)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, src := netip.MustParseAddr(tt.dst), netip.MustParseAddr(tt.src)
			b := Frame(victimMAC, ctlMAC, dst, src, 40000, DefaultPort, tt.payload)
			if len(b) != tt.wantLen {
				t.Fatalf("frame is %d bytes, want %d", len(b), tt.wantLen)
			}
			f, err := parseFrame(b)
			if err != nil {
				t.Fatalf("parse back: %v", err)
			}
			if f.dstMAC != victimMAC || f.srcMAC != ctlMAC || f.dst != dst.Unmap() || f.src != src.Unmap() ||
				f.srcPort != 40000 || f.dstPort != DefaultPort || f.ttl != 64 || !bytes.Equal(f.payload, tt.payload) {
				t.Errorf("parsed %+v", f)
			}
		})
	}
}

func TestFrameRefusesMixedFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::2")
	for _, p := range [][2]netip.Addr{{v4, v6}, {v6, v4}, {netip.Addr{}, v4}, {v4, netip.Addr{}}} {
		if b := Frame(victimMAC, ctlMAC, p[0], p[1], 1, 2, nil); b != nil {
			t.Errorf("Frame(%v, %v) = %d bytes, want nil", p[0], p[1], len(b))
		}
	}
	if b := Frame(victimMAC, ctlMAC, v4, v4, 1, 2, make([]byte, 65508)); b != nil {
		t.Error("IPv4 payload of 65508 bytes: want nil")
	}
	if b := Frame(victimMAC, ctlMAC, v4, v4, 1, 2, make([]byte, 65507)); b == nil {
		t.Error("IPv4 payload of 65507 bytes: want a frame")
	}
	if b := Frame(victimMAC, ctlMAC, v6, v6, 1, 2, make([]byte, 65527)); b == nil {
		t.Error("IPv6 payload of 65527 bytes: want a frame")
	} else if _, err := parseFrame(b); err != nil {
		t.Errorf("IPv6 jumbo-sized datagram: %v", err)
	}
}

// TestFrameZeroChecksumSentAsOnes finds a payload whose UDP checksum computes
// to zero and checks that it goes out as 0xffff (RFC 768, RFC 8200 8.1).
func TestFrameZeroChecksumSentAsOnes(t *testing.T) {
	dst, src := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.254")
	b := Frame(victimMAC, ctlMAC, dst, src, 1, 2, []byte{0, 0})
	// Choose the two payload bytes so the one's-complement sum becomes 0xffff.
	sum := binary.BigEndian.Uint16(b[14+20+6:])
	b = Frame(victimMAC, ctlMAC, dst, src, 1, 2, []byte{byte(sum >> 8), byte(sum)})
	if got := binary.BigEndian.Uint16(b[14+20+6:]); got != 0xffff {
		t.Fatalf("checksum field %#04x, want 0xffff", got)
	}
	if _, err := parseFrame(b); err != nil {
		t.Fatalf("parse back: %v", err)
	}
}

// TestFrameTshark has Wireshark's dissector validate the checksums, as a
// second opinion independent of parseFrame. Skipped without tshark.
func TestFrameTshark(t *testing.T) {
	tshark := testenv.Tool(t, "tshark")[0]
	notice := Seal(testKey, sample())
	frames := [][]byte{
		Frame(victimMAC, ctlMAC, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.254"), 6686, 6686, notice),
		Frame(victimMAC, ctlMAC, netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::fe"), 6686, 6686, notice),
	}
	var pcap []byte
	pcap = binary.LittleEndian.AppendUint32(pcap, 0xa1b2c3d4)
	pcap = binary.LittleEndian.AppendUint16(pcap, 2)
	pcap = binary.LittleEndian.AppendUint16(pcap, 4)
	pcap = append(pcap, make([]byte, 8)...)
	pcap = binary.LittleEndian.AppendUint32(pcap, 65535)
	pcap = binary.LittleEndian.AppendUint32(pcap, 1) // LINKTYPE_ETHERNET
	for i, f := range frames {
		pcap = binary.LittleEndian.AppendUint32(pcap, uint32(i))
		pcap = binary.LittleEndian.AppendUint32(pcap, 0)
		pcap = binary.LittleEndian.AppendUint32(pcap, uint32(len(f)))
		pcap = binary.LittleEndian.AppendUint32(pcap, uint32(len(f)))
		pcap = append(pcap, f...)
	}
	path := filepath.Join(t.TempDir(), "notice.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), tshark, "-r", path,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=,", "-e", "ip.checksum.status", "-e", "udp.checksum.status",
		"-e", "udp.dstport", "-e", "udp.length").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	// checksum.status: 0 bad, 1 good, 2 unverified.
	udpLen := len(notice) + 8
	want := []string{
		"1,1,6686," + itoa(udpLen),
		",1,6686," + itoa(udpLen),
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.Contains(l, "Running as user") { // tshark's root warning
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark says:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
