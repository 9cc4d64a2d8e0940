// Package dpid is the one grammar of OpenFlow datapath ids in Portcullis:
// Format prints 16 lower-case hex digits, as Open vSwitch prints them
// (ovs-ofctl show, other_config:datapath-id, and our logs); Parse takes that
// form or the colon form (00:00:00:00:00:00:00:01) that some tools print.
// Decimal and short forms are refused: "1234" would be ambiguous. The
// API, events, logs, configuration and CLI all use this package. Pure; no
// allocation but the returned string.
package dpid

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("datapath id must be 16 hex digits (0000aabbccddeeff) or 8 colon-separated hex bytes (00:00:aa:bb:cc:dd:ee:ff)")

// Format returns d as 16 hex digits: 0000aabbccddeeff.
func Format(d uint64) string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[d&0xf]
		d >>= 4
	}
	return string(b[:])
}

// Parse parses a datapath id: 16 hex digits or eight colon-separated
// two-digit hex bytes. Case does not matter.
func Parse(s string) (uint64, error) {
	var digits string
	switch {
	case len(s) == 16:
		digits = s
	case len(s) == 23 && strings.Count(s, ":") == 7:
		for i := 2; i < 23; i += 3 {
			if s[i] != ':' {
				return 0, fmt.Errorf("dpid: %q: %w", s, ErrSyntax)
			}
		}
		digits = strings.ReplaceAll(s, ":", "")
	default:
		return 0, fmt.Errorf("dpid: %q: %w", s, ErrSyntax)
	}
	var d uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, fmt.Errorf("dpid: %q: %w", s, ErrSyntax)
		}
		d = d<<4 | uint64(v)
	}
	return d, nil
}
