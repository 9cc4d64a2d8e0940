package dpid

import (
	"errors"
	"testing"
)

func TestFormat(t *testing.T) {
	for d, want := range map[uint64]string{
		0: "0000000000000000", 1: "0000000000000001", 0xaabbccddeeff: "0000aabbccddeeff",
		^uint64(0): "ffffffffffffffff", 0xff0000000000000a: "ff0000000000000a",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%#x) = %q, want %q", d, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"0000000000000001", 1},
		{"0000AABBCCDDEEFF", 0xaabbccddeeff},
		{"00:00:00:00:00:00:00:01", 1},
		{"FF:00:00:00:00:00:00:0a", 0xff0000000000000a},
	} {
		if got, err := Parse(tc.in); err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1", "42", "18446744073709551615", "000000000000001", "00000000000000001",
		"00:00:00:00:00:00:00:1", "00-00-00-00-00-00-00-01", "00:00:00:00:00:00:0001:", "0x", "0x1", "0x0000000000000001",
		"000000000000000g", "+000000000000001", " 000000000000001", "00:00:00:00:00:00:00:0g"} {
		if d, err := Parse(bad); err == nil || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %#x, %v; want ErrSyntax", bad, d, err)
		}
	}
}

func TestFormatAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Format(0xaabbccddeeff) }); n > 1 {
		t.Errorf("Format allocates %v times, want at most 1 (the string)", n)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts Format prints in
// a form Parse reads back to the same id.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0000000000000001", "00:00:00:00:00:00:00:01", "0x1", "", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Fatalf("Parse(%q) = %#x; Parse(Format) = %#x, %v", s, d, back, err)
		}
	})
}
