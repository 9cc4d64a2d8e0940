package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"portcullis/internal/allow"
	"portcullis/internal/allow/allowtest"
)

// Issue 12, item 2: the API's "cidr" is read with the one prefix parser the configuration uses, so
// on the allowlist grammar table it gives config's answer and message for every entry without
// ports, and refuses every entry with a port part (ports go in "ports").
func TestAllowEntryGrammarTable(t *testing.T) {
	for _, c := range allowtest.Cases(t, allowtest.Table()) {
		if c.Entry == "" {
			continue // a missing "cidr" has its own message, tested in api_test.go
		}
		body, _ := json.Marshal(map[string]string{"cidr": c.Entry})
		e, err := decodeAllowEntry(bytes.NewReader(body))
		entry, eerr := allow.Parse(c.Entry)
		p, perr := allow.ParsePrefix(c.Entry)
		noPorts := (eerr == nil && perr == nil && len(entry.Ports) == 0) || (eerr != nil && perr != nil && eerr.Error() == perr.Error())
		switch {
		case (err == nil) != (perr == nil) || err != nil && !strings.Contains(err.Error(), perr.Error()):
			t.Errorf("cidr %q: %v; want the prefix parser's %v", c.Entry, err, perr)
		case err == nil && e.CIDR != p:
			t.Errorf("cidr %q = %v; want %v", c.Entry, e.CIDR, p)
		case noPorts && c.Err != "" && !strings.Contains(err.Error(), c.Err):
			t.Errorf("cidr %q: %v; want config's %q", c.Entry, err, c.Err)
		case noPorts && c.Err == "" && e.CIDR.String() != c.Canonical:
			t.Errorf("cidr %q = %v; want config's %s", c.Entry, e.CIDR, c.Canonical)
		case !noPorts && err == nil:
			t.Errorf("cidr %q with a port part accepted as %v", c.Entry, e.CIDR)
		}
	}
}
