package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"portcullis/internal/testenv"
	"testing"
	"time"
)

type rec struct {
	sec, frac uint32
	data      []byte
}

func pcapFile(order binary.AppendByteOrder, magic uint32, recs []rec) []byte {
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, LinkTypeEthernet)
	for _, r := range recs {
		b = order.AppendUint32(b, r.sec)
		b = order.AppendUint32(b, r.frac)
		b = order.AppendUint32(b, uint32(len(r.data)))
		b = order.AppendUint32(b, uint32(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

func TestPcapReader(t *testing.T) {
	recs := []rec{{1700000000, 250, []byte{1, 2, 3}}, {1700000001, 999999, bytes.Repeat([]byte{0xee}, 1500)}, {1700000002, 0, nil}}
	tests := []struct {
		name  string
		order binary.AppendByteOrder
		magic uint32
		nano  bool
	}{
		{"little-endian microseconds", binary.LittleEndian, pcapMagicMicro, false},
		{"big-endian microseconds", binary.BigEndian, pcapMagicMicro, false},
		{"little-endian nanoseconds", binary.LittleEndian, pcapMagicNano, true},
		{"big-endian nanoseconds", binary.BigEndian, pcapMagicNano, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewPcapReader(bytes.NewReader(pcapFile(tc.order, tc.magic, recs)))
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "LinkType", r.LinkType(), uint32(LinkTypeEthernet))
			eq(t, "Nanosecond", r.Nanosecond(), tc.nano)
			for i, want := range recs {
				ts, frame, err := r.Next()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				ns := int64(want.frac)
				if !tc.nano {
					ns *= 1000
				}
				eq(t, "ts", ts, time.Unix(int64(want.sec), ns).UTC())
				if !bytes.Equal(frame, want.data) {
					t.Fatalf("record %d: frame %x, want %x", i, frame, want.data)
				}
			}
			if _, _, err := r.Next(); err != io.EOF {
				t.Fatalf("after the last record: %v, want io.EOF", err)
			}
		})
	}
}

func TestPcapReaderErrors(t *testing.T) {
	good := pcapFile(binary.LittleEndian, pcapMagicMicro, []rec{{1, 2, []byte{1, 2, 3, 4}}})
	huge := pcapFile(binary.LittleEndian, pcapMagicMicro, nil)
	huge = binary.LittleEndian.AppendUint32(huge, 1)
	huge = binary.LittleEndian.AppendUint32(huge, 1)
	huge = binary.LittleEndian.AppendUint32(huge, 0xffffffff)
	huge = binary.LittleEndian.AppendUint32(huge, 0xffffffff)
	pcapng := append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, good[4:]...)

	if _, err := NewPcapReader(bytes.NewReader(good[:10])); !errors.Is(err, ErrPcapShort) {
		t.Errorf("short global header: %v", err)
	}
	if _, err := NewPcapReader(bytes.NewReader(pcapng)); !errors.Is(err, ErrPcapMagic) {
		t.Errorf("pcapng magic: %v", err)
	}
	for name, tc := range map[string]struct {
		file []byte
		want error
	}{
		"record header cut": {good[:24+10], ErrPcapShort},
		"record data cut":   {good[:len(good)-1], ErrPcapShort},
		"record too large":  {huge, ErrPcapRecord},
	} {
		r, err := NewPcapReader(bytes.NewReader(tc.file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, _, err := r.Next(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Next = %v, want %v", name, err, tc.want)
		}
	}
}

// pcapDir finds the shared captures: $PORTCULLIS_PCAPS, else
// ../../../shared/pcaps relative to this package.
func pcapDir(t testing.TB) string {
	dir := os.Getenv("PORTCULLIS_PCAPS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "pcaps")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.tsv")); err != nil {
		testenv.Missing(t, "shared captures not found (%v); set PORTCULLIS_PCAPS", err)
	}
	return dir
}

// TestSharedCaptures parses every frame of every shared capture. The
// expected counts for ndpi_synscan.pcap come from the capture's README and
// were checked with tshark:
//
//	tshark -r ndpi_synscan.pcap -Y 'ip.src==172.16.0.8 && tcp.flags.syn==1 && tcp.flags.ack==0'
//
// (1,994 SYNs to 1,000 distinct ports, window 1024/2048/3072/4096, MSS only)
// and 12 SYN-ACKs back.
func TestSharedCaptures(t *testing.T) {
	dir := pcapDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) < 11 {
		t.Fatalf("found %d captures in %s, want 11", len(files), dir)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewPcapReader(f)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			n := 0
			for {
				_, frame, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				// The only malformed frame in the set is ndpi_gnutella's
				// first record: 4 bytes of zeros (tshark: "Packet size
				// limit: inferred: 4 bytes").
				if err := Parse(frame, &p); err != nil && !(len(frame) < 14 && errors.Is(err, ErrShortEthernet)) {
					t.Errorf("frame %d: %v", n, err)
				}
			}
			if n == 0 {
				t.Fatal("no frames")
			}
		})
	}

	t.Run("synscan counts", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dir, "ndpi_synscan.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := NewPcapReader(f)
		if err != nil {
			t.Fatal(err)
		}
		scanner := v4("172.16.0.8")
		ports := map[uint16]bool{}
		syns, synacks, nmapShape := 0, 0, 0
		var p Packet
		for {
			_, frame, err := r.Next()
			if err != nil {
				break
			}
			if Parse(frame, &p) != nil || p.Proto != ProtoTCP {
				continue
			}
			switch p.TCPFlags & (TCPSyn | TCPAck) {
			case TCPSyn:
				if p.Src == scanner {
					syns++
					ports[p.DstPort] = true
					w := p.TCPWindow
					if (w == 1024 || w == 2048 || w == 3072 || w == 4096) && bytes.Equal(p.TCPOptions, nmapSYNOpts) {
						nmapShape++
					}
				}
			case TCPSyn | TCPAck:
				synacks++
			}
		}
		eq(t, "SYNs", syns, 1994)
		eq(t, "distinct ports", len(ports), 1000)
		eq(t, "nmap-shaped SYNs", nmapShape, 1994)
		eq(t, "SYN-ACKs", synacks, 12)
	})
}
