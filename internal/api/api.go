package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"portcullis/internal/allow"
	"portcullis/internal/httpstatus"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes is the largest request body accepted (413 beyond).
const MaxBodyBytes = 64 << 10

// Options configure the handler returned by New.
type Options struct {
	// Tokens are the bearer tokens that may change state (and read, when
	// reads are not open). Empty: every change is refused.
	Tokens []string
	// OpenReadsOnLoopback lets a client read without a token when it
	// connects from a loopback address, names a loopback host (Host:
	// 127.0.0.1, [::1], localhost) and carries no proxy headers.
	OpenReadsOnLoopback bool
	// AllowedHosts are the names, besides IP addresses and localhost, a
	// request's Host may carry; requests for other names are refused with
	// 403 (a DNS-rebinding page names its own domain).
	AllowedHosts []string
	// Streams caps concurrent event streams (503 beyond); nil means a cap
	// of DefaultMaxStreams for this handler alone.
	Streams *StreamLimit
	// MetricsHandler, if set, is served at GET /metrics (a read).
	MetricsHandler http.Handler
	// Dashboard, if set, serves every GET path outside /api/, /healthz and
	// /metrics (the embedded web UI, internal/web.Handler()).
	Dashboard http.Handler
	// Version is reported by /api/v1/status.
	Version string
	// KeepAlive is the interval of SSE comment lines that keep idle
	// streams open through proxies; 0 means 15s.
	KeepAlive time.Duration
	// Logger receives request and error logs; nil discards them.
	Logger *slog.Logger
}

type server struct {
	b         Backend
	opts      Options
	tokens    [][32]byte // sha256 of each token
	log       *slog.Logger
	mux       *http.ServeMux
	keepAlive time.Duration
}

// New returns the API's HTTP handler over b.
func New(b Backend, opts Options) http.Handler {
	s := &server{b: b, opts: opts, log: opts.Logger, mux: http.NewServeMux(), keepAlive: opts.KeepAlive}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.keepAlive <= 0 {
		s.keepAlive = 15 * time.Second
	}
	if s.opts.Streams == nil {
		s.opts.Streams = NewStreamLimit(DefaultMaxStreams)
	}
	for _, t := range opts.Tokens {
		if t != "" {
			s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
		}
	}
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	m.Handle("GET /api/v1/status", s.read(s.status))
	m.Handle("GET /api/v1/switches", s.read(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, SwitchList{Switches: nonNil(s.b.Switches())})
	}))
	m.Handle("GET /api/v1/hosts", s.read(s.hosts)) // scale.go
	m.Handle("GET /api/v1/suspects", s.read(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, SuspectList{Suspects: nonNil(s.b.Suspects())})
	}))
	m.Handle("GET /api/v1/blocks", s.read(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, BlockList{Blocks: nonNil(s.b.Blocks())})
	}))
	m.Handle("POST /api/v1/blocks", s.write(s.addBlock))
	m.Handle("DELETE /api/v1/blocks/{id}", s.write(s.removeBlock))
	m.Handle("GET /api/v1/allowlist", s.read(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, AllowList{Allowlist: nonNil(s.b.Allowlist())})
	}))
	m.Handle("POST /api/v1/allowlist", s.write(s.addAllow))
	m.Handle("DELETE /api/v1/allowlist/{id}", s.write(s.removeAllow))
	m.Handle("GET /api/v1/events", s.read(s.events))
	m.Handle("GET /api/v1/events/stream", s.read(s.stream))
	m.Handle("GET /api/v1/stats", s.read(func(w http.ResponseWriter, r *http.Request) {
		st := s.b.Stats()
		st.Series = nonNil(st.Series)
		writeJSON(w, http.StatusOK, st)
	}))
	s.clusterRoutes() // cluster.go
	if opts.MetricsHandler != nil {
		m.Handle("GET /metrics", s.read(opts.MetricsHandler.ServeHTTP))
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ServeHTTP routes /api/, /healthz and /metrics through the mux and every
// other path to the dashboard. Unmatched routes get the JSON error object
// (404, or 405 with Allow).
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &httpstatus.Recorder{ResponseWriter: w}
	defer func() {
		s.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
			"status", sw.Status, "duration", time.Since(start))
	}()
	p := r.URL.Path
	if !s.hostAllowed(r.Host) {
		writeError(sw, http.StatusForbidden, CodeForbidden, fmt.Sprintf(
			"this API does not answer to the host name %q: use its IP address or localhost, or add the name to api.allowed_hosts",
			requestHost(r.Host)))
		return
	}
	if s.opts.Dashboard != nil && p != "/healthz" && p != "/metrics" && p != "/api" && !strings.HasPrefix(p, "/api/") {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			sw.Header().Set("Allow", "GET, HEAD")
			writeError(sw, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		s.opts.Dashboard.ServeHTTP(sw, r)
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// Let the mux decide between 404 and 405 (and set Allow), then
		// replace its plain-text body with our error object.
		rec := &discardWriter{h: make(http.Header)}
		h.ServeHTTP(rec, r)
		if allow := rec.h.Get("Allow"); allow != "" {
			sw.Header().Set("Allow", allow)
		}
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeError(sw, rec.status, CodeMethodNotAllowed, "method "+r.Method+" not allowed on "+p)
		case http.StatusNotFound, 0:
			writeError(sw, http.StatusNotFound, CodeNotFound, "no such route: "+p)
		default:
			// Redirects (cleaned paths) and the like.
			for k, v := range rec.h {
				sw.Header()[k] = v
			}
			sw.WriteHeader(rec.status)
		}
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// read wraps a handler that only reads.
func (s *server) read(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.openRead(r) {
			h(w, r)
			return
		}
		if !s.authorize(w, r, "reading") {
			return
		}
		h(w, r)
	})
}

// write wraps a handler that changes state: it always needs a token, and the
// body is limited to MaxBodyBytes.
func (s *server) write(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorize(w, r, "changes") {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h(w, r)
	})
}

// authorize checks the bearer token and writes the error response if it is
// missing or wrong.
func (s *server) authorize(w http.ResponseWriter, r *http.Request, what string) bool {
	if len(s.tokens) == 0 {
		writeError(w, http.StatusForbidden, CodeForbidden,
			what+" are disabled: no API tokens are configured (set api.tokens in the configuration file)")
		return false
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized,
			what+" need a bearer token: send the header \"Authorization: Bearer TOKEN\"")
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range s.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], s.tokens[i][:])
	}
	if match != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "the bearer token is not valid")
		return false
	}
	return true
}

func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st := s.b.Stats()
	n := s.counts() // scale.go
	writeJSON(w, http.StatusOK, Status{
		Version:      s.opts.Version,
		Uptime:       st.Uptime,
		Switches:     n.Switches,
		Hosts:        n.Hosts,
		Suspects:     n.Suspects,
		ActiveBlocks: n.ActiveBlocks,
		Allowlist:    n.Allowlist,
		PacketIns:    st.PacketIns,
		Probes:       st.Probes,
		Detections:   st.Detections,
		Blocks:       st.Blocks,
		LastEventID:  n.LastEventID,
	})
}

func (s *server) addBlock(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBlockRequest(r.Body)
	if err != nil {
		s.badBody(w, err)
		return
	}
	b, err := s.b.AddBlock(r.Context(), req)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/blocks/"+b.ID)
	writeJSON(w, http.StatusCreated, b)
}

func (s *server) removeBlock(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.b.RemoveBlock(r.Context(), id); err != nil {
		s.backendError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) addAllow(w http.ResponseWriter, r *http.Request) {
	e, err := decodeAllowEntry(r.Body)
	if err != nil {
		s.badBody(w, err)
		return
	}
	got, err := s.b.AddAllow(r.Context(), e)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/allowlist/"+got.ID)
	writeJSON(w, http.StatusCreated, got)
}

func (s *server) removeAllow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.b.RemoveAllow(r.Context(), id); err != nil {
		s.backendError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// MaxIDLength bounds the ids accepted in paths.
const MaxIDLength = 128

func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if id == "" || len(id) > MaxIDLength {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "bad id: want 1 to 128 characters")
		return "", false
	}
	return id, true
}

// Event paging limits.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseEventQuery(r.URL.Query(), true)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	limit := f.Limit
	f.Limit = limit + 1
	ev := s.b.Events(f)
	page := EventPage{Events: nonNil(ev), NextAfterID: f.AfterID}
	if len(ev) > limit {
		if f.Newest {
			// The newest page: nothing newer to fetch, so More stays false.
			page.Events = ev[len(ev)-limit:]
		} else {
			page.Events = ev[:limit]
			page.More = true
		}
	}
	if n := len(page.Events); n > 0 {
		page.NextAfterID = page.Events[n-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

// parseEventQuery reads limit, after_id, newest, type (repeatable or
// comma-separated), since and until (RFC 3339, or a Go duration meaning
// "that long ago").
func parseEventQuery(q map[string][]string, paged bool) (EventFilter, error) {
	f := EventFilter{}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	if paged {
		f.Limit = DefaultEventLimit
		if v := get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxEventLimit {
				return f, fmt.Errorf("limit: want a number from 1 to %d, got %q", MaxEventLimit, v)
			}
			f.Limit = n
		}
	}
	switch v := get("newest"); v {
	case "", "0", "false":
	case "1", "true":
		f.Newest = true
	default:
		return f, fmt.Errorf("newest: want true or false, got %q", v)
	}
	if v := get("after_id"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return f, fmt.Errorf("after_id: want an event id (a number), got %q", v)
		}
		f.AfterID = n
	}
	for _, v := range q["type"] {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if len(t) > 64 || !isName(t) {
				return f, fmt.Errorf("type: want event type names such as scan_detected, got %q", t)
			}
			if len(f.Types) >= 32 {
				return f, errors.New("type: at most 32 types")
			}
			f.Types = append(f.Types, t)
		}
	}
	var err error
	if f.Since, err = parseTime("since", get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", get("until")); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, errors.New("since must be before until")
	}
	return f, nil
}

func isName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func parseTime(key, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (15m), got %q", key, v)
}

// blockRequestWire is BlockRequest as it arrives.
type blockRequestWire struct {
	IP       string `json:"ip"`
	MAC      string `json:"mac"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// MaxReasonLength bounds reasons and comments.
const MaxReasonLength = 256

// decodeBlockRequest decodes and validates a POST /api/v1/blocks body.
func decodeBlockRequest(body io.Reader) (BlockRequest, error) {
	var w blockRequestWire
	if err := decodeJSON(body, &w); err != nil {
		return BlockRequest{}, err
	}
	var req BlockRequest
	if w.IP == "" && w.MAC == "" {
		return req, inputError("give ip and/or mac to block")
	}
	if w.IP != "" {
		a, err := ParseHostIP(w.IP)
		if err != nil {
			return req, inputError("ip: " + err.Error())
		}
		req.IP = a
	}
	if w.MAC != "" {
		m, err := ParseMAC(w.MAC)
		if err != nil {
			return req, inputError("mac: " + err.Error())
		}
		req.MAC = m
	}
	if w.Duration != "" {
		d, err := time.ParseDuration(w.Duration)
		if err != nil || d <= 0 || d > MaxBlockDuration {
			return req, inputError(fmt.Sprintf("duration: want a positive Go duration up to %v such as \"10m\" or \"24h\", got %q", MaxBlockDuration, w.Duration))
		}
		req.Duration = d
	}
	if err := checkText("reason", w.Reason); err != nil {
		return req, err
	}
	req.Reason = w.Reason
	return req, nil
}

type allowEntryWire struct {
	CIDR    string          `json:"cidr"`
	Ports   json.RawMessage `json:"ports"` // PortRanges, read below for a "ports: " message
	Comment string          `json:"comment"`
}

// MaxAllowPorts bounds the ports and ranges of one allowlist entry.
const MaxAllowPorts = 64

// decodeAllowEntry decodes and validates a POST /api/v1/allowlist body.
func decodeAllowEntry(body io.Reader) (AllowEntry, error) {
	var w allowEntryWire
	if err := decodeJSON(body, &w); err != nil {
		return AllowEntry{}, err
	}
	var e AllowEntry
	if w.CIDR == "" {
		return e, inputError("cidr is required, such as \"10.0.0.0/24\", \"2001:db8::/64\" or \"10.0.0.7\"")
	}
	p, err := ParseCIDR(w.CIDR)
	if err != nil {
		return e, inputError("cidr: " + err.Error())
	}
	e.CIDR = p
	if len(w.Ports) > 0 {
		if err := e.Ports.UnmarshalJSON(w.Ports); err != nil {
			return e, inputError("ports: " + err.Error())
		}
		if len(e.Ports) == 0 {
			e.Ports = nil
		}
	}
	if err := checkText("comment", w.Comment); err != nil {
		return e, err
	}
	e.Comment = w.Comment
	return e, nil
}

func checkText(key, s string) error {
	if len(s) > MaxReasonLength {
		return inputError(fmt.Sprintf("%s: at most %d bytes", key, MaxReasonLength))
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return inputError(key + ": control characters or invalid UTF-8 are not allowed")
		}
	}
	return nil
}

// ParseHostIP parses an address that can be blocked: unicast, not
// unspecified, no zone. IPv4-mapped IPv6 is unmapped.
func ParseHostIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%q is not a unicast address", s)
	}
	return a, nil
}

// ParseCIDR parses a prefix ("10.0.0.0/24") or a bare address (a single host) in the one prefix
// grammar (package allow) the configuration and the CLI use: host bits must be zero; IPv4-mapped
// prefixes are unmapped.
func ParseCIDR(s string) (netip.Prefix, error) { return allow.ParsePrefix(s) }

// ParseMAC parses an Ethernet address (aa:bb:cc:dd:ee:ff, aa-bb-..., or
// aabb.ccdd.eeff) into the canonical lower-case colon form; it must be
// unicast and not zero.
func ParseMAC(s string) (string, error) {
	var b [6]byte
	n := 0
	hexv := func(c byte) int {
		switch {
		case c >= '0' && c <= '9':
			return int(c - '0')
		case c >= 'a' && c <= 'f':
			return int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			return int(c-'A') + 10
		}
		return -1
	}
	bad := fmt.Errorf("%q is not a MAC address such as aa:bb:cc:dd:ee:ff", s)
	switch len(s) {
	case 17: // aa:bb:cc:dd:ee:ff or aa-bb-...
		sep := s[2]
		if sep != ':' && sep != '-' {
			return "", bad
		}
		for i := 0; i < 6; i++ {
			hi, lo := hexv(s[3*i]), hexv(s[3*i+1])
			if hi < 0 || lo < 0 || (i < 5 && s[3*i+2] != sep) {
				return "", bad
			}
			b[i] = byte(hi<<4 | lo)
		}
		n = 6
	case 14: // aabb.ccdd.eeff
		for i := 0; i < 3; i++ {
			if i < 2 && s[5*i+4] != '.' {
				return "", bad
			}
			for j := 0; j < 2; j++ {
				hi, lo := hexv(s[5*i+2*j]), hexv(s[5*i+2*j+1])
				if hi < 0 || lo < 0 {
					return "", bad
				}
				b[n] = byte(hi<<4 | lo)
				n++
			}
		}
	default:
		return "", bad
	}
	if b[0]&1 != 0 || b == [6]byte{} {
		return "", fmt.Errorf("%q is not a unicast MAC address", s)
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]), nil
}

// inputErr is a client mistake in a request body; its message is shown.
type inputErr struct {
	msg    string
	status int
}

func (e *inputErr) Error() string { return "api: " + e.msg }

func inputError(msg string) error { return &inputErr{msg: msg, status: http.StatusBadRequest} }

// decodeJSON decodes exactly one JSON object into v, refusing unknown fields
// and trailing data.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &inputErr{msg: fmt.Sprintf("request body larger than %d bytes", mbe.Limit), status: http.StatusRequestEntityTooLarge}
		case errors.Is(err, io.EOF):
			return inputError("empty request body: want a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return inputError("malformed JSON: unexpected end of input")
		case errors.As(err, &se):
			return inputError(fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se))
		case errors.As(err, &te):
			if te.Field != "" {
				return inputError(fmt.Sprintf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value))
			}
			return inputError(fmt.Sprintf("want a JSON object, got JSON %s", te.Value))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return inputError("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return inputError("malformed JSON: " + err.Error())
	}
	// Anything but whitespace after the object is an error.
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &inputErr{msg: fmt.Sprintf("request body larger than %d bytes", mbe.Limit), status: http.StatusRequestEntityTooLarge}
		}
		return inputError("malformed JSON: data after the object")
	}
	return nil
}

func (s *server) badBody(w http.ResponseWriter, err error) {
	var ie *inputErr
	if errors.As(err, &ie) {
		code := CodeBadRequest
		if ie.status == http.StatusRequestEntityTooLarge {
			code = CodeTooLarge
		}
		writeError(w, ie.status, code, ie.msg)
		return
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
}

// backendError maps a Backend error to a response.
func (s *server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "the request was cancelled or timed out")
	default:
		s.log.Error("api: backend error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error (see the controller's log)")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error: cannot encode the response")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// discardWriter captures the status and headers of the mux's own 404/405.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
