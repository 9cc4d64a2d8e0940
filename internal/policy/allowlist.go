package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// AllowEntry is one allowlist entry: a prefix, and optionally the ports it covers (none: every
// port, and also traffic without ports such as ICMP).
type AllowEntry struct {
	Prefix netip.Prefix
	Ports  []PortRange
}

// String formats the entry the way ParseAllowEntry reads it.
func (e AllowEntry) String() string {
	if len(e.Ports) == 0 {
		return e.Prefix.String()
	}
	ps := make([]string, len(e.Ports))
	for i, r := range e.Ports {
		if r.Lo == r.Hi {
			ps[i] = strconv.Itoa(int(r.Lo))
		} else {
			ps[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
		}
	}
	p := e.Prefix.String()
	if e.Prefix.Addr().Is6() {
		p = "[" + p + "]"
	}
	return p + ":" + strings.Join(ps, ",")
}

// ParseAllowEntry parses "ADDR", "CIDR", "CIDR:PORTS" or, for IPv6 with ports, "[CIDR]:PORTS", where
// PORTS is a comma-separated list of ports and ranges ("22,80,8000-8100"). A bare address is a /32 or
// /128.
func ParseAllowEntry(s string) (AllowEntry, error) {
	s = strings.TrimSpace(s)
	addr, ports := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: missing ]", s)
		}
		addr = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: want [CIDR]:PORTS", s)
			}
			ports = rest[1:]
		}
	case strings.Count(s, ":") == 1: // IPv4 with ports; IPv6 has two or more colons
		addr, ports, _ = strings.Cut(s, ":")
	}
	var e AllowEntry
	if strings.Contains(addr, "/") {
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: %w", s, err)
		}
		e.Prefix = p.Masked()
	} else {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: %w", s, err)
		}
		e.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	if e.Prefix.Addr().Is4In6() {
		e.Prefix = netip.PrefixFrom(e.Prefix.Addr().Unmap(), max(e.Prefix.Bits()-96, 0))
	}
	if ports == "" {
		if strings.HasSuffix(s, ":") {
			return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: empty port list", s)
		}
		return e, nil
	}
	for _, f := range strings.Split(ports, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(f), "-")
		l, err := parsePort(lo)
		if err != nil {
			return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: %w", s, err)
		}
		h := l
		if isRange {
			if h, err = parsePort(hi); err != nil {
				return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: %w", s, err)
			}
			if h < l {
				return AllowEntry{}, fmt.Errorf("policy: allowlist entry %q: port range %d-%d is backwards", s, l, h)
			}
		}
		e.Ports = append(e.Ports, PortRange{l, h})
	}
	return e, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// Allowlist is a set of prefixes, optionally limited to ports. The same type serves the allowlist
// (traffic that never counts as scanning) and the never-block list (addresses never blocked,
// whatever they do: gateways, DNS servers, the controller). The zero value is empty. It is immutable
// after construction and safe for concurrent use.
type Allowlist struct {
	entries []AllowEntry
}

// NewAllowlist returns a list of the given entries.
func NewAllowlist(entries ...AllowEntry) *Allowlist {
	return &Allowlist{entries: slices.Clone(entries)}
}

// ParseAllowlist parses entries in ParseAllowEntry's syntax.
func ParseAllowlist(specs []string) (*Allowlist, error) {
	l := &Allowlist{}
	for _, s := range specs {
		e, err := ParseAllowEntry(s)
		if err != nil {
			return nil, err
		}
		l.entries = append(l.entries, e)
	}
	return l, nil
}

// Entries returns a copy of the entries.
func (l *Allowlist) Entries() []AllowEntry {
	if l == nil {
		return nil
	}
	return slices.Clone(l.entries)
}

// Len is the number of entries.
func (l *Allowlist) Len() int {
	if l == nil {
		return 0
	}
	return len(l.entries)
}

// Contains reports whether traffic involving ip on port is allowed: some entry's prefix holds ip and
// the entry has no ports or lists port. Port 0 means "no port" (ICMP, ARP): only entries without
// ports match it. IPv4-mapped IPv6 addresses match IPv4 entries.
func (l *Allowlist) Contains(ip netip.Addr, port uint16) bool {
	if l == nil {
		return false
	}
	ip = ip.Unmap()
	for _, e := range l.entries {
		if !e.Prefix.Contains(ip) {
			continue
		}
		if len(e.Ports) == 0 {
			return true
		}
		for _, r := range e.Ports {
			if port != 0 && port >= r.Lo && port <= r.Hi {
				return true
			}
		}
	}
	return false
}

// ContainsAddr reports whether some entry's prefix holds ip, whatever its ports: the never-block
// check.
func (l *Allowlist) ContainsAddr(ip netip.Addr) bool {
	if l == nil {
		return false
	}
	ip = ip.Unmap()
	for _, e := range l.entries {
		if e.Prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// NoisyService reports whether a packet is a noisy service's own exchange, whose normal traffic
// looks like scanning (broadcast and multicast discovery, address configuration) and must never
// count as evidence. Only the protocol, direction and addresses the service uses qualify:
//
//   - DHCP and DHCPv6: UDP client 68 -> server 67 (broadcast or unicast) and 67 -> 68; 546 <-> 547;
//   - NetBIOS name and datagram (137, 138): UDP from the port to itself;
//   - mDNS (5353), LLMNR (5355), SSDP (1900): UDP from the port to itself, or to the service's
//     multicast group (224.0.0.251 / ff02::fb, 224.0.0.252 / ff02::1:3, 239.255.255.250 / ff02::c).
//
// A TCP first contact, or UDP to any other port, is never noisy whatever its source port (nmap -g
// 53/67/137/5353 chooses one to slip past such exemptions).
func NoisyService(proto uint8, dst netip.Addr, sport, dport uint16) bool {
	if proto != ipProtoUDP {
		return false
	}
	dst = dst.Unmap()
	switch {
	case (sport == 68 && dport == 67) || (sport == 67 && dport == 68),
		(sport == 546 && dport == 547) || (sport == 547 && dport == 546):
		return true
	case sport != dport && !dst.IsMulticast():
		return false
	}
	switch dport {
	case 137, 138:
		return sport == dport
	case 5353:
		return sport == dport || dst == mdns4 || dst == mdns6
	case 5355:
		return sport == dport || dst == llmnr4 || dst == llmnr6
	case 1900:
		return sport == dport || dst == ssdp4 || dst == ssdp6
	}
	return false
}

var (
	mdns4, mdns6   = netip.AddrFrom4([4]byte{224, 0, 0, 251}), netip.MustParseAddr("ff02::fb")
	llmnr4, llmnr6 = netip.AddrFrom4([4]byte{224, 0, 0, 252}), netip.MustParseAddr("ff02::1:3")
	ssdp4, ssdp6   = netip.AddrFrom4([4]byte{239, 255, 255, 250}), netip.MustParseAddr("ff02::c")
)
