package api

import (
	"bytes"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzDecodeBlockRequest: request bodies are untrusted. Decoding must never
// panic, and whatever it accepts must satisfy the promises made to the
// Backend (a target, a canonical unicast MAC, an unmapped unicast IP, a
// bounded duration and reason).
func FuzzDecodeBlockRequest(f *testing.F) {
	for _, s := range []string{
		`{"ip":"10.0.0.1"}`, `{"mac":"02:00:00:00:00:01","duration":"1h","reason":"x"}`,
		`{"ip":"::ffff:1.2.3.4"}`, `{"ip":"fe80::1%eth0"}`, `{}`, `[]`, `{"ip":"1.2.3.4"} x`, ``,
		`{"ip":"1.2.3.4","duration":"-1s"}`, `{"mac":"aabb.ccdd.eeff"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeBlockRequest(bytes.NewReader(body))
		if err != nil {
			if _, ok := err.(*inputErr); !ok {
				t.Fatalf("error %T is not an input error: %v", err, err)
			}
			return
		}
		if !req.IP.IsValid() && req.MAC == "" {
			t.Fatal("accepted a request without target")
		}
		if req.IP.IsValid() && (req.IP.Is4In6() || req.IP.Zone() != "" || req.IP.IsMulticast() || req.IP.IsUnspecified()) {
			t.Fatalf("accepted ip %v", req.IP)
		}
		if req.MAC != "" {
			if m, err := ParseMAC(req.MAC); err != nil || m != req.MAC {
				t.Fatalf("mac %q not canonical", req.MAC)
			}
		}
		if req.Duration < 0 || req.Duration > MaxBlockDuration || len(req.Reason) > MaxReasonLength {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzDecodeAllowEntry: whatever is accepted is a masked prefix with valid
// ports.
func FuzzDecodeAllowEntry(f *testing.F) {
	for _, s := range []string{
		`{"cidr":"10.0.0.0/8"}`, `{"cidr":"10.0.0.1","ports":[22,443]}`, `{"cidr":"::ffff:10.0.0.0/104"}`,
		`{"cidr":"2001:db8::/32","comment":"x"}`, `{"cidr":"10.0.0.1/24"}`, `{"ports":[0]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := decodeAllowEntry(bytes.NewReader(body))
		if err != nil {
			return
		}
		if !e.CIDR.IsValid() || e.CIDR.Masked() != e.CIDR || e.CIDR.Addr().Is4In6() {
			t.Fatalf("accepted cidr %v", e.CIDR)
		}
		for _, p := range e.Ports {
			if p.Lo == 0 || p.Hi < p.Lo {
				t.Fatalf("accepted ports %v", p)
			}
		}
		// What the API accepts it shows as it was given, and reads back the same.
		b, err := e.Ports.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back PortRanges
		if err := back.UnmarshalJSON(b); err != nil || !slices.Equal(back, e.Ports) {
			t.Fatalf("ports %v -> %s -> %v, %v", e.Ports, b, back, err)
		}
		if len(e.Ports) > MaxAllowPorts || len(e.Comment) > MaxReasonLength {
			t.Fatalf("accepted %+v", e)
		}
	})
}

// FuzzEventQuery: query strings are untrusted.
func FuzzEventQuery(f *testing.F) {
	for _, s := range []string{"limit=10&after_id=5", "type=blocked,scan_detected", "since=15m",
		"since=2026-01-02T03:04:05Z&until=2026-01-03T00:00:00Z", "limit=-1", "type=" + strings.Repeat("a,", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		ef, err := parseEventQuery(q, true)
		if err != nil {
			return
		}
		if ef.Limit < 1 || ef.Limit > MaxEventLimit || len(ef.Types) > 32 {
			t.Fatalf("accepted %+v", ef)
		}
	})
}

// FuzzParseCIDR checks ParseCIDR against netip directly.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1", "::/0", "::ffff:10.0.0.0/104", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			return
		}
		if p.Masked() != p {
			t.Fatalf("%q -> %v not masked", s, p)
		}
		if _, err := netip.ParsePrefix(p.String()); err != nil {
			t.Fatalf("%q -> %v does not round trip: %v", s, p, err)
		}
	})
}
