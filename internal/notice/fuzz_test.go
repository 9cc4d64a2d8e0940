package notice

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary datagrams to Open. It must never panic; anything
// it accepts must be a notice that Seal reproduces byte for byte (the format
// has one encoding per notice).
func FuzzOpen(f *testing.F) {
	good := Seal(testKey, sample())
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(Seal(otherKey, sample()))
	f.Add([]byte("PCN1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := NewVerifier(testKey, 0, 0).Open(b, t0)
		if err != nil {
			return
		}
		if again := Seal(testKey, n); !bytes.Equal(again, b) {
			t.Fatalf("accepted notice does not re-seal to its input:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzDecode drives the body parser directly, past the MAC that stops
// FuzzOpen's mutations: no panic, and whatever it accepts re-encodes to the
// same bytes.
func FuzzDecode(f *testing.F) {
	n := sample()
	n.KeyID = KeyID(testKey)
	f.Add(encode(nil, &n))
	n.Scanners = []netip.Addr{netip.MustParseAddr("2001:db8::1"), {}}
	n.Victim = netip.Addr{}
	f.Add(encode(nil, &n))
	f.Add(make([]byte, headerSize+5))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decode(b)
		if err != nil {
			return
		}
		if again := encode(nil, &n); !bytes.Equal(again, b) {
			t.Fatalf("decoded body does not re-encode to its input:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzFrame checks Frame against the independent parser for any payload and
// addresses: a frame, when produced, always parses back with good checksums.
func FuzzFrame(f *testing.F) {
	f.Add([]byte("hello"), []byte{10, 0, 0, 2}, []byte{10, 0, 0, 1}, uint16(1), uint16(6686))
	f.Add([]byte{}, bytes.Repeat([]byte{0x20}, 16), bytes.Repeat([]byte{0xfe}, 16), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, payload, dst, src []byte, sport, dport uint16) {
		d, ok1 := netip.AddrFromSlice(dst)
		s, ok2 := netip.AddrFromSlice(src)
		if !ok1 || !ok2 {
			return
		}
		b := Frame(victimMAC, ctlMAC, d, s, sport, dport, payload)
		if b == nil {
			if d.Unmap().Is4() == s.Unmap().Is4() && len(payload) < 60000 {
				t.Fatalf("Frame(%v, %v, %d bytes) = nil", d, s, len(payload))
			}
			return
		}
		fr, err := parseFrame(b)
		if err != nil {
			t.Fatalf("parse back: %v", err)
		}
		if !bytes.Equal(fr.payload, payload) || fr.srcPort != sport || fr.dstPort != dport {
			t.Fatalf("parsed %+v", fr)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	n := sample()
	b.ReportAllocs()
	for b.Loop() {
		Seal(testKey, n)
	}
}

// BenchmarkVerify measures Open without the replay cache (which would refuse
// every repeat of the one notice).
func BenchmarkVerify(b *testing.B) {
	sealed := Seal(testKey, sample())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify(testKey, sealed, t0, DefaultMaxSkew); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifierOpen includes the replay cache at its default capacity,
// kept full by a stream of fresh notices.
func BenchmarkVerifierOpen(b *testing.B) {
	const pool = 8192
	sealed := make([][]byte, pool)
	for i := range sealed {
		sealed[i] = sealAt(i, t0.Add(time.Duration(i)))
	}
	v := NewVerifier(testKey, time.Hour, 0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == pool {
			b.StopTimer()
			v, i = NewVerifier(testKey, time.Hour, 0), 0
			b.StartTimer()
		}
		if _, err := v.Open(sealed[i], t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkFrame(b *testing.B) {
	payload := Seal(testKey, sample())
	dst, src := netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::fe")
	b.ReportAllocs()
	for b.Loop() {
		Frame(victimMAC, ctlMAC, dst, src, DefaultPort, DefaultPort, payload)
	}
}
