package policy

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Scope says where a block's drop flows go.
type Scope uint8

// Scopes.
const (
	// ScopeIngress drops only at the switch where the scanner's traffic entered.
	ScopeIngress Scope = iota
	// ScopeNetwork drops on every connected switch: at the ingress switch by port and MAC (and IP),
	// on the others by MAC.
	ScopeNetwork
)

// String returns "ingress" or "network".
func (s Scope) String() string {
	if s == ScopeNetwork {
		return "network"
	}
	return "ingress"
}

// ParseScope parses "ingress" or "network".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "ingress", "":
		return ScopeIngress, nil
	case "network":
		return ScopeNetwork, nil
	}
	return 0, fmt.Errorf("policy: unknown block scope %q (want ingress or network)", s)
}

// Source is where a scanner's traffic entered the network: the switch, its port and the MAC seen
// there. It is what a block attributes the scan to; an IP address alone never is.
type Source struct {
	DPID uint64
	Port uint32
	MAC  [6]byte
}

// Block is one decision to cut a source off.
type Block struct {
	ID     string
	Source Source
	// IPs are the source's addresses. They get drop flows of their own only when IPBound is set:
	// the controller sets it when forward.Switch.IPLivesAt confirmed every one of them lives behind
	// Source.Port with Source.MAC, so a spoofed (decoy) address never blocks the host it belongs to.
	IPs     []netip.Addr
	IPBound bool
	Reason  string // human-readable, e.g. "TRW: 4 failed first contacts"
	Kind    string // detection kind, e.g. "port-scan", "host-sweep", "manual"
	Created time.Time
	Expires time.Time // zero: until lifted by hand
	Level   int       // escalation step (0: first offence)
	Scope   Scope
	// IPOnly blocks only IPs, each at the ingress port (in_port + ip_src), and never the MAC: the
	// controller sets it when the source MAC belongs to a never-block host such as the gateway a
	// scan came through, so blocking the scanner does not cut off everything behind the router.
	IPOnly bool
	// Spoofed is set when the source used a MAC or addresses that live elsewhere (nmap -S, -D,
	// --spoof-mac, an idle scan's zombie, a MAC whose home is another port or switch): its flows
	// stay at the ingress switch whatever the scope, since what it claimed may be someone else's
	// everywhere else.
	Spoofed bool
	// PortWide drops everything that enters at Source.Port of the ingress switch: the source
	// spoofed at an access port with at most one real station, so the machine is the port (a
	// spoofer can change its MAC and addresses at will, never its port).
	PortWide bool
	// Cookie is the cookie of every flow of this block; zero means BlockCookie(ID).
	Cookie uint64
}

// BlockCookie returns the cookie for the flows of block id: kind block, and 40 bits of the id's
// FNV-1a hash, so the cookie is the same after a restart without being stored.
func BlockCookie(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return forward.Cookie(forward.KindBlock, h.Sum64())
}

// FlowCookie returns the cookie the block's flows carry.
func (b Block) FlowCookie() uint64 {
	if b.Cookie != 0 {
		return b.Cookie
	}
	return BlockCookie(b.ID)
}

// Active reports whether the block is in force at now.
func (b Block) Active(now time.Time) bool {
	return b.Expires.IsZero() || now.Before(b.Expires)
}

// maxHardTimeout is the largest hard timeout a flow can carry (16 bits of seconds, about 18 h).
const maxHardTimeout = 0xffff

// hardTimeout is the hard timeout for a block at now: the time left, rounded up. A block with no
// expiry, or with more time left than a flow can carry, gets 0 (no timeout): the controller removes
// those flows (UnblockFlows) when the block ends, and reconcile removes them after a restart.
func (b Block) hardTimeout(now time.Time) uint16 {
	if b.Expires.IsZero() {
		return 0
	}
	left := b.Expires.Sub(now)
	secs := (left + time.Second - 1) / time.Second
	if secs > maxHardTimeout {
		return 0
	}
	return uint16(secs)
}

// BlockFlows returns the drop flows of block b for switch dpid at now (nothing if the block is no
// longer active, or if dpid is not the ingress switch of an ingress-scoped block):
//
//   - at the ingress switch: in_port + eth_src, and in_port + ip_src for each bound IP (this catches
//     a scanner that changes its MAC on the same port);
//   - for a block by address (Source.DPID zero: an operator named an address that is not learned
//     anywhere): eth_src (if a MAC was named) and ip_src on every switch, whatever the scope;
//   - on other switches (network scope): eth_src only. An address is only known to live behind the
//     ingress port; elsewhere an ip_src drop could hit the real owner of an address the scanner
//     spoofed, so IP flows always carry the ingress in_port;
//   - a Spoofed block stays at the ingress switch whatever the scope (the MAC may be another
//     station's elsewhere); a PortWide block is one flow, in_port alone, at the ingress switch.
//
// Every flow sits in forward.TableAdmission at forward.PriorityBlock with no instructions (drop),
// carries b.FlowCookie() and a hard timeout of the time left.
func BlockFlows(b Block, dpid uint64, now time.Time) []ofp.Message {
	if !b.Active(now) {
		return nil
	}
	ingress := dpid == b.Source.DPID
	if !ingress && (b.Scope != ScopeNetwork || b.Spoofed || b.PortWide) && b.Source.DPID != 0 {
		return nil
	}
	hard := b.hardTimeout(now)
	cookie := b.FlowCookie()
	drop := func(fields ...ofp.OXM) *ofp.FlowMod {
		return &ofp.FlowMod{
			Cookie:      cookie,
			TableID:     forward.TableAdmission,
			Command:     ofp.FlowAdd,
			HardTimeout: hard,
			Priority:    forward.PriorityBlock,
			BufferID:    ofp.NoBuffer,
			OutPort:     ofp.PortAny,
			OutGroup:    ofp.GroupAny,
			Match:       ofp.Match{Fields: fields},
		}
	}
	var msgs []ofp.Message
	if b.Source.DPID == 0 {
		// A block by address (an operator named an IP or MAC that is not
		// learned behind any port): there is no ingress to attribute, so the
		// named addresses are dropped on every switch.
		if b.Source.MAC != ([6]byte{}) {
			msgs = append(msgs, drop(ofp.MatchEthSrc(b.Source.MAC[:])))
		}
		if b.IPBound {
			for _, ip := range b.IPs {
				if fs := ipSrc(ip); fs != nil {
					msgs = append(msgs, drop(fs...))
				}
			}
		}
		return msgs
	}
	if b.PortWide {
		return append(msgs, drop(ofp.MatchInPort(b.Source.Port)))
	}
	if b.IPOnly {
		// The source's MAC is a router's or another protected host's: drop
		// only the scanner's addresses where they enter, never the MAC.
		if !ingress {
			return nil
		}
		for _, ip := range b.IPs {
			if fs := ipSrc(ip); fs != nil {
				msgs = append(msgs, drop(append([]ofp.OXM{ofp.MatchInPort(b.Source.Port)}, fs...)...))
			}
		}
		return msgs
	}
	mac := ofp.MatchEthSrc(b.Source.MAC[:])
	if ingress {
		msgs = append(msgs, drop(ofp.MatchInPort(b.Source.Port), mac))
	} else {
		msgs = append(msgs, drop(mac))
	}
	if !b.IPBound || !ingress {
		return msgs
	}
	for _, ip := range b.IPs {
		ip = ip.Unmap()
		fs := []ofp.OXM{ofp.MatchInPort(b.Source.Port)}
		switch {
		case ip.Is4():
			fs = append(fs, ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPv4Src(ip))
		case ip.Is6():
			fs = append(fs, ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPv6Src(ip))
		default:
			continue
		}
		msgs = append(msgs, drop(fs...))
	}
	return msgs
}

// ipSrc is the match on one source address, nil if ip is not an address.
func ipSrc(ip netip.Addr) []ofp.OXM {
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		return []ofp.OXM{ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPv4Src(ip)}
	case ip.Is6():
		return []ofp.OXM{ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPv6Src(ip)}
	}
	return nil
}

// UnblockFlows returns the flow-mod that removes every flow of block b from a switch (by its exact
// cookie), whatever switch or scope they were installed for.
func UnblockFlows(b Block) []ofp.Message {
	return []ofp.Message{deleteCookie(b.FlowCookie())}
}

func deleteCookie(c uint64) *ofp.FlowMod {
	return &ofp.FlowMod{
		Cookie:     c,
		CookieMask: forward.CookieExactMask,
		TableID:    forward.TableAdmission,
		Command:    ofp.FlowDelete,
		BufferID:   ofp.NoBuffer,
		OutPort:    ofp.PortAny,
		OutGroup:   ofp.GroupAny,
	}
}

// DefaultEscalation is the block duration for the first, second, third and later offences.
var DefaultEscalation = []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Escalation returns how long to block a source that has priorOffences earlier blocks: the
// duration at that step, the last one for every offence beyond the list. A nil or empty list means
// DefaultEscalation.
func Escalation(durations []time.Duration, priorOffences int) time.Duration {
	if len(durations) == 0 {
		durations = DefaultEscalation
	}
	i := min(max(priorOffences, 0), len(durations)-1)
	return durations[i]
}
