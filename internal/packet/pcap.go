package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Classic libpcap file magics (the first four bytes of the file, as written
// by the producer in its own byte order).
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d

	// LinkTypeEthernet is LINKTYPE_ETHERNET, the only link type Parse reads.
	LinkTypeEthernet = 1

	pcapGlobalHeaderLen = 24
	pcapRecordHeaderLen = 16
	// MaxPcapRecord caps the bytes read for one record, whatever the file
	// says; a larger record is an error, not an allocation.
	MaxPcapRecord = 256 << 10
)

// Errors returned by PcapReader.
var (
	ErrPcapMagic  = errors.New("packet: not a classic pcap file (bad magic)")
	ErrPcapRecord = errors.New("packet: pcap record longer than the limit")
	ErrPcapShort  = errors.New("packet: truncated pcap file")
)

// PcapReader reads a classic libpcap file (microsecond or nanosecond
// timestamps, either byte order). It is for tests and replay tools; it is
// not safe for concurrent use.
type PcapReader struct {
	r        io.Reader
	order    binary.ByteOrder
	nano     bool
	snaplen  uint32
	linkType uint32
	hdr      [pcapRecordHeaderLen]byte
	buf      []byte
}

// NewPcapReader reads the global header from r and returns a reader
// positioned at the first record.
func NewPcapReader(r io.Reader) (*PcapReader, error) {
	var h [pcapGlobalHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrPcapShort
		}
		return nil, fmt.Errorf("packet: reading pcap header: %w", err)
	}
	pr := &PcapReader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[0:4]) == pcapMagicMicro:
		pr.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[0:4]) == pcapMagicMicro:
		pr.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[0:4]) == pcapMagicNano:
		pr.order, pr.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[0:4]) == pcapMagicNano:
		pr.order, pr.nano = binary.BigEndian, true
	default:
		return nil, ErrPcapMagic
	}
	pr.snaplen = pr.order.Uint32(h[16:20])
	pr.linkType = pr.order.Uint32(h[20:24]) & 0x0fffffff // upper bits: FCS info
	return pr, nil
}

// LinkType returns the file's link-layer type (LinkTypeEthernet for every
// capture Portcullis ships).
func (pr *PcapReader) LinkType() uint32 { return pr.linkType }

// Nanosecond reports whether the file stores nanosecond timestamps.
func (pr *PcapReader) Nanosecond() bool { return pr.nano }

// Next returns the next record's timestamp (UTC) and captured bytes. The
// frame is valid only until the following call to Next. At the end of the
// file it returns io.EOF; a record cut short returns ErrPcapShort.
func (pr *PcapReader) Next() (ts time.Time, frame []byte, err error) {
	if _, err := io.ReadFull(pr.r, pr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return time.Time{}, nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return time.Time{}, nil, ErrPcapShort
		}
		return time.Time{}, nil, fmt.Errorf("packet: reading pcap record: %w", err)
	}
	sec := pr.order.Uint32(pr.hdr[0:4])
	frac := pr.order.Uint32(pr.hdr[4:8])
	incl := pr.order.Uint32(pr.hdr[8:12])
	if incl > MaxPcapRecord {
		return time.Time{}, nil, ErrPcapRecord
	}
	n := int(incl)
	if cap(pr.buf) < n {
		pr.buf = make([]byte, n)
	}
	pr.buf = pr.buf[:n]
	if _, err := io.ReadFull(pr.r, pr.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return time.Time{}, nil, ErrPcapShort
		}
		return time.Time{}, nil, fmt.Errorf("packet: reading pcap record: %w", err)
	}
	nsec := int64(frac)
	if !pr.nano {
		nsec *= 1000
	}
	return time.Unix(int64(sec), nsec).UTC(), pr.buf, nil
}
