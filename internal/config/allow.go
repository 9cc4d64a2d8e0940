package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// AllowRule is one parsed allowlist entry: traffic from Prefix is never
// counted or blocked; with Ports, only traffic to those destination ports.
type AllowRule struct {
	Prefix netip.Prefix
	Ports  []uint16 // empty: every port
}

// String formats r the way ParseAllowRule reads it.
func (r AllowRule) String() string {
	s := r.Prefix.String()
	for i, p := range r.Ports {
		if i == 0 {
			s += ":"
		} else {
			s += ","
		}
		s += strconv.Itoa(int(p))
	}
	return s
}

// Contains reports whether traffic from ip to port is allowed by r.
func (r AllowRule) Contains(ip netip.Addr, port uint16) bool {
	if !r.Prefix.Contains(ip.Unmap()) {
		return false
	}
	return len(r.Ports) == 0 || slices.Contains(r.Ports, port)
}

// ParsePrefix parses an IPv4 or IPv6 CIDR ("10.0.0.0/8", "2001:db8::/32")
// or a bare address (a /32 or /128). A prefix with host bits set is an
// error, because it is most likely a typo.
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
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 prefixes in dotted form", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// ParseAllowRule parses "CIDR" or "CIDR:port,port,...", e.g. "10.0.0.0/8",
// "192.0.2.1/32:22,443", "2001:db8::/32", "2001:db8::1/128:53". Ports
// need the "/len" so that IPv6 colons are not mistaken for them; a bare
// address is allowed without ports.
func ParseAllowRule(s string) (AllowRule, error) {
	s = strings.TrimSpace(s)
	addr, ports := s, ""
	if slash := strings.IndexByte(s, '/'); slash >= 0 {
		if colon := strings.IndexByte(s[slash:], ':'); colon >= 0 {
			addr, ports = s[:slash+colon], s[slash+colon+1:]
			if ports == "" {
				return AllowRule{}, fmt.Errorf("%q: empty port list after ':'", s)
			}
		}
	}
	p, err := ParsePrefix(addr)
	if err != nil {
		return AllowRule{}, err
	}
	r := AllowRule{Prefix: p}
	if ports != "" {
		for _, f := range strings.Split(ports, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
			if err != nil || n == 0 {
				return AllowRule{}, fmt.Errorf("%q: port %q is not a number in 1-65535", s, f)
			}
			if !slices.Contains(r.Ports, uint16(n)) {
				r.Ports = append(r.Ports, uint16(n))
			}
		}
		slices.Sort(r.Ports)
	}
	return r, nil
}

// AllowRules parses Allowlist. On a validated Config it cannot fail.
func (b Block) AllowRules() ([]AllowRule, error) {
	out := make([]AllowRule, 0, len(b.Allowlist))
	for i, s := range b.Allowlist {
		r, err := ParseAllowRule(s)
		if err != nil {
			return nil, fmt.Errorf("config: block.allowlist[%d]: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// NeverBlockPrefixes parses NeverBlock. On a validated Config it cannot fail.
func (b Block) NeverBlockPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(b.NeverBlock))
	for i, s := range b.NeverBlock {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("config: block.never_block[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}
