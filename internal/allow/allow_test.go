package allow_test

import (
	"net/netip"
	"strings"
	"testing"

	"portcullis/internal/allow"
	"portcullis/internal/allow/allowtest"
)

func TestGrammar(t *testing.T) {
	for _, c := range allowtest.Cases(t, allowtest.Table()) {
		e, err := allow.Parse(c.Entry)
		switch {
		case c.Err != "" && err == nil:
			t.Errorf("allow.Parse(%q) = %v; want error %q", c.Entry, e, c.Err)
		case c.Err != "" && !strings.Contains(err.Error(), c.Err):
			t.Errorf("allow.Parse(%q): %v; want %q in it", c.Entry, err, c.Err)
		case c.Err == "" && err != nil:
			t.Errorf("allow.Parse(%q): %v", c.Entry, err)
		case c.Err == "" && e.String() != c.Canonical:
			t.Errorf("allow.Parse(%q) = %s; want %s", c.Entry, e, c.Canonical)
		case c.Err == "":
			if back, err := allow.Parse(e.String()); err != nil || back.String() != e.String() {
				t.Errorf("allow.Parse(%q) = %v, %v: does not read its own String", e.String(), back, err)
			}
		}
	}
}

func TestContains(t *testing.T) {
	r, _ := allow.Parse("192.0.2.0/24:22,8000-8100")
	v6, _ := allow.Parse("2001:db8::/32")
	for _, tc := range []struct {
		e    allow.Entry
		ip   string
		port uint16
		want bool
	}{
		{r, "192.0.2.9", 22, true},
		{r, "192.0.2.9", 8050, true},
		{r, "192.0.2.9", 8101, false},
		{r, "192.0.2.9", 0, false},
		{r, "192.0.3.9", 22, false},
		{r, "::ffff:192.0.2.9", 22, true},
		{v6, "2001:db8:1::1", 0, true},
		{v6, "2001:db9::1", 9, false},
	} {
		if got := tc.e.Contains(netip.MustParseAddr(tc.ip), tc.port); got != tc.want {
			t.Errorf("%v.Contains(%s, %d) = %v", tc.e, tc.ip, tc.port, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range allowtest.Cases(f, allowtest.Table()) {
		f.Add(c.Entry)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := allow.Parse(s)
		if err != nil {
			return
		}
		back, err := allow.Parse(e.String())
		if err != nil || back.String() != e.String() {
			t.Fatalf("%q -> %q -> %v, %v", s, e.String(), back, err)
		}
		if e.Prefix.Masked() != e.Prefix || e.Prefix.Addr().Is4In6() {
			t.Fatalf("%q: prefix %v not canonical", s, e.Prefix)
		}
	})
}
