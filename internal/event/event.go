// Package event defines Portcullis's typed events, the bounded Bus that
// carries them from detection and policy to everyone who cares (API, store,
// metrics, notifiers), and the operator sinks: JSON lines, RFC 5424 syslog
// and an HMAC-signed webhook.
//
// Concurrency contract: Publish never blocks. Each subscriber owns a bounded
// channel; when it is full the event is dropped for that subscriber only and
// counted (a slow subscriber is a bug in the subscriber). Every sink runs on
// its own goroutine (see Run) fed by its own subscription, so a dead syslog
// server or a slow webhook can never stall detection.
//
// The JSON encoding of Event is the JSON-lines format operators consume; it
// is documented in docs/events.md and its field names are stable.
package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"portcullis/internal/dpid"
	"strings"
	"time"
)

// Type names what happened. The string values are part of the JSON schema.
type Type string

// Event types.
const (
	SwitchUp           Type = "switch_up"            // a switch finished the handshake
	SwitchDown         Type = "switch_down"          // a switch disconnected or stopped answering echoes
	SwitchRefused      Type = "switch_refused"       // a connection claimed a datapath id it may not take
	ScanDetected       Type = "scan_detected"        // detection decided a source is scanning
	Blocked            Type = "blocked"              // drop flows for a source are installed (barrier confirmed)
	BlockFailed        Type = "block_failed"         // installing a block failed on a switch
	Unblocked          Type = "unblocked"            // a block was lifted by an operator
	BlockExpired       Type = "block_expired"        // a block reached its expiry
	NoticeSent         Type = "notice_sent"          // a signed notice was sent to a protected host
	NoticeFailed       Type = "notice_failed"        // a notice could not be delivered
	AllowAdded         Type = "allow_added"          // an allowlist entry was added at run time
	AllowRemoved       Type = "allow_removed"        // an allowlist entry was removed at run time
	ConfigReloaded     Type = "config_reloaded"      // SIGHUP applied a new configuration
	ConfigReloadFailed Type = "config_reload_failed" // SIGHUP found a bad configuration; the old one stays
	EventsSuppressed   Type = "events_suppressed"    // a sink's alert rate limit dropped Count events
	LeaderElected      Type = "leader_elected"       // this instance became the cluster's leader (docs/ha.md)
	LeaderLost         Type = "leader_lost"          // this instance stopped leading (stepped down, lost etcd)
)

// Types lists every Type, for validation and documentation.
var Types = []Type{
	SwitchUp, SwitchDown, SwitchRefused, ScanDetected, Blocked, BlockFailed, Unblocked, BlockExpired,
	NoticeSent, NoticeFailed, AllowAdded, AllowRemoved, ConfigReloaded, ConfigReloadFailed,
	EventsSuppressed, LeaderElected, LeaderLost,
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Severities, named as in RFC 5424 section 6.2.1 (lower case, short forms).
const (
	SeverityEmergency = "emergency"
	SeverityAlert     = "alert"
	SeverityCritical  = "critical"
	SeverityError     = "error"
	SeverityWarning   = "warning"
	SeverityNotice    = "notice"
	SeverityInfo      = "info"
	SeverityDebug     = "debug"
)

// severityCodes maps a severity name to its RFC 5424 numerical code.
var severityCodes = map[string]int{
	SeverityEmergency: 0, SeverityAlert: 1, SeverityCritical: 2, SeverityError: 3,
	SeverityWarning: 4, SeverityNotice: 5, SeverityInfo: 6, SeverityDebug: 7,
}

// SeverityCode returns the RFC 5424 code of a severity name; unknown names
// are treated as notice (5).
func SeverityCode(s string) int {
	if c, ok := severityCodes[s]; ok {
		return c
	}
	return 5
}

// DefaultSeverity is the severity Publish gives an event of type t that has
// none.
func DefaultSeverity(t Type) string {
	switch t {
	case ScanDetected, Blocked:
		return SeverityWarning
	case BlockFailed, NoticeFailed, ConfigReloadFailed:
		return SeverityError
	case SwitchDown, SwitchRefused, EventsSuppressed, LeaderLost:
		return SeverityWarning
	case Unblocked, BlockExpired, SwitchUp, AllowAdded, AllowRemoved, ConfigReloaded, LeaderElected:
		return SeverityNotice
	default:
		return SeverityInfo
	}
}

// Event is one thing that happened. Fields that do not apply are left zero
// and omitted from JSON. Attribution fields (DPID, Port, MAC) say where the
// source's traffic entered the network; IP is its address where known.
type Event struct {
	ID       uint64     `json:"id"`                 // assigned by Bus.Publish, increasing; 0 for sink-local summaries
	Time     time.Time  `json:"time"`               // assigned by Bus.Publish if zero
	Type     Type       `json:"type"`               // what happened
	Severity string     `json:"severity"`           // RFC 5424 name; DefaultSeverity(Type) if empty
	DPID     uint64     `json:"dpid,omitempty"`     // switch datapath ID; JSON "0000000000000001"
	Port     uint32     `json:"port,omitempty"`     // switch port the source is behind
	MAC      string     `json:"mac,omitempty"`      // source MAC, "aa:bb:cc:dd:ee:ff"
	IP       string     `json:"ip,omitempty"`       // source IP (the scanner's) where known
	IPs      []string   `json:"ips,omitempty"`      // every source IP seen from that port/MAC (bounded)
	Target   string     `json:"target,omitempty"`   // the host probed or notified
	Kind     string     `json:"kind,omitempty"`     // scan kind: port-scan, host-sweep, stealth-scan, ...
	BlockID  string     `json:"block_id,omitempty"` // block this event is about
	Level    int        `json:"level,omitempty"`    // escalation step of a block (0 = first offence)
	Scope    string     `json:"scope,omitempty"`    // block scope: ingress or network
	Reason   string     `json:"reason,omitempty"`   // machine-friendly why (detector rule, "operator", "expired")
	Message  string     `json:"message,omitempty"`  // one human-readable line
	Evidence []string   `json:"evidence,omitempty"` // short human lines supporting a verdict (bounded)
	Probes   int        `json:"probes,omitempty"`   // probes seen before the verdict
	Score    float64    `json:"score,omitempty"`    // detection score at the verdict
	Count    int        `json:"count,omitempty"`    // events_suppressed: how many events were dropped
	Expires  *time.Time `json:"expires,omitempty"`  // block expiry
}

// FormatDPID renders a datapath id as 16 hex digits, the way Open vSwitch
// prints it: 0000000000000001 (dpid.Format).
func FormatDPID(d uint64) string { return dpid.Format(d) }

// ParseDPID parses 16 hex digits, the colon form 00:00:00:00:00:00:00:01 or
// 0x hex (dpid.Parse).
func ParseDPID(s string) (uint64, error) { return dpid.Parse(s) }

// eventJSON is Event with DPID as a string.
type eventJSON struct {
	eventAlias
	DPID string `json:"dpid,omitempty"`
}

type eventAlias Event

// MarshalJSON encodes e with the datapath ID as a hex string.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{eventAlias: eventAlias(e)}
	if e.DPID != 0 {
		j.DPID = FormatDPID(e.DPID)
	}
	j.eventAlias.DPID = 0
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON produces; dpid may also be a number.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j struct {
		eventAlias
		DPID json.RawMessage `json:"dpid,omitempty"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event(j.eventAlias)
	e.DPID = 0
	if len(j.DPID) > 0 && string(j.DPID) != "null" {
		var s string
		if err := json.Unmarshal(j.DPID, &s); err == nil {
			d, err := ParseDPID(s)
			if err != nil {
				return err
			}
			e.DPID = d
		} else if err := json.Unmarshal(j.DPID, &e.DPID); err != nil {
			return errors.New("event: dpid must be a string or a number")
		}
	}
	return nil
}

// Summary returns e.Message, or when that is empty a one-line description
// built from the other fields, for syslog and people.
func (e *Event) Summary() string {
	if e.Message != "" {
		return e.Message
	}
	var b strings.Builder
	b.WriteString(string(e.Type))
	if e.Kind != "" {
		b.WriteString(" ")
		b.WriteString(e.Kind)
	}
	who := e.IP
	if who == "" {
		who = e.MAC
	} else if e.MAC != "" {
		who += " (" + e.MAC + ")"
	}
	if who != "" {
		b.WriteString(" source ")
		b.WriteString(who)
	}
	if e.DPID != 0 {
		fmt.Fprintf(&b, " switch %s", FormatDPID(e.DPID))
		if e.Port != 0 {
			fmt.Fprintf(&b, " port %d", e.Port)
		}
	}
	if e.Target != "" {
		b.WriteString(" target ")
		b.WriteString(e.Target)
	}
	if e.Probes != 0 {
		fmt.Fprintf(&b, " after %d probes", e.Probes)
	}
	if e.Count != 0 {
		fmt.Fprintf(&b, " %d events suppressed", e.Count)
	}
	if e.Expires != nil {
		b.WriteString(" until ")
		b.WriteString(e.Expires.UTC().Format(time.RFC3339))
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}
