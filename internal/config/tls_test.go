package config

import (
	"slices"
	"testing"
)

const tlsFiles = "tls:\n  cert: /c.pem\n  key: /k.pem\n  ca: /ca.pem\n"

func TestSwitchIdentities(t *testing.T) {
	src := tlsFiles + `  require_identity: true
  switch_identities:
    "0000aabbccddeeff": "br0 on hv1"
    "00:00:00:00:00:00:00:01": hv2.example
    0000000000000A0B: "spiffe://lab/switch/3"
`
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := c.TLS.Identities()
	want := map[uint64]string{0xaabbccddeeff: "br0 on hv1", 1: "hv2.example", 0xa0b: "spiffe://lab/switch/3"}
	if len(got) != len(want) || !c.TLS.RequireIdentity {
		t.Fatalf("Identities() = %v (require %v), want %v", got, c.TLS.RequireIdentity, want)
	}
	for d, id := range want {
		if got[d] != id {
			t.Errorf("Identities()[%#x] = %q, want %q", d, got[d], id)
		}
	}
	if c, err := Parse("c.yaml", []byte(tlsFiles+"  switch_identities: {}\n")); err != nil || c.TLS.SwitchIdentities != nil {
		t.Errorf("empty mapping: %v, %v; want nil, like an absent one", c.TLS.SwitchIdentities, err)
	}

	old := c
	c.TLS.SwitchIdentities = map[string]string{"0000aabbccddeeff": "br0 on hv9"}
	if got := NeedsRestart(old, c); !slices.Equal(got, []string{"tls.switch_identities"}) {
		t.Errorf("NeedsRestart after an identity change = %v, want [tls.switch_identities]", got)
	}
}

func TestSwitchIdentityErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no tls", "tls:\n  switch_identities:\n    \"0000000000000001\": sw1\n",
			"c.yaml:2: tls.switch_identities: needs TLS (tls.cert, tls.key and tls.ca): without certificates there is no identity to check"},
		{"require without tls", "tls:\n  require_identity: true\n",
			"c.yaml:2: tls.require_identity: needs TLS (tls.cert, tls.key and tls.ca): without certificates there is no identity to check\n" +
				"c.yaml:2: tls.require_identity: needs tls.switch_identities: with no identity mapped every switch would be refused"},
		{"require without identities", tlsFiles + "  require_identity: true\n",
			"c.yaml:5: tls.require_identity: needs tls.switch_identities: with no identity mapped every switch would be refused"},
		{"decimal dpid", tlsFiles + "  switch_identities:\n    \"1234\": sw1\n",
			"c.yaml:6: tls.switch_identities.1234: datapath id must be 16 hex digits (0000aabbccddeeff) or 8 colon-separated hex bytes (00:00:aa:bb:cc:dd:ee:ff)"},
		{"0x dpid", tlsFiles + "  switch_identities:\n    \"0x000000000000001\": sw1\n",
			"c.yaml:6: tls.switch_identities.0x000000000000001: datapath id must be 16 hex digits (0000aabbccddeeff) or 8 colon-separated hex bytes (00:00:aa:bb:cc:dd:ee:ff)"},
		{"short colon dpid", tlsFiles + "  switch_identities:\n    \"00:00:00:00:00:01\": sw1\n",
			"c.yaml:6: tls.switch_identities.00:00:00:00:00:01: datapath id must be 16 hex digits (0000aabbccddeeff) or 8 colon-separated hex bytes (00:00:aa:bb:cc:dd:ee:ff)"},
		{"same dpid twice", tlsFiles + "  switch_identities:\n    \"0000000000000001\": sw1\n    \"00:00:00:00:00:00:00:01\": sw2\n",
			`c.yaml:7: tls.switch_identities.00:00:00:00:00:00:00:01: datapath id 0000000000000001 is also mapped as "0000000000000001": one identity per datapath id`},
		{"duplicate key", tlsFiles + "  switch_identities:\n    \"0000000000000001\": sw1\n    \"0000000000000001\": sw2\n",
			"c.yaml:7: tls.switch_identities.0000000000000001: duplicate key (first set on line 6)"},
		{"empty identity", tlsFiles + "  switch_identities:\n    \"0000000000000001\": \"\"\n",
			"c.yaml:6: tls.switch_identities.0000000000000001: identity must be a certificate's common name, DNS name or URI, got an empty string"},
		{"spaces", tlsFiles + "  switch_identities:\n    \"0000000000000001\": \"sw1 \"\n",
			`c.yaml:6: tls.switch_identities.0000000000000001: identity "sw1 " has leading or trailing spaces: certificates are matched exactly`},
		{"identity a list", tlsFiles + "  switch_identities:\n    \"0000000000000001\": [a, b]\n",
			"c.yaml:6: tls.switch_identities.0000000000000001: must be a string, got a list"},
		{"not a mapping", tlsFiles + "  switch_identities: [sw1]\n",
			`c.yaml:5: tls.switch_identities: must be a mapping (like {name: value} or lines of "name: value"), got a list`},
		{"require not a bool", tlsFiles + "  require_identity: yes\n",
			`c.yaml:5: tls.require_identity: must be true or false, got "yes"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.src)
			}
			if err.Error() != tc.want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestParseSwitchDPID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0000aabbccddeeff", 0xaabbccddeeff, true},
		{"0000AABBCCDDEEFF", 0xaabbccddeeff, true},
		{"00:00:aa:bb:cc:dd:ee:ff", 0xaabbccddeeff, true},
		{"ffffffffffffffff", 1<<64 - 1, true},
		{"000000000000000g", 0, false},
		{"+000000000000001", 0, false},
		{"0:0:0:0:0:0:0:1", 0, false},
		{"00:00:00:00:00:00:00:1g", 0, false},
		{"00-00-00-00-00-00-00-01", 0, false},
		{"1", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseSwitchDPID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseSwitchDPID(%q) = %#x, %v; want %#x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
