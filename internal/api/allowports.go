package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"portcullis/internal/allow"
)

// PortRanges are the destination ports of an allowlist entry, as configured:
// single ports and inclusive ranges. In JSON a single port is a number and a
// range a string "LO-HI", so an entry of single ports reads as it always did:
//
//	"ports": [53, 123]
//	"ports": [22, "8000-8100"]
//
// The allowlist shows a configured 192.0.2.0/24:1024-65535 as it is, not as
// some of its ports.
type PortRanges []allow.PortRange

// MarshalJSON writes single ports as numbers and ranges as "LO-HI".
func (p PortRanges) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, r := range p {
		if i > 0 {
			b = append(b, ',')
		}
		if r.Lo == r.Hi {
			b = strconv.AppendUint(b, uint64(r.Lo), 10)
		} else {
			b = fmt.Appendf(b, `"%d-%d"`, r.Lo, r.Hi)
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads numbers (1-65535) and strings in the allowlist's port
// grammar ("443", "8000-8100"); at most MaxAllowPorts elements.
func (p *PortRanges) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*p = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return errors.New("want a list of ports and \"LO-HI\" ranges, such as [53, \"8000-8100\"]")
	}
	if len(raw) > MaxAllowPorts {
		return fmt.Errorf("at most %d ports and ranges", MaxAllowPorts)
	}
	out := make(PortRanges, 0, len(raw))
	for _, m := range raw {
		var s string
		if err := json.Unmarshal(m, &s); err == nil {
			rs, err := allow.ParsePorts(s)
			if err != nil {
				return err
			}
			if len(rs) != 1 {
				return fmt.Errorf("%q: one port or range per element", s)
			}
			out = append(out, rs[0])
			continue
		}
		var n json.Number
		if err := json.Unmarshal(m, &n); err != nil {
			return fmt.Errorf("%s is not a port or a \"LO-HI\" range", m)
		}
		v, err := strconv.ParseUint(n.String(), 10, 16)
		if err != nil || v == 0 {
			return fmt.Errorf("%s is not a port number (1-65535)", n)
		}
		out = append(out, allow.PortRange{Lo: uint16(v), Hi: uint16(v)})
	}
	*p = out
	return nil
}

// String formats p in the allowlist grammar: "22,8000-8100".
func (p PortRanges) String() string { return allow.FormatPorts(p) }

// Ports makes single-port ranges of ports.
func Ports(ports ...uint16) PortRanges {
	out := make(PortRanges, len(ports))
	for i, n := range ports {
		out[i] = allow.PortRange{Lo: n, Hi: n}
	}
	return out
}
