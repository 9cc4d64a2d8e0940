package event

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// SDID is the structured-data ID of Portcullis's syslog parameters. 32473 is
// the private enterprise number reserved for documentation (RFC 5612).
const SDID = "portcullis@32473"

// FacilityDaemon is the default syslog facility (RFC 5424 table 1: 3).
const FacilityDaemon = 3

// SyslogHeader holds the RFC 5424 header fields that do not come from the
// event.
type SyslogHeader struct {
	Facility int    // 0..23
	Hostname string // "-" when empty
	AppName  string // "-" when empty
	PID      int    // PROCID; "-" when 0
}

// FormatRFC5424 appends e as one RFC 5424 message (without transport
// framing) to dst:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [portcullis@32473 k="v" ...] MSG
//
// PRI = facility*8 + SeverityCode(e.Severity); MSGID is the event type; the
// structured data carries the event's fields; MSG is e.Summary().
func FormatRFC5424(dst []byte, e *Event, h SyslogHeader) []byte {
	fac := h.Facility
	if fac < 0 || fac > 23 {
		fac = FacilityDaemon
	}
	sev := e.Severity
	if sev == "" {
		sev = DefaultSeverity(e.Type)
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(fac*8+SeverityCode(sev)), 10)
	dst = append(dst, ">1 "...)
	if e.Time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = e.Time.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	}
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.Hostname, 255)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, h.AppName, 48)
	dst = append(dst, ' ')
	if h.PID > 0 {
		dst = strconv.AppendInt(dst, int64(h.PID), 10)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, string(e.Type), 32)
	dst = append(dst, " ["...)
	dst = append(dst, SDID...)
	param := func(name, v string) {
		if v == "" {
			return
		}
		dst = append(dst, ' ')
		dst = append(dst, name...)
		dst = append(dst, '=', '"')
		for i := 0; i < len(v); i++ {
			switch c := v[i]; c {
			case '"', '\\', ']':
				dst = append(dst, '\\', c)
			default:
				dst = append(dst, c)
			}
		}
		dst = append(dst, '"')
	}
	num := func(name string, v int64) {
		if v != 0 {
			param(name, strconv.FormatInt(v, 10))
		}
	}
	num("id", int64(e.ID))
	if e.DPID != 0 {
		param("dpid", FormatDPID(e.DPID))
	}
	num("port", int64(e.Port))
	param("mac", e.MAC)
	param("ip", e.IP)
	if len(e.IPs) > 0 {
		param("ips", strings.Join(e.IPs, ","))
	}
	param("target", e.Target)
	param("kind", e.Kind)
	param("block_id", e.BlockID)
	num("level", int64(e.Level))
	param("scope", e.Scope)
	param("reason", e.Reason)
	num("probes", int64(e.Probes))
	num("count", int64(e.Count))
	if e.Expires != nil {
		param("expires", e.Expires.UTC().Format(time.RFC3339))
	}
	dst = append(dst, ']')
	if msg := e.Summary(); msg != "" {
		dst = append(dst, ' ')
		for i := 0; i < len(msg); i++ {
			c := msg[i]
			if c == '\n' || c == '\r' {
				c = ' '
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// appendHeaderField appends s limited to printable US-ASCII (RFC 5424
// PRINTUSASCII, %d33-126) and max characters, or "-" (NILVALUE) if empty.
func appendHeaderField(dst []byte, s string, max int) []byte {
	n := 0
	for i := 0; i < len(s) && n < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			dst = append(dst, c)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, '-')
	}
	return dst
}

// SyslogConfig says where Syslog sends messages.
type SyslogConfig struct {
	Network  string // udp (default), tcp, unix (datagram, then stream) or unixgram
	Address  string // host:port, or a socket path such as /dev/log
	AppName  string // default "portcullis"
	Hostname string // default os.Hostname()
	Facility int    // RFC 5424 facility; 0 means FacilityDaemon, -1 means kern (0)
}

// Syslog is a Sink sending RFC 5424 messages: one per datagram over UDP and
// unix datagram sockets, octet-counted (RFC 6587 section 3.4.1) over TCP,
// newline-terminated over unix stream sockets. A failed write is retried
// once on a fresh connection.
type Syslog struct {
	cfg    SyslogConfig
	hdr    SyslogHeader
	conn   net.Conn
	stream bool // framing needed
	octets bool // octet counting (tcp) rather than newline (unix stream)
	buf    []byte
	msg    []byte
}

var _ Sink = (*Syslog)(nil)

// Defaults of SyslogConfig's empty fields.
const (
	DefaultSyslogNetwork = "udp"
	DefaultSyslogAppName = "portcullis"
)

// DialSyslog connects to the syslog receiver. For UDP nothing is sent until
// the first event, so an absent receiver shows only as write errors.
func DialSyslog(cfg SyslogConfig) (*Syslog, error) {
	if cfg.Network == "" {
		cfg.Network = DefaultSyslogNetwork
	}
	switch cfg.Network {
	case "udp", "udp4", "udp6", "tcp", "tcp4", "tcp6", "unix", "unixgram":
	default:
		return nil, fmt.Errorf("event: syslog network %q: want udp, tcp, unix or unixgram", cfg.Network)
	}
	if cfg.Address == "" {
		return nil, errors.New("event: syslog address is empty")
	}
	if cfg.AppName == "" {
		cfg.AppName = DefaultSyslogAppName
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	fac := cfg.Facility
	if fac == 0 {
		fac = FacilityDaemon
	} else if fac < 0 {
		fac = 0
	}
	s := &Syslog{cfg: cfg, hdr: SyslogHeader{Facility: fac, Hostname: cfg.Hostname, AppName: cfg.AppName, PID: os.Getpid()}}
	if err := s.dial(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Syslog) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second}
	var err error
	switch s.cfg.Network {
	case "unix":
		if s.conn, err = d.Dial("unixgram", s.cfg.Address); err == nil {
			s.stream = false
			return nil
		}
		s.conn, err = d.Dial("unix", s.cfg.Address)
		s.stream, s.octets = true, false
	default:
		s.conn, err = d.Dial(s.cfg.Network, s.cfg.Address)
		s.stream = strings.HasPrefix(s.cfg.Network, "tcp")
		s.octets = s.stream
	}
	if err != nil {
		return fmt.Errorf("event: syslog dial %s %s: %w", s.cfg.Network, s.cfg.Address, err)
	}
	return nil
}

// Write sends e.
func (s *Syslog) Write(ctx context.Context, e Event) error {
	s.msg = FormatRFC5424(s.msg[:0], &e, s.hdr)
	s.buf = s.buf[:0]
	switch {
	case s.stream && s.octets:
		s.buf = strconv.AppendInt(s.buf, int64(len(s.msg)), 10)
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, s.msg...)
	case s.stream:
		s.buf = append(append(s.buf, s.msg...), '\n')
	default:
		s.buf = append(s.buf, s.msg...)
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn == nil {
			if err = s.dial(); err != nil {
				continue
			}
		}
		if dl, ok := ctx.Deadline(); ok {
			s.conn.SetWriteDeadline(dl)
		} else {
			s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		}
		if _, err = s.conn.Write(s.buf); err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
	}
	return fmt.Errorf("event: syslog write: %w", err)
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
