// Package allow is the one grammar for address prefixes and allowlist entries. The configuration
// (block.allowlist, block.never_block), the policy engine, the REST API and the CLI all parse with
// it, so an entry `portcullis config check` accepts is one `portcullis run`, the API and
// `portcullis allow add` accept too, with the same message when they do not.
//
// It is pure and imports only the standard library, so that policy (which must stay pure) and
// everything above it can import it.
package allow

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of destination ports; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// Entry is one allowlist entry: a prefix, and optionally the destination ports it covers (none:
// every port, and also traffic without ports such as ICMP).
type Entry struct {
	Prefix netip.Prefix
	Ports  []PortRange
}

// Syntax is the grammar in one line, for error hints and usage text.
const Syntax = "ADDR or CIDR, optionally with ports: 10.0.0.0/8, 192.0.2.1:22,443, 192.0.2.0/24:8000-8100, 2001:db8::/32, [2001:db8::1]:53 or [2001:db8::/32]:443"

// ParsePrefix parses an IPv4 or IPv6 CIDR ("10.0.0.0/8", "2001:db8::/32") or a bare address (a /32
// or /128). A prefix with host bits set is an error, because it is most likely a typo; a zone is an
// error; IPv4-mapped IPv6 addresses and prefixes (::ffff:10.0.0.0/104) are unmapped to IPv4.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty address")
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or 2001:db8::/32", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, m)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Parse parses one allowlist entry:
//
//	ADDR | CIDR                      10.0.0.1, 10.0.0.0/8, 2001:db8::1, 2001:db8::/32
//	IPV4:PORTS | IPV4-CIDR:PORTS     192.0.2.1:22, 192.0.2.0/24:22,443
//	[IPV6]:PORTS | [IPV6-CIDR]:PORTS [2001:db8::1]:53, [2001:db8::/32]:443
//	IPV6-CIDR:PORTS                  2001:db8::1/128:53 (older configs; the "/len" ends the address)
//
// PORTS is a comma-separated list of ports and inclusive ranges from 1 to 65535 ("22,80,8000-8100").
// An IPv6 address with ports and without brackets or "/len" is refused, since "2001:db8::1:53" is an
// address.
func Parse(s string) (Entry, error) {
	s = strings.TrimSpace(s)
	addr, ports, hasPorts := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Entry{}, fmt.Errorf("%q: missing ']'", s)
		}
		addr = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' {
				return Entry{}, fmt.Errorf("%q: want [IPV6]:PORTS or [IPV6-CIDR]:PORTS", s)
			}
			ports, hasPorts = rest[1:], true
		}
		if a, _, _ := strings.Cut(addr, "/"); !strings.Contains(a, ":") {
			return Entry{}, fmt.Errorf("%q: brackets are for IPv6; write IPv4 as 192.0.2.0/24:443", s)
		}
	case strings.Count(s, ":") == 1: // IPv4 with ports: IPv6 has two or more colons
		addr, ports, _ = strings.Cut(s, ":")
		hasPorts = true
	case strings.Contains(s, "/"): // IPv6 CIDR, perhaps followed by :PORTS
		slash := strings.IndexByte(s, '/')
		if colon := strings.IndexByte(s[slash:], ':'); colon >= 0 {
			addr, ports, hasPorts = s[:slash+colon], s[slash+colon+1:], true
		}
	}
	p, err := ParsePrefix(addr)
	if err != nil {
		if addr == s {
			return Entry{}, err
		}
		return Entry{}, fmt.Errorf("%q: %w", s, err)
	}
	e := Entry{Prefix: p}
	if hasPorts {
		if e.Ports, err = ParsePorts(ports); err != nil {
			return Entry{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	return e, nil
}

// ParsePorts parses a comma-separated list of ports and inclusive ranges ("22,80,8000-8100").
func ParsePorts(s string) ([]PortRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty port list after ':'")
	}
	var out []PortRange
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		l, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		h := l
		if isRange {
			if h, err = parsePort(hi); err != nil {
				return nil, err
			}
			if h < l {
				return nil, fmt.Errorf("port range %q is backwards", f)
			}
		}
		out = append(out, PortRange{l, h})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is not a number in 1-65535", s)
	}
	return uint16(n), nil
}

// String formats the entry the way Parse reads it, in the canonical form: IPv6 with ports in
// brackets.
func (e Entry) String() string {
	p := e.Prefix.String()
	if len(e.Ports) == 0 {
		return p
	}
	if e.Prefix.Addr().Is6() {
		p = "[" + p + "]"
	}
	return p + ":" + FormatPorts(e.Ports)
}

// FormatPorts formats ports the way ParsePorts reads them.
func FormatPorts(ports []PortRange) string {
	var b strings.Builder
	for i, r := range ports {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.Lo)))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.Hi)))
		}
	}
	return b.String()
}

// Contains reports whether traffic from ip to port is covered by e. Port 0 means "no port" (ICMP,
// ARP): only entries without ports cover it. IPv4-mapped IPv6 addresses match IPv4 entries.
func (e Entry) Contains(ip netip.Addr, port uint16) bool {
	if !e.Prefix.Contains(ip.Unmap()) {
		return false
	}
	if len(e.Ports) == 0 {
		return true
	}
	for _, r := range e.Ports {
		if port != 0 && port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}
