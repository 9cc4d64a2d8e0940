package policy

import (
	"errors"
	"fmt"
	"net/netip"

	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Pair is one direction of a conversation judged benign: packets from Src to Dst with protocol
// Proto (TCP, UDP or SCTP), and the given ports (0: any), entering the switch at InPort, the port
// behind which Src lives. A bypass names its ingress port so that a packet with Src's address
// from anywhere else (a spoofer, a forged answer) is still watched.
//
// An echo pair (EchoPair) is Proto ICMP or ICMPv6 with ICMPType the echo request or reply:
// the only ICMP a bypass covers, since ICMP errors are the failures detection counts.
type Pair struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ICMPType         uint8 // ICMP and ICMPv6 pairs: echo request or echo reply
	// InPort is where Src's packets enter; DstInPort where Dst's do (the Reverse's InPort).
	InPort, DstInPort uint32
}

// Reverse returns the other direction of the conversation.
func (p Pair) Reverse() Pair {
	return Pair{Src: p.Dst, Dst: p.Src, Proto: p.Proto, SrcPort: p.DstPort, DstPort: p.SrcPort, ICMPType: echoOther(p.ICMPType),
		InPort: p.DstInPort, DstInPort: p.InPort}
}

// ICMP echo types.
const (
	icmpEchoReply, icmpEcho       = 0, 8
	icmp6EchoRequest, icmp6EchoRe = 128, 129
)

// EchoPair is the echo requests from client to server, entering at clientPort, whose replies
// enter at serverPort (its Reverse). ICMPv6 when the addresses are IPv6.
func EchoPair(client, server netip.Addr, clientPort, serverPort uint32) Pair {
	p := Pair{Src: client, Dst: server, Proto: ipProtoICMP, ICMPType: icmpEcho, InPort: clientPort, DstInPort: serverPort}
	if client.Unmap().Is6() {
		p.Proto, p.ICMPType = ipProtoICMPv6, icmp6EchoRequest
	}
	return p
}

// echoOther maps an echo request type to its reply and back (0 stays 0 for other pairs).
func echoOther(t uint8) uint8 {
	switch t {
	case icmpEcho:
		return icmpEchoReply
	case icmpEchoReply:
		return icmpEcho
	case icmp6EchoRequest:
		return icmp6EchoRe
	case icmp6EchoRe:
		return icmp6EchoRequest
	}
	return t
}

// ErrBadPair is returned for a pair BypassFlow cannot express.
var ErrBadPair = errors.New("policy: bad bypass pair")

func (p Pair) match() ([]ofp.OXM, error) {
	src, dst := p.Src.Unmap(), p.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("%w: addresses %v and %v", ErrBadPair, p.Src, p.Dst)
	}
	if p.InPort == 0 || p.InPort > ofp.PortMax {
		return nil, fmt.Errorf("%w: ingress port %d (a bypass names where its source lives)", ErrBadPair, p.InPort)
	}
	fs := []ofp.OXM{ofp.MatchInPort(p.InPort)}
	if src.Is4() {
		fs = append(fs, ofp.MatchEthType(ethTypeIPv4), ofp.MatchIPProto(p.Proto), ofp.MatchIPv4Src(src), ofp.MatchIPv4Dst(dst))
	} else {
		fs = append(fs, ofp.MatchEthType(ethTypeIPv6), ofp.MatchIPProto(p.Proto), ofp.MatchIPv6Src(src), ofp.MatchIPv6Dst(dst))
	}
	var sp, dp func(uint16) ofp.OXM
	switch p.Proto {
	case ipProtoICMP, ipProtoICMPv6:
		v6 := p.Proto == ipProtoICMPv6
		if v6 != src.Is6() || p.SrcPort != 0 || p.DstPort != 0 {
			return nil, fmt.Errorf("%w: ICMP pair %v", ErrBadPair, p)
		}
		switch {
		case !v6 && (p.ICMPType == icmpEcho || p.ICMPType == icmpEchoReply):
			return append(fs, ofp.MatchICMPv4Type(p.ICMPType)), nil
		case v6 && (p.ICMPType == icmp6EchoRequest || p.ICMPType == icmp6EchoRe):
			return append(fs, ofp.MatchICMPv6Type(p.ICMPType)), nil
		}
		return nil, fmt.Errorf("%w: ICMP type %d (echoes only: ICMP errors must stay watched)", ErrBadPair, p.ICMPType)
	case ipProtoTCP:
		sp, dp = ofp.MatchTCPSrc, ofp.MatchTCPDst
	case ipProtoUDP:
		sp, dp = ofp.MatchUDPSrc, ofp.MatchUDPDst
	case ipProtoSCTP:
		sp, dp = ofp.MatchSCTPSrc, ofp.MatchSCTPDst
	default:
		return nil, fmt.Errorf("%w: protocol %d (TCP, UDP or SCTP only: ICMP errors must stay watched)", ErrBadPair, p.Proto)
	}
	if p.SrcPort != 0 {
		fs = append(fs, sp(p.SrcPort))
	}
	if p.DstPort != 0 {
		fs = append(fs, dp(p.DstPort))
	}
	return fs, nil
}

// BypassFlow returns the TableWatch flow that stops copying one direction of a conversation judged
// benign; it expires after idleTimeout seconds without traffic. Install one per direction (see
// Pair.Reverse). Name the service port: a bypass for "A to B port 53" keeps A's UDP to B's other
// ports watched.
func BypassFlow(p Pair, idleTimeout uint16) (*ofp.FlowMod, error) {
	fs, err := p.match()
	if err != nil {
		return nil, err
	}
	return &ofp.FlowMod{
		Cookie:       forward.Cookie(forward.KindBypass, 0),
		TableID:      forward.TableWatch,
		Command:      ofp.FlowAdd,
		IdleTimeout:  idleTimeout,
		Priority:     forward.PriorityBypass,
		BufferID:     ofp.NoBuffer,
		OutPort:      ofp.PortAny,
		OutGroup:     ofp.GroupAny,
		Match:        ofp.Match{Fields: fs},
		Instructions: []ofp.Instruction{forward.Goto(forward.TableLearn)},
	}, nil
}

// BypassDelete returns the flow-mod that removes the bypass flow of p (its source was blocked, or
// it must be watched again).
func BypassDelete(p Pair) (*ofp.FlowMod, error) {
	fs, err := p.match()
	if err != nil {
		return nil, err
	}
	c, m := forward.KindCookie(forward.KindBypass)
	return &ofp.FlowMod{
		Cookie: c, CookieMask: m,
		TableID:  forward.TableWatch,
		Command:  ofp.FlowDeleteStrict,
		Priority: forward.PriorityBypass,
		BufferID: ofp.NoBuffer,
		OutPort:  ofp.PortAny,
		OutGroup: ofp.GroupAny,
		Match:    ofp.Match{Fields: fs},
	}, nil
}
