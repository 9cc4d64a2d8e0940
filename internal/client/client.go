// Package client is a typed Go client of Portcullis's REST API
// (internal/api): one method per route, the API's own wire types in and
// out, and one error type (*Error) for every failed call. The operator CLI
// (cmd/portcullis) and the end-to-end tests (test/e2e) use it, so the
// commands an operator types and the tests exercise the same requests.
//
//	c, err := client.New("http://127.0.0.1:6680", client.Options{Token: tok})
//	blocks, err := c.Blocks(ctx)
//
// A Client is safe for concurrent use.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"portcullis/internal/api"
)

// DefaultURL is where a controller's API listens unless told otherwise.
const DefaultURL = "http://" + api.DefaultListen

// MaxResponseBytes bounds the body of one answer the client reads.
const MaxResponseBytes = 64 << 20

// Options configure a Client. The zero value is a client without a token
// that trusts the system's certificate authorities.
type Options struct {
	// Token is the bearer token sent with every request ("" sends none).
	Token string
	// CACertFile, if set, is a PEM file of the CA that signed an https
	// API's certificate; the system's CAs are not trusted then.
	CACertFile string
	// Timeout bounds each request but the event stream; 0 means 15 s.
	Timeout time.Duration
	// Transport, if set, replaces the default transport (CACertFile is
	// then ignored).
	Transport http.RoundTripper
}

// Client talks to one controller's API.
type Client struct {
	base   string // scheme://host[:port], no trailing slash
	token  string
	http   *http.Client // with Timeout
	stream *http.Client // the same transport, no timeout
}

// New returns a client of the API at base (http:// or https://HOST[:PORT]).
func New(base string, opts Options) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: bad API URL %q: want http://HOST:PORT or https://HOST:PORT", base)
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if opts.CACertFile != "" {
			pem, err := os.ReadFile(opts.CACertFile)
			if err != nil {
				return nil, fmt.Errorf("client: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("client: %s: no PEM certificate in it", opts.CACertFile)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		tr = t
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	return &Client{
		base:   strings.TrimRight(base, "/"),
		token:  opts.Token,
		http:   &http.Client{Timeout: timeout, Transport: tr},
		stream: &http.Client{Transport: tr},
	}, nil
}

// URL returns the API's base URL.
func (c *Client) URL() string { return c.base }

// HasToken reports whether the client sends a bearer token.
func (c *Client) HasToken() bool { return c.token != "" }

// Error is a failed call: the API's error object (Status >= 400), or a
// transport error (Status 0: the controller could not be reached).
type Error struct {
	Status  int    // HTTP status; 0 if no answer came
	Code    string // the API's error code (api.CodeNotFound, ...), if any
	Message string // safe to show
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "cannot reach the controller: " + e.Message
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsUnreachable reports whether err is a transport error: no answer came.
func IsUnreachable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 0
}

// Status is GET /api/v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var v api.Status
	return v, c.Do(ctx, http.MethodGet, "/api/v1/status", nil, &v)
}

// Cluster is GET /api/v1/cluster (docs/ha.md).
func (c *Client) Cluster(ctx context.Context) (api.Cluster, error) {
	var v api.Cluster
	return v, c.Do(ctx, http.MethodGet, "/api/v1/cluster", nil, &v)
}

// Stats is GET /api/v1/stats.
func (c *Client) Stats(ctx context.Context) (api.Stats, error) {
	var v api.Stats
	return v, c.Do(ctx, http.MethodGet, "/api/v1/stats", nil, &v)
}

// Switches is GET /api/v1/switches.
func (c *Client) Switches(ctx context.Context) ([]api.Switch, error) {
	var v api.SwitchList
	return v.Switches, c.Do(ctx, http.MethodGet, "/api/v1/switches", nil, &v)
}

// Hosts is GET /api/v1/hosts.
func (c *Client) Hosts(ctx context.Context) ([]api.Host, error) {
	var v api.HostList
	return v.Hosts, c.Do(ctx, http.MethodGet, "/api/v1/hosts", nil, &v)
}

// HostQuery selects hosts for HostsPage; the zero value is every host.
type HostQuery struct {
	DPID    uint64 // only this switch's hosts, if HasDPID
	HasDPID bool
	Limit   int // at most Limit hosts; 0: all (at most api.MaxHostLimit)
}

// HostsPage is GET /api/v1/hosts?dpid=&limit=: the hosts q selects, with
// how many match in all (Total) and whether the limit left some out (More).
// With the zero query it is Hosts, and Total is the number of hosts.
func (c *Client) HostsPage(ctx context.Context, q HostQuery) (api.HostList, error) {
	v := url.Values{}
	if q.HasDPID {
		v.Set("dpid", api.FormatDPID(q.DPID))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/api/v1/hosts"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l api.HostList
	if err := c.Do(ctx, http.MethodGet, path, nil, &l); err != nil {
		return l, err
	}
	if len(v) == 0 {
		l.Total = len(l.Hosts)
	}
	return l, nil
}

// Suspects is GET /api/v1/suspects.
func (c *Client) Suspects(ctx context.Context) ([]api.Suspect, error) {
	var v api.SuspectList
	return v.Suspects, c.Do(ctx, http.MethodGet, "/api/v1/suspects", nil, &v)
}

// Blocks is GET /api/v1/blocks.
func (c *Client) Blocks(ctx context.Context) ([]api.Block, error) {
	var v api.BlockList
	return v.Blocks, c.Do(ctx, http.MethodGet, "/api/v1/blocks", nil, &v)
}

// blockRequest is api.BlockRequest on the wire.
type blockRequest struct {
	IP       string `json:"ip,omitempty"`
	MAC      string `json:"mac,omitempty"`
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// AddBlock is POST /api/v1/blocks (needs a token). Zero fields are left
// out: a zero Duration takes the controller's default.
func (c *Client) AddBlock(ctx context.Context, req api.BlockRequest) (api.Block, error) {
	w := blockRequest{MAC: req.MAC, Reason: req.Reason}
	if req.IP.IsValid() {
		w.IP = req.IP.String()
	}
	if req.Duration > 0 {
		w.Duration = req.Duration.String()
	}
	var b api.Block
	return b, c.Do(ctx, http.MethodPost, "/api/v1/blocks", w, &b)
}

// RemoveBlock is DELETE /api/v1/blocks/{id} (needs a token).
func (c *Client) RemoveBlock(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/blocks/"+url.PathEscape(id), nil, nil)
}

// Allowlist is GET /api/v1/allowlist.
func (c *Client) Allowlist(ctx context.Context) ([]api.AllowEntry, error) {
	var v api.AllowList
	return v.Allowlist, c.Do(ctx, http.MethodGet, "/api/v1/allowlist", nil, &v)
}

// allowRequest is the body of POST /api/v1/allowlist.
type allowRequest struct {
	CIDR    netip.Prefix   `json:"cidr"`
	Ports   api.PortRanges `json:"ports,omitempty"`
	Comment string         `json:"comment,omitempty"`
}

// AddAllow is POST /api/v1/allowlist (needs a token): e's CIDR, Ports and
// Comment; the controller assigns ID and Created.
func (c *Client) AddAllow(ctx context.Context, e api.AllowEntry) (api.AllowEntry, error) {
	var out api.AllowEntry
	return out, c.Do(ctx, http.MethodPost, "/api/v1/allowlist",
		allowRequest{CIDR: e.CIDR, Ports: e.Ports, Comment: e.Comment}, &out)
}

// RemoveAllow is DELETE /api/v1/allowlist/{id} (needs a token).
func (c *Client) RemoveAllow(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/allowlist/"+url.PathEscape(id), nil, nil)
}

// EventQuery selects events for Events; the zero value is the API's
// default page (the oldest events, its default limit).
type EventQuery struct {
	AfterID uint64
	Types   []string
	// Since is an RFC 3339 time or a duration ago ("15m"), as the API
	// takes it; "" for none.
	Since  string
	Limit  int  // 0: the API's default; at most api.MaxEventLimit
	Newest bool // the newest Limit events rather than the oldest
}

func (q EventQuery) values() url.Values {
	v := url.Values{}
	if q.AfterID > 0 {
		v.Set("after_id", strconv.FormatUint(q.AfterID, 10))
	}
	if len(q.Types) > 0 {
		v.Set("type", strings.Join(q.Types, ","))
	}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Newest {
		v.Set("newest", "true")
	}
	return v
}

// Events is one page of GET /api/v1/events.
func (c *Client) Events(ctx context.Context, q EventQuery) (api.EventPage, error) {
	var p api.EventPage
	path := "/api/v1/events"
	if v := q.values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	return p, c.Do(ctx, http.MethodGet, path, nil, &p)
}

// AllEvents pages through GET /api/v1/events from q.AfterID on (q.Limit is
// the page size, q.Newest is ignored) and returns every matching event,
// oldest first.
func (c *Client) AllEvents(ctx context.Context, q EventQuery) ([]api.Event, error) {
	q.Newest = false
	if q.Limit <= 0 {
		q.Limit = api.MaxEventLimit
	}
	var all []api.Event
	for {
		p, err := c.Events(ctx, q)
		if err != nil {
			return all, err
		}
		all = append(all, p.Events...)
		if !p.More || p.NextAfterID == q.AfterID {
			return all, nil
		}
		q.AfterID = p.NextAfterID
	}
}

// Healthz is GET /healthz: nil if the controller answers 200.
func (c *Client) Healthz(ctx context.Context) error {
	return c.Do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Do sends one request to path (which starts with /) with body as JSON (if
// non-nil) and decodes a 2xx JSON answer into out (if non-nil). Any other
// answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Message: transportMessage(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return &Error{Message: transportMessage(err)}
	}
	if resp.StatusCode/100 != 2 {
		return responseError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: unexpected answer from %s%s: %v", c.base, path, err)
	}
	return nil
}

func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

func responseError(status int, data []byte) error {
	var eb api.ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error.Message != "" {
		return &Error{Status: status, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}

// transportMessage shortens a *url.Error to its cause.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// Stream is one connection to GET /api/v1/events/stream.
type Stream struct {
	resp *http.Response
	br   *bufio.Reader
	data []byte
}

// OpenStream connects to the server-sent-event stream of events after
// afterID (sent as Last-Event-ID: the recorded events after it are replayed
// first, so pass the last id seen, or Status().LastEventID for only new
// ones) of the given types (all if none). Close the stream when done; cancelling ctx ends it too.
func (c *Client) OpenStream(ctx context.Context, afterID uint64, types ...string) (*Stream, error) {
	u := c.base + "/api/v1/events/stream"
	if len(types) > 0 {
		u += "?" + url.Values{"type": {strings.Join(types, ",")}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatUint(afterID, 10))
	c.authorize(req)
	resp, err := c.stream.Do(req)
	if err != nil {
		return nil, &Error{Message: transportMessage(err)}
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, responseError(resp.StatusCode, data)
	}
	return &Stream{resp: resp, br: bufio.NewReader(resp.Body)}, nil
}

// Next returns the next event; io.EOF (or the transport's error) when the
// stream ends. Comment lines (keep-alives) are skipped.
func (s *Stream) Next() (api.Event, error) {
	for {
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return api.Event{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			s.data = append(s.data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		case len(line) == 0 && len(s.data) > 0:
			var e api.Event
			err := json.Unmarshal(s.data, &e)
			s.data = s.data[:0]
			if err == nil {
				return e, nil
			}
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() error { return s.resp.Body.Close() }
