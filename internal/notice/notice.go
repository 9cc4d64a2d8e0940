package notice

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Wire constants of the PCN1 format.
const (
	Magic       = "PCN1" // first four bytes of every notice
	DefaultPort = 6686   // UDP port the agent listens on and the controller sends to
	MACSize     = sha256.Size
	NonceSize   = 16
	MaxScanners = 16  // scanner IPs carried; Seal drops the rest
	MaxKind     = 64  // bytes of scan kind; Seal truncates
	MaxMessage  = 512 // bytes of message; Seal truncates
	// MinKeySize is the shortest key LoadKey accepts.
	MinKeySize = 32
	// DefaultMaxSkew is how far a notice's timestamp may be from now.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultReplayCap is how many nonces a replay cache remembers.
	DefaultReplayCap = 4096

	headerSize = 51 // magic .. block expiry
	minSize    = headerSize + 1 + 1 + 1 + 2 + MACSize
	// MaxSize is the largest notice Seal produces and Open accepts.
	MaxSize = headerSize + 17 + 1 + MaxScanners*17 + 1 + MaxKind + 2 + MaxMessage + MACSize
)

// Errors returned by Open. Each is wrapped with detail; test with errors.Is.
var (
	ErrMalformed = errors.New("notice: malformed")
	ErrWrongKey  = errors.New("notice: unknown key id")
	ErrBadMAC    = errors.New("notice: bad signature")
	ErrStale     = errors.New("notice: timestamp outside allowed skew")
	ErrReplay    = errors.New("notice: replayed nonce")
)

// Event is what happened to the scanner.
type Event uint8

// Events carried in a notice.
const (
	EventScanDetected Event = 1 // scan_detected
	EventBlocked      Event = 2 // blocked
	EventUnblocked    Event = 3 // unblocked
)

// String returns the event's wire name (scan_detected, blocked, unblocked),
// or event(N) for a value this version does not know.
func (e Event) String() string {
	switch e {
	case EventScanDetected:
		return "scan_detected"
	case EventBlocked:
		return "blocked"
	case EventUnblocked:
		return "unblocked"
	}
	return "event(" + strconv.Itoa(int(e)) + ")"
}

// Notice is one message from the controller to a protected host.
type Notice struct {
	KeyID       uint32          // set by Seal from the key; filled by Open
	Time        time.Time       // when it was sealed; the caller sets it
	Nonce       [NonceSize]byte // Seal draws a random one if zero
	Event       Event
	Scanners    []netip.Addr // scanner IP(s); at most MaxScanners
	ScannerMAC  [6]byte
	Kind        string    // scan kind, e.g. "tcp-syn"; at most MaxKind bytes
	Probes      uint32    // probes seen from the scanner
	BlockExpiry time.Time // when the block ends; zero if none
	Victim      netip.Addr
	Message     string // free text for the host's log; at most MaxMessage bytes
}

// KeyID is the public identifier of a key: the first four bytes of
// HMAC-SHA256(key, "portcullis notice key id v1"). It lets a receiver tell
// "signed with another key" from "tampered with" without revealing the key.
func KeyID(key []byte) uint32 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("portcullis notice key id v1"))
	return binary.BigEndian.Uint32(m.Sum(nil))
}

// Seal encodes n and appends its HMAC-SHA256 under key. It sets the key id
// from key, draws a random nonce if n.Nonce is zero, drops scanner IPs beyond
// MaxScanners and truncates Kind and Message (at a rune boundary) to their
// maximum lengths; address zones are not carried. The result is at most
// MaxSize bytes. Seal does not read the clock: a zero n.Time is encoded as 0
// and every receiver will refuse it as stale.
func Seal(key []byte, n Notice) []byte {
	if n.Nonce == ([NonceSize]byte{}) {
		rand.Read(n.Nonce[:]) // never returns an error (crypto/rand, Go >= 1.24)
	}
	n.KeyID = KeyID(key)
	b := encode(make([]byte, 0, MaxSize), &n)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// encode appends the PCN1 body of n (everything before the MAC) to b.
func encode(b []byte, n *Notice) []byte {
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint32(b, n.KeyID)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(n.Time)))
	b = append(b, n.Nonce[:]...)
	b = append(b, byte(n.Event))
	b = append(b, n.ScannerMAC[:]...)
	b = binary.BigEndian.AppendUint32(b, n.Probes)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(n.BlockExpiry)))
	b = appendAddr(b, n.Victim)
	scanners := n.Scanners
	if len(scanners) > MaxScanners {
		scanners = scanners[:MaxScanners]
	}
	b = append(b, byte(len(scanners)))
	for _, a := range scanners {
		b = appendAddr(b, a)
	}
	kind := truncate(n.Kind, MaxKind)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	msg := truncate(n.Message, MaxMessage)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, 0)
	}
	s := a.AsSlice()
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// truncate cuts s to at most max bytes without splitting a UTF-8 sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// decode parses a PCN1 body (the bytes before the MAC). It trusts nothing:
// every read is bounds-checked and nothing may be left over.
func decode(b []byte) (Notice, error) {
	var n Notice
	if len(b) < headerSize {
		return n, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(b), headerSize)
	}
	if string(b[:4]) != Magic {
		return n, fmt.Errorf("%w: bad magic %q", ErrMalformed, b[:4])
	}
	n.KeyID = binary.BigEndian.Uint32(b[4:])
	n.Time = fromUnixNano(int64(binary.BigEndian.Uint64(b[8:])))
	copy(n.Nonce[:], b[16:32])
	n.Event = Event(b[32])
	copy(n.ScannerMAC[:], b[33:39])
	n.Probes = binary.BigEndian.Uint32(b[39:])
	n.BlockExpiry = fromUnixNano(int64(binary.BigEndian.Uint64(b[43:])))
	r := b[headerSize:]
	var err error
	if n.Victim, r, err = readAddr(r, "victim"); err != nil {
		return n, err
	}
	if len(r) < 1 {
		return n, fmt.Errorf("%w: truncated before scanner count", ErrMalformed)
	}
	count := int(r[0])
	r = r[1:]
	if count > MaxScanners {
		return n, fmt.Errorf("%w: %d scanners, at most %d", ErrMalformed, count, MaxScanners)
	}
	if count > 0 {
		n.Scanners = make([]netip.Addr, 0, count) // count <= MaxScanners: bounded
	}
	for range count {
		var a netip.Addr
		if a, r, err = readAddr(r, "scanner"); err != nil {
			return n, err
		}
		n.Scanners = append(n.Scanners, a)
	}
	if len(r) < 1 {
		return n, fmt.Errorf("%w: truncated before scan kind", ErrMalformed)
	}
	k := int(r[0])
	r = r[1:]
	if k > MaxKind || len(r) < k {
		return n, fmt.Errorf("%w: scan kind length %d", ErrMalformed, k)
	}
	n.Kind = string(r[:k])
	r = r[k:]
	if len(r) < 2 {
		return n, fmt.Errorf("%w: truncated before message", ErrMalformed)
	}
	m := int(binary.BigEndian.Uint16(r))
	r = r[2:]
	if m > MaxMessage || len(r) < m {
		return n, fmt.Errorf("%w: message length %d", ErrMalformed, m)
	}
	n.Message = string(r[:m])
	if r = r[m:]; len(r) != 0 {
		return n, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r))
	}
	return n, nil
}

func readAddr(r []byte, what string) (netip.Addr, []byte, error) {
	if len(r) < 1 {
		return netip.Addr{}, r, fmt.Errorf("%w: truncated before %s address", ErrMalformed, what)
	}
	l := int(r[0])
	r = r[1:]
	if l != 0 && l != 4 && l != 16 {
		return netip.Addr{}, r, fmt.Errorf("%w: %s address length %d", ErrMalformed, what, l)
	}
	if len(r) < l {
		return netip.Addr{}, r, fmt.Errorf("%w: truncated %s address", ErrMalformed, what)
	}
	var a netip.Addr
	switch l {
	case 4:
		a = netip.AddrFrom4([4]byte(r[:4]))
	case 16:
		a = netip.AddrFrom16([16]byte(r[:16]))
	}
	return a, r[l:], nil
}

// verify checks everything but the replay cache: framing, key id, MAC,
// layout and timestamp.
func verify(key, b []byte, now time.Time, maxSkew time.Duration) (Notice, error) {
	return verifyID(key, KeyID(key), b, now, maxSkew)
}

func verifyID(key []byte, keyID uint32, b []byte, now time.Time, maxSkew time.Duration) (Notice, error) {
	if len(b) < minSize {
		return Notice{}, fmt.Errorf("%w: %d bytes, at least %d", ErrMalformed, len(b), minSize)
	}
	if len(b) > MaxSize {
		return Notice{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxSize)
	}
	if string(b[:4]) != Magic {
		return Notice{}, fmt.Errorf("%w: bad magic %q", ErrMalformed, b[:4])
	}
	if id, want := binary.BigEndian.Uint32(b[4:]), keyID; id != want {
		return Notice{}, fmt.Errorf("%w: %08x, ours is %08x", ErrWrongKey, id, want)
	}
	body, sum := b[:len(b)-MACSize], b[len(b)-MACSize:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), sum) {
		return Notice{}, ErrBadMAC
	}
	n, err := decode(body)
	if err != nil {
		return Notice{}, err
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if d := now.Sub(n.Time); n.Time.IsZero() || d > maxSkew || d < -maxSkew {
		return Notice{}, fmt.Errorf("%w: sealed %s, now %s (max skew %s)", ErrStale,
			n.Time.Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxSkew)
	}
	return n, nil
}

// Verifier opens notices sealed with one key, with its own skew limit and
// replay cache. It is safe for concurrent use.
type Verifier struct {
	key     []byte
	keyID   uint32
	maxSkew time.Duration

	mu     sync.Mutex
	replay replayCache // guarded by mu
}

// NewVerifier returns a Verifier for key. maxSkew <= 0 means DefaultMaxSkew;
// replayCap <= 0 means DefaultReplayCap.
func NewVerifier(key []byte, maxSkew time.Duration, replayCap int) *Verifier {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if replayCap <= 0 {
		replayCap = DefaultReplayCap
	}
	return &Verifier{key: key, keyID: KeyID(key), maxSkew: maxSkew, replay: newReplayCache(replayCap)}
}

// KeyID returns the id of the Verifier's key.
func (v *Verifier) KeyID() uint32 { return v.keyID }

// ReplayEvictions counts nonces pushed out of a full replay cache before
// they expired. Non-zero means the cache is too small for the notice rate.
func (v *Verifier) ReplayEvictions() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.replay.evictions
}

// Open verifies b and returns the notice. Errors wrap ErrMalformed,
// ErrWrongKey, ErrBadMAC, ErrStale or ErrReplay.
func (v *Verifier) Open(b []byte, now time.Time) (Notice, error) {
	n, err := verifyID(v.key, v.keyID, b, now, v.maxSkew)
	if err != nil {
		return Notice{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.replay.check(n.Nonce, n.Time, now, v.maxSkew); err != nil {
		return Notice{}, err
	}
	return n, nil
}

var (
	defaultMu     sync.Mutex
	defaultReplay = newReplayCache(DefaultReplayCap) // guarded by defaultMu
)

// Open verifies b under key with the default skew (DefaultMaxSkew) and one
// process-wide replay cache shared by all keys (nonces are random, so keys
// cannot collide in it). Use a Verifier for another skew or a cache of its
// own. Errors wrap ErrMalformed, ErrWrongKey, ErrBadMAC, ErrStale or ErrReplay.
func Open(key []byte, b []byte, now time.Time) (Notice, error) {
	n, err := verify(key, b, now, DefaultMaxSkew)
	if err != nil {
		return Notice{}, err
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if err := defaultReplay.check(n.Nonce, n.Time, now, DefaultMaxSkew); err != nil {
		return Notice{}, err
	}
	return n, nil
}
