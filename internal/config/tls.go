package config

import (
	"maps"
	"slices"
	"strings"

	"portcullis/internal/dpid"
)

// TLS identities: which certificate may claim which datapath id (docs/tls.md
// "Binding datapath ids to certificates").

// ParseSwitchDPID parses a datapath id as the identity map takes it, in the
// one grammar of package dpid: 16 hex digits ("0000aabbccddeeff", as
// ovs-vsctl prints other_config:datapath-id), eight colon-separated hex
// bytes, or 0x hex. Decimal is refused: "1234" would be ambiguous.
func ParseSwitchDPID(s string) (uint64, bool) {
	d, err := dpid.Parse(s)
	return d, err == nil
}

// Identities returns SwitchIdentities by datapath id; entries that do not
// validate are left out (Validate reports them).
func (t TLS) Identities() map[uint64]string {
	if len(t.SwitchIdentities) == 0 {
		return nil
	}
	out := make(map[uint64]string, len(t.SwitchIdentities))
	for k, id := range t.SwitchIdentities {
		if d, ok := ParseSwitchDPID(k); ok && id != "" {
			out[d] = id
		}
	}
	return out
}

// validateIdentities checks tls.switch_identities and tls.require_identity.
func (v *v) validateIdentities(t TLS) {
	if (len(t.SwitchIdentities) > 0 || t.RequireIdentity) && !t.Enabled() {
		key := "tls.switch_identities"
		if len(t.SwitchIdentities) == 0 {
			key = "tls.require_identity"
		}
		v.add(key, "needs TLS (tls.cert, tls.key and tls.ca): without certificates there is no identity to check")
	}
	if t.RequireIdentity && len(t.SwitchIdentities) == 0 {
		v.add("tls.require_identity", "needs tls.switch_identities: with no identity mapped every switch would be refused")
	}
	first := map[uint64]string{}
	for _, k := range slices.Sorted(maps.Keys(t.SwitchIdentities)) { // stable error order
		key := "tls.switch_identities." + k
		d, ok := ParseSwitchDPID(k)
		if !ok {
			v.add(key, "%s", dpid.ErrSyntax)
			continue
		}
		if prev, dup := first[d]; dup {
			v.add(key, "datapath id %s is also mapped as %q: one identity per datapath id", dpid.Format(d), prev)
			continue
		}
		first[d] = k
		if id := t.SwitchIdentities[k]; strings.TrimSpace(id) == "" {
			v.add(key, "identity must be a certificate's common name, DNS name or URI, got an empty string")
		} else if id != strings.TrimSpace(id) {
			v.add(key, "identity %q has leading or trailing spaces: certificates are matched exactly", id)
		}
	}
}
