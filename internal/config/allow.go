package config

import (
	"fmt"
	"net/netip"

	"portcullis/internal/allow"
)

// The allowlist and prefix grammar is package allow's, shared with policy, the API and the CLI, so
// that what `config check` accepts is what `run` starts with. config imports allow (stdlib only)
// rather than policy, which would drag the detection and policy packages into every config reader.

// ParsePrefix parses an IPv4 or IPv6 CIDR or a bare address; see allow.ParsePrefix.
func ParsePrefix(s string) (netip.Prefix, error) { return allow.ParsePrefix(s) }

// ParseAllowRule parses one block.allowlist entry; see allow.Parse for the grammar.
func ParseAllowRule(s string) (allow.Entry, error) { return allow.Parse(s) }

// AllowRules parses Allowlist. On a validated Config it cannot fail.
func (b Block) AllowRules() ([]allow.Entry, error) {
	out := make([]allow.Entry, 0, len(b.Allowlist))
	for i, s := range b.Allowlist {
		r, err := allow.Parse(s)
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
		p, err := allow.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("config: block.never_block[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}
