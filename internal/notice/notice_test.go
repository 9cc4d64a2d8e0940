package notice

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	otherKey = []byte("fedcba9876543210fedcba9876543210")
	t0       = time.Date(2026, 11, 26, 13, 0, 0, 123456789, time.UTC)
)

// sample is a notice with every field set, as the controller would send
// after blocking an IPv4 scanner.
func sample() Notice {
	return Notice{
		Time:        t0,
		Nonce:       [NonceSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Event:       EventBlocked,
		Scanners:    []netip.Addr{netip.MustParseAddr("10.0.0.66"), netip.MustParseAddr("fd00::66")},
		ScannerMAC:  [6]byte{0x02, 0, 0, 0, 0, 0x66},
		Kind:        "tcp-syn",
		Probes:      37,
		BlockExpiry: t0.Add(10 * time.Minute),
		Victim:      netip.MustParseAddr("10.0.0.2"),
		Message:     "10.0.0.66 scanned 37 ports of 10.0.0.2; blocked for 10m",
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	many := make([]netip.Addr, MaxScanners)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
	}
	tests := []struct {
		name string
		n    func() Notice
	}{
		{"ipv4 blocked, all fields", sample},
		{"ipv6 scan_detected", func() Notice {
			n := sample()
			n.Event = EventScanDetected
			n.Scanners = []netip.Addr{netip.MustParseAddr("2001:db8::bad")}
			n.Victim = netip.MustParseAddr("2001:db8::2")
			n.BlockExpiry = time.Time{}
			n.Kind = "udp"
			return n
		}},
		{"unblocked, minimal", func() Notice {
			return Notice{Time: t0, Nonce: [NonceSize]byte{9}, Event: EventUnblocked}
		}},
		{"maximum sizes", func() Notice {
			n := sample()
			n.Scanners = many
			n.Kind = strings.Repeat("k", MaxKind)
			n.Message = strings.Repeat("m", MaxMessage)
			n.Victim = netip.MustParseAddr("2001:db8::2")
			return n
		}},
		{"unknown event value passes through", func() Notice {
			n := sample()
			n.Event = 200
			return n
		}},
		{"ipv4-mapped ipv6 scanner stays 16 bytes", func() Notice {
			n := sample()
			n.Scanners = []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.66")}
			return n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.n()
			b := Seal(testKey, in)
			if len(b) > MaxSize {
				t.Fatalf("sealed %d bytes, MaxSize is %d", len(b), MaxSize)
			}
			got, err := NewVerifier(testKey, 0, 0).Open(b, t0.Add(time.Second))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			want := in
			want.KeyID = KeyID(testKey)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Open(Seal(n)):\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSealDrawsRandomNonce(t *testing.T) {
	n := sample()
	n.Nonce = [NonceSize]byte{}
	v := NewVerifier(testKey, 0, 0)
	a, err1 := v.Open(Seal(testKey, n), t0)
	b, err2 := v.Open(Seal(testKey, n), t0)
	if err1 != nil || err2 != nil {
		t.Fatalf("Open: %v, %v (two Seals of one notice must not look like a replay)", err1, err2)
	}
	if a.Nonce == ([NonceSize]byte{}) || a.Nonce == b.Nonce {
		t.Errorf("nonces %x and %x: want random and distinct", a.Nonce, b.Nonce)
	}
}

func TestSealTruncatesOversizedFields(t *testing.T) {
	n := sample()
	for i := range MaxScanners + 5 {
		n.Scanners = append(n.Scanners, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	n.Kind = strings.Repeat("x", MaxKind+10)
	n.Message = strings.Repeat("a", MaxMessage-1) + "é" // 2-byte rune straddles the limit
	b := Seal(testKey, n)
	if len(b) > MaxSize {
		t.Fatalf("sealed %d bytes, MaxSize is %d", len(b), MaxSize)
	}
	got, err := NewVerifier(testKey, 0, 0).Open(b, t0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(got.Scanners) != MaxScanners || got.Scanners[0] != n.Scanners[0] {
		t.Errorf("scanners: got %d starting %v, want the first %d", len(got.Scanners), got.Scanners[0], MaxScanners)
	}
	if len(got.Kind) != MaxKind {
		t.Errorf("kind: %d bytes, want %d", len(got.Kind), MaxKind)
	}
	if got.Message != strings.Repeat("a", MaxMessage-1) {
		t.Errorf("message: %d bytes ending %q, want the rune cut whole", len(got.Message), got.Message[len(got.Message)-3:])
	}
}

// TestTamperAnyByte flips bits in every byte of a sealed notice: each
// altered notice must be refused, and never as stale or replayed (those
// checks come after the MAC).
func TestTamperAnyByte(t *testing.T) {
	orig := Seal(testKey, sample())
	for i := range orig {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(orig)
			b[i] ^= mask
			_, err := NewVerifier(testKey, 0, 0).Open(b, t0)
			if err == nil {
				t.Fatalf("byte %d ^ %#02x: accepted", i, mask)
			}
			if !errors.Is(err, ErrBadMAC) && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("byte %d ^ %#02x: %v, want bad signature, wrong key or malformed", i, mask, err)
			}
			wantBadMAC := i >= 8 // past magic and key id, only the MAC can notice
			if wantBadMAC && !errors.Is(err, ErrBadMAC) {
				t.Errorf("byte %d ^ %#02x: %v, want %v", i, mask, err, ErrBadMAC)
			}
		}
	}
}

func TestTruncatedOrExtended(t *testing.T) {
	orig := Seal(testKey, sample())
	for i := range len(orig) {
		if _, err := NewVerifier(testKey, 0, 0).Open(orig[:i], t0); err == nil {
			t.Fatalf("first %d of %d bytes accepted", i, len(orig))
		}
	}
	if _, err := NewVerifier(testKey, 0, 0).Open(append(bytes.Clone(orig), 0), t0); err == nil {
		t.Fatal("notice with a trailing byte accepted")
	}
	if _, err := NewVerifier(testKey, 0, 0).Open(make([]byte, MaxSize+1), t0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized datagram: %v, want %v", err, ErrMalformed)
	}
}

func TestWrongKey(t *testing.T) {
	b := Seal(otherKey, sample())
	if _, err := NewVerifier(testKey, 0, 0).Open(b, t0); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("sealed with another key: %v, want %v", err, ErrWrongKey)
	}
	// A forger who copies our key id still cannot produce our MAC.
	copy(b[4:8], []byte{byte(KeyID(testKey) >> 24), byte(KeyID(testKey) >> 16), byte(KeyID(testKey) >> 8), byte(KeyID(testKey))})
	if _, err := NewVerifier(testKey, 0, 0).Open(b, t0); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("another key's MAC under our key id: %v, want %v", err, ErrBadMAC)
	}
	if KeyID(testKey) == KeyID(otherKey) {
		t.Fatal("two keys share a key id")
	}
}

func TestBodyErrorsBehindValidMAC(t *testing.T) {
	// Bodies that only the key holder could sign, but that break the layout:
	// the decoder must still refuse them.
	good := encode(nil, func() *Notice { n := sample(); n.KeyID = KeyID(testKey); return &n }())
	tests := []struct {
		name string
		body []byte
	}{
		{"victim address length 5", func() []byte { b := bytes.Clone(good); b[headerSize] = 5; return b }()},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"message length past end", func() []byte { b := bytes.Clone(good); b[len(b)-len(sample().Message)-2] = 0x7f; return b }()},
		{"kind longer than MaxKind", func() []byte {
			n := sample()
			n.Kind, n.KeyID = "", KeyID(testKey)
			b := encode(nil, &n)
			i := headerSize + 5 + 1 + 5 + 17 // kind length byte: after victim and two scanners
			return append(append(append(b[:i:i], MaxKind+1), strings.Repeat("k", MaxKind+1)...), b[i+1:]...)
		}()},
		{"17 scanners", func() []byte { b := bytes.Clone(good); b[headerSize+5] = MaxScanners + 1; return b }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(testKey, 0, 0).Open(sealRaw(testKey, tt.body), t0)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want %v", err, ErrMalformed)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	b := Seal(testKey, sample())
	v := NewVerifier(testKey, 0, 0)
	if _, err := v.Open(b, t0); err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if _, err := v.Open(b, t0.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("second Open: %v, want %v", err, ErrReplay)
	}
	// The package-level Open has its own process-wide cache.
	n := sample()
	n.Nonce = [NonceSize]byte{0xaa, 0xbb}
	b = Seal(testKey, n)
	if _, err := Open(testKey, b, t0); err != nil {
		t.Fatalf("package Open: %v", err)
	}
	if _, err := Open(testKey, b, t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("package Open again: %v, want %v", err, ErrReplay)
	}
}

func TestStale(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration
		sealed  time.Time
		now     time.Time
		wantErr bool
	}{
		{"fresh", 0, t0, t0, false},
		{"exactly 5m old", 0, t0, t0.Add(5 * time.Minute), false},
		{"5m and 1ns old", 0, t0, t0.Add(5*time.Minute + 1), true},
		{"5m in the future", 0, t0, t0.Add(-5 * time.Minute), false},
		{"5m and 1ns in the future", 0, t0, t0.Add(-5*time.Minute - 1), true},
		{"an hour old", 0, t0, t0.Add(time.Hour), true},
		{"zero timestamp", 0, time.Time{}, t0, true},
		{"custom skew 1m, 2m old", time.Minute, t0, t0.Add(2 * time.Minute), true},
		{"custom skew 1m, 30s old", time.Minute, t0, t0.Add(30 * time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sample()
			n.Time = tt.sealed
			_, err := NewVerifier(testKey, tt.skew, 0).Open(Seal(testKey, n), tt.now)
			if tt.wantErr && !errors.Is(err, ErrStale) {
				t.Fatalf("got %v, want %v", err, ErrStale)
			}
			if !tt.wantErr && err != nil {
				t.Fatalf("got %v, want accepted", err)
			}
		})
	}
}

func TestEventString(t *testing.T) {
	for e, want := range map[Event]string{
		EventScanDetected: "scan_detected", EventBlocked: "blocked", EventUnblocked: "unblocked", 0: "event(0)", 9: "event(9)",
	} {
		if got := e.String(); got != want {
			t.Errorf("Event(%d).String() = %q, want %q", e, got, want)
		}
	}
}

// TestWireLayout checks the offsets documented in doc.go against Seal.
func TestWireLayout(t *testing.T) {
	n := sample()
	b := Seal(testKey, n)
	be := func(p []byte) uint64 {
		var v uint64
		for _, c := range p {
			v = v<<8 | uint64(c)
		}
		return v
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"key id @4", be(b[4:8]), uint64(KeyID(testKey))},
		{"timestamp @8", be(b[8:16]), uint64(t0.UnixNano())},
		{"event @32", uint64(b[32]), uint64(EventBlocked)},
		{"probes @39", be(b[39:43]), 37},
		{"expiry @43", be(b[43:51]), uint64(t0.Add(10 * time.Minute).UnixNano())},
		{"victim length @51", uint64(b[51]), 4},
		{"scanner count @56", uint64(b[56]), 2},
	}
	if string(b[:4]) != "PCN1" {
		t.Errorf("magic %q", b[:4])
	}
	if !bytes.Equal(b[16:32], n.Nonce[:]) || !bytes.Equal(b[33:39], n.ScannerMAC[:]) {
		t.Errorf("nonce or MAC address not at 16 and 33")
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if !bytes.HasSuffix(b[:len(b)-MACSize], []byte(n.Message)) {
		t.Error("message is not just before the MAC")
	}
}

// TestGolden pins the wire format: a change here breaks deployed agents.
// Run with -update to rewrite testdata/pcn1.hex after a deliberate change.
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "pcn1.hex")
	got := Seal(testKey, sample())
	if *update {
		if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != hex.Dump(got) {
		t.Errorf("sealed sample differs from %s:\n%s", path, hex.Dump(got))
	}
}

// TestVerifierConcurrent opens the same notices from many goroutines: each
// must be accepted exactly once.
func TestVerifierConcurrent(t *testing.T) {
	const notices, workers = 200, 8
	sealed := make([][]byte, notices)
	for i := range sealed {
		n := sample()
		n.Nonce = [NonceSize]byte{byte(i), byte(i >> 8), 0x5a}
		n.Time = t0.Add(time.Duration(i) * time.Millisecond)
		sealed[i] = Seal(testKey, n)
	}
	v := NewVerifier(testKey, 0, 0)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for _, b := range sealed {
				if _, err := v.Open(b, t0); err == nil {
					accepted.Add(1)
				} else if !errors.Is(err, ErrReplay) {
					t.Errorf("Open: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != notices {
		t.Fatalf("accepted %d, want each of %d exactly once", got, notices)
	}
}

// sealRaw appends a valid MAC to an arbitrary body.
func sealRaw(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(bytes.Clone(body))
}
