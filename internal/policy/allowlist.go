package policy

import (
	"net/netip"
	"slices"

	"portcullis/internal/allow"
)

// PortRange is an inclusive range of ports.
type PortRange = allow.PortRange

// AllowEntry is one allowlist entry: a prefix, and optionally the ports it covers (none: every
// port, and also traffic without ports such as ICMP).
type AllowEntry = allow.Entry

// ParseAllowEntry parses one entry in the grammar of package allow, the one the configuration, the
// API and the CLI use too.
func ParseAllowEntry(s string) (AllowEntry, error) { return allow.Parse(s) }

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
		if e.Contains(ip, port) {
			return true
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
