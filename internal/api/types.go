package api

import (
	"context"
	"errors"
	"net/netip"
	"portcullis/internal/dpid"
	"time"
)

// Backend is what the controller implements for the API. The read methods
// return snapshots the API may keep and encode after the call returns (the
// backend must not modify the returned slices afterwards). Every method must
// be safe for concurrent use: the HTTP server calls them from one goroutine
// per request.
//
// Errors from the change methods are mapped to HTTP statuses by wrapping one
// of ErrNotFound (404), ErrInvalid (400), ErrConflict (409) or
// ErrUnavailable (503) with %w; the message of such an error is shown to the
// client, so it must be safe to show. Any other error becomes a 500 whose
// message is logged, not shown.
type Backend interface {
	// Switches returns the connected switches.
	Switches() []Switch
	// Hosts returns the hosts seen (learned MAC addresses).
	Hosts() []Host
	// Suspects returns the sources detection is currently scoring.
	Suspects() []Suspect
	// Blocks returns the active blocks.
	Blocks() []Block
	// AddBlock blocks a source by hand. The request has been validated:
	// at least one of IP and MAC is set, MAC is canonical, Duration >= 0
	// (0 means the backend's default or escalation).
	AddBlock(ctx context.Context, req BlockRequest) (Block, error)
	// RemoveBlock lifts a block; ErrNotFound if there is none with id.
	RemoveBlock(ctx context.Context, id string) error
	// Allowlist returns the allowlist entries.
	Allowlist() []AllowEntry
	// AddAllow adds an entry (ID and Created are empty; the backend assigns
	// them) and returns it as stored.
	AddAllow(ctx context.Context, e AllowEntry) (AllowEntry, error)
	// RemoveAllow removes an entry; ErrNotFound if there is none with id.
	RemoveAllow(ctx context.Context, id string) error
	// Events returns the recorded events that match f, oldest first, at
	// most f.Limit of them. A backend that keeps a slice of recent events
	// can simply return FilterEvents(recent, f).
	Events(f EventFilter) []Event
	// SubscribeEvents returns a channel of events published from now on,
	// and a cancel function that ends the subscription and closes the
	// channel. The channel should be buffered; a backend may drop events
	// for a subscriber that does not keep up rather than block (the SSE
	// client then sees a gap in the ids).
	SubscribeEvents() (<-chan Event, func())
	// Stats returns counters and per-minute series for the dashboard.
	Stats() Stats
}

// Errors a Backend wraps to choose the HTTP status.
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid request")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("unavailable")
)

// Switch is a connected OpenFlow switch.
type Switch struct {
	DPID           string    `json:"dpid"`        // "0000000000000001" (dpid.Format)
	DatapathID     uint64    `json:"datapath_id"` // the same as a number
	Address        string    `json:"address"`     // remote address, "10.0.0.1:40000"
	ConnectedSince time.Time `json:"connected_since"`
	Ports          []Port    `json:"ports"`
}

// Port is one port of a switch.
type Port struct {
	Number uint32 `json:"number"`
	Name   string `json:"name"`
	MAC    string `json:"mac"`
	State  string `json:"state"` // PortUp or PortDown
}

// Port states.
const (
	PortUp   = "up"
	PortDown = "down"
)

// Host is a host seen on a switch port.
type Host struct {
	MAC      string    `json:"mac"`
	IPs      []string  `json:"ips"`
	DPID     string    `json:"dpid"`
	Port     uint32    `json:"port"`
	LastSeen time.Time `json:"last_seen"`
}

// Suspect is a traffic source that detection is scoring.
type Suspect struct {
	DPID string   `json:"dpid"` // where its traffic enters
	Port uint32   `json:"port"`
	MAC  string   `json:"mac"`
	IPs  []string `json:"ips"`
	// Score is the progress toward a verdict: 0 nothing suspicious, 1 the
	// source is blocked at the next piece of evidence.
	Score     float64   `json:"score"`
	Kind      string    `json:"kind"` // the scan kind it looks like, "" if none yet
	Failures  int       `json:"failures"`
	Successes int       `json:"successes"`
	Probes    int       `json:"probes"`
	LastSeen  time.Time `json:"last_seen"`
}

// Block is an active block.
type Block struct {
	ID       string    `json:"id"`
	DPID     string    `json:"dpid,omitempty"` // ingress switch, "" for a manual block by address
	Port     uint32    `json:"port,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	IPs      []string  `json:"ips,omitempty"`
	Reason   string    `json:"reason"`
	Kind     string    `json:"kind"` // scan kind, or "manual"
	Evidence []string  `json:"evidence,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"` // zero: no expiry
	Level    int       `json:"level"`            // escalation level, 0 first offence
	Scope    string    `json:"scope"`            // ScopeNetwork or ScopeIngress
	// Switches says, for every connected switch the block has flows on, whether
	// they are confirmed there (empty while no such switch is connected).
	Switches []BlockSwitch `json:"switches"`
}

// BlockSwitch is a block's state on one switch.
type BlockSwitch struct {
	DPID  string `json:"dpid"`
	State string `json:"state"` // BlockPending, BlockConfirmed or BlockFailed
	// ConfirmedAt is when the switch was last seen holding every flow of the
	// block (read back after a barrier, or by the periodic audit).
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	Error       string    `json:"error,omitempty"` // why the last attempt failed (BlockFailed)
}

// Block states on a switch.
const (
	// BlockPending: the flows were sent and are not yet read back.
	BlockPending = "pending"
	// BlockConfirmed: the switch holds every flow of the block.
	BlockConfirmed = "confirmed"
	// BlockFailed: the last attempt failed (send, barrier, or the switch
	// did not hold the flows); it is retried while the switch is connected.
	BlockFailed = "failed"
)

// Block scopes.
const (
	ScopeNetwork = "network"
	ScopeIngress = "ingress"
)

// BlockRequest asks for a manual block (POST /api/v1/blocks). On the wire:
//
//	{"ip":"10.0.0.5","mac":"aa:bb:cc:dd:ee:ff","duration":"1h","reason":"seen in IDS"}
//
// ip and/or mac is required; duration is a Go duration ("90s", "10m", "24h"),
// omitted or "" for the backend's default. The API validates the request
// before the backend sees it: IP is a unicast address without zone (IPv4 in
// IPv6 unmapped), MAC is unicast and in the canonical "aa:bb:cc:dd:ee:ff" form.
type BlockRequest struct {
	IP       netip.Addr
	MAC      string
	Duration time.Duration // 0: the backend's default (escalation)
	Reason   string
}

// MaxBlockDuration is the longest manual block accepted.
const MaxBlockDuration = 366 * 24 * time.Hour

// AllowEntry is an allowlist entry: sources in CIDR are never counted or
// blocked (only toward Ports, if any are given). POST /api/v1/allowlist takes
//
//	{"cidr":"10.0.0.0/24","ports":[53,123,"8000-8100"],"comment":"resolvers"}
//
// (a bare address means a single host) and answers with the stored entry.
type AllowEntry struct {
	ID      string       `json:"id"`
	CIDR    netip.Prefix `json:"cidr"`
	Ports   PortRanges   `json:"ports,omitempty"` // none: every port; ranges as configured
	Comment string       `json:"comment,omitempty"`
	Created time.Time    `json:"created,omitzero"`
}

// Event is an operator event. Its JSON names are those of the controller's
// event schema (internal/event), so the same consumer reads both.
type Event struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"` // switch_up, scan_detected, blocked, unblocked, block_expired, ...
	Severity string    `json:"severity"`
	DPID     string    `json:"dpid,omitempty"` // "0000000000000001" (dpid.Format)
	Port     uint32    `json:"port,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	IP       string    `json:"ip,omitempty"`
	IPs      []string  `json:"ips,omitempty"`
	Target   string    `json:"target,omitempty"`
	Kind     string    `json:"kind,omitempty"`
	BlockID  string    `json:"block_id,omitempty"`
	Level    int       `json:"level,omitempty"`
	Scope    string    `json:"scope,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Message  string    `json:"message,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
	Probes   int       `json:"probes,omitempty"`
	Score    float64   `json:"score,omitempty"`
	Count    int       `json:"count,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// EventFilter selects events. Zero fields do not filter.
type EventFilter struct {
	AfterID uint64    // only events with ID > AfterID
	Types   []string  // only these types
	Since   time.Time // only events at or after Since
	Until   time.Time // only events before Until
	Limit   int       // at most Limit events (the oldest that match); 0 = no limit
	// Newest asks for the newest Limit matches instead of the oldest (still
	// returned oldest first).
	Newest bool
}

// Match reports whether e passes the filter (Limit aside).
func (f EventFilter) Match(e Event) bool {
	if f.AfterID != 0 && e.ID <= f.AfterID {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == e.Type {
			return true
		}
	}
	return false
}

// FilterEvents returns the events of events (sorted by ID, oldest first) that
// match f, at most f.Limit of them (the newest ones if f.Newest). It does not modify events; the result may
// share its backing array.
func FilterEvents(events []Event, f EventFilter) []Event {
	out := []Event{}
	if f.Newest && f.Limit > 0 {
		start := len(events)
		for n := 0; start > 0 && n < f.Limit; {
			start--
			if f.Match(events[start]) {
				n++
			}
		}
		events = events[start:]
	}
	for _, e := range events {
		if !f.Match(e) {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
	}
	return out
}

// Stats are the controller's counters since it started.
type Stats struct {
	Started      time.Time    `json:"started"`
	Uptime       float64      `json:"uptime_seconds"`
	PacketIns    uint64       `json:"packet_ins"`
	Probes       uint64       `json:"probes"`        // connection attempts judged by detection
	Detections   uint64       `json:"detections"`    // scan verdicts
	Blocks       uint64       `json:"blocks"`        // blocks installed, total
	ActiveBlocks int          `json:"active_blocks"` // blocks in force now
	Switches     int          `json:"switches"`
	Events       uint64       `json:"events"`
	Series       []StatsPoint `json:"series"` // per minute, oldest first; may be empty
}

// StatsPoint is one minute of activity.
type StatsPoint struct {
	Time      time.Time `json:"time"` // start of the minute
	PacketIns uint64    `json:"packet_ins"`
	Probes    uint64    `json:"probes"`
	Blocks    uint64    `json:"blocks"`
}

// Status is the answer of GET /api/v1/status, composed by the API from the
// backend's counts (Counter) if it keeps them, else from its other methods.
type Status struct {
	Version      string  `json:"version"`
	Uptime       float64 `json:"uptime_seconds"`
	Switches     int     `json:"switches"`
	Hosts        int     `json:"hosts"`
	Suspects     int     `json:"suspects"`
	ActiveBlocks int     `json:"active_blocks"`
	Allowlist    int     `json:"allowlist"`
	PacketIns    uint64  `json:"packet_ins"`
	Probes       uint64  `json:"probes"`
	Detections   uint64  `json:"detections"`
	Blocks       uint64  `json:"blocks"`
	LastEventID  uint64  `json:"last_event_id"`
}

// List envelopes: every list is wrapped in an object named after it, so
// fields can be added without breaking clients.
type (
	SwitchList struct {
		Switches []Switch `json:"switches"`
	}
	// HostList is GET /api/v1/hosts. With ?dpid= or ?limit= (HostFilter)
	// it also says how many hosts match (Total) and whether the limit left
	// some out (More); without them both are absent.
	HostList struct {
		Hosts []Host `json:"hosts"`
		Total int    `json:"total,omitempty"`
		More  bool   `json:"more,omitempty"`
	}
	SuspectList struct {
		Suspects []Suspect `json:"suspects"`
	}
	BlockList struct {
		Blocks []Block `json:"blocks"`
	}
	AllowList struct {
		Allowlist []AllowEntry `json:"allowlist"`
	}
	// EventPage is one page of events; pass NextAfterID as after_id for the
	// next page while More is true. With newest=true the page holds the
	// newest matches and More is false; NextAfterID then continues from them.
	EventPage struct {
		Events      []Event `json:"events"`
		NextAfterID uint64  `json:"next_after_id"`
		More        bool    `json:"more"`
	}
)

// ErrorBody is the body of every error response:
//
//	{"error":{"code":"bad_request","message":"ip: ParseAddr(\"x\"): unable to parse IP"}}
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner error object. Code is one of the Code* constants.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeTooLarge         = "request_too_large"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// FormatDPID renders a datapath id as the API shows it: 16 hex digits, as
// Open vSwitch prints it (dpid.Format).
func FormatDPID(id uint64) string { return dpid.Format(id) }

// ParseDPID parses a datapath id: 16 hex digits, the colon form or 0x hex
// (dpid.Parse).
func ParseDPID(s string) (uint64, error) { return dpid.Parse(s) }
