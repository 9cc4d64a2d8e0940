package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"portcullis/internal/allow"
)

// FieldError is one problem with one key. Line is 0 when the key's position
// is unknown (Validate on a Config that did not come from a file).
type FieldError struct {
	File string // file name as given to Load; "" from Validate
	Line int    // 1-based line of the key in File
	Key  string // dotted path: detect.trw.alpha, block.durations[2]
	Msg  string // what is wrong and what is allowed
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in file order; it is the error type of
// Validate and Load. Its message has one problem per line.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// v collects validation problems.
type v struct{ errs Errors }

func (v *v) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func inUnit(x float64) bool { return x > 0 && x < 1 }

func (v *v) openUnit(key string, x float64) {
	if !inUnit(x) {
		v.add(key, "must be in (0,1), got %v", x)
	}
}

func (v *v) durationIn(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(key, "must be a duration from %v to %v, got %v", fmtDur(lo), fmtDur(hi), fmtDur(d))
	}
}

func (v *v) intIn(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be an integer from %d to %d, got %d", lo, hi, n)
	}
}

func (v *v) oneOf(key, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), s)
}

func (v *v) hostPort(key, s string) {
	if s == "" {
		v.add(key, "must be an address like :6653 or 127.0.0.1:6680, got an empty string")
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.add(key, "must be host:port like :6653 or 127.0.0.1:6680, got %q", s)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		v.add(key, "port must be a number from 0 to 65535, got %q", port)
	}
	if strings.ContainsAny(host, " /") {
		v.add(key, "host %q is not a host name or IP address", host)
	}
}

// fmtDur prints d as Go does, without trailing zero units: 10m, 168h, 1h30m.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Validate checks every value and returns Errors (nil when all is well).
// Keys in the errors are dotted paths; Load adds file and line.
func (c *Config) Validate() error {
	if es := c.validate(); len(es) > 0 {
		return es
	}
	return nil
}

func (c *Config) validate() Errors {
	var v v
	v.hostPort("listen.openflow", c.Listen.OpenFlow)

	t := c.TLS
	if t.Cert != "" || t.Key != "" || t.CA != "" {
		for _, f := range []struct{ key, val string }{{"tls.cert", t.Cert}, {"tls.key", t.Key}, {"tls.ca", t.CA}} {
			if f.val == "" {
				v.add(f.key, "must be set: switch TLS needs cert, key and ca (the CA that signed the switches' certificates)")
			}
		}
	}
	v.validateIdentities(t)

	v.hostPort("api.listen", c.API.Listen)
	if (c.API.TLS.Cert == "") != (c.API.TLS.Key == "") {
		if c.API.TLS.Cert == "" {
			v.add("api.tls.cert", "must be set together with api.tls.key")
		} else {
			v.add("api.tls.key", "must be set together with api.tls.cert")
		}
	}
	for i, tok := range c.API.Tokens {
		if msg := checkToken(tok); msg != "" {
			v.add(fmt.Sprintf("api.tokens[%d]", i), "%s", msg)
		}
	}
	v.validateAPI(c.API)

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if strings.TrimSpace(c.StateDir) == "" {
		v.add("state_dir", "must be a directory path, got an empty string")
	}

	d := c.Detect
	v.openUnit("detect.trw.alpha", d.TRW.Alpha)
	v.openUnit("detect.trw.beta", d.TRW.Beta)
	v.openUnit("detect.trw.theta0", d.TRW.Theta0)
	v.openUnit("detect.trw.theta1", d.TRW.Theta1)
	if inUnit(d.TRW.Alpha) && inUnit(d.TRW.Beta) && d.TRW.Alpha >= d.TRW.Beta {
		v.add("detect.trw.beta", "must be greater than detect.trw.alpha (%v), got %v", d.TRW.Alpha, d.TRW.Beta)
	}
	if inUnit(d.TRW.Theta0) && inUnit(d.TRW.Theta1) && d.TRW.Theta1 >= d.TRW.Theta0 {
		v.add("detect.trw.theta1", "must be less than detect.trw.theta0 (%v): scanners' first contacts succeed less often, got %v", d.TRW.Theta0, d.TRW.Theta1)
	}
	v.durationIn("detect.first_contact_timeout", d.FirstContactTimeout, 100*time.Millisecond, 10*time.Minute)
	v.intIn("detect.stealth.min_ports", d.Stealth.MinPorts, 1, 1000)
	v.intIn("detect.stealth.signature_probes", d.Stealth.SignatureProbes, 1, 1000)
	v.intIn("detect.stealth.os_probes", d.Stealth.OSProbes, 1, 100)
	v.intIn("detect.max_sources", d.MaxSources, 16, 10_000_000)
	v.durationIn("detect.idle_expiry", d.IdleExpiry, time.Minute, 30*24*time.Hour)
	v.durationIn("detect.grace_period", d.GracePeriod, 0, time.Hour)
	if d.Flood.SYNRate != 0 {
		v.intIn("detect.flood.syn_rate", d.Flood.SYNRate, 100, 100_000_000)
		v.durationIn("detect.flood.sustain", d.Flood.Sustain, time.Second, 10*time.Minute)
	}

	b := c.Block
	if len(b.Durations) == 0 || len(b.Durations) > 16 {
		v.add("block.durations", "must list 1 to 16 durations (first offence, second, ...), got %d", len(b.Durations))
	}
	for i, dur := range b.Durations {
		key := fmt.Sprintf("block.durations[%d]", i)
		if dur < time.Second || dur > 365*24*time.Hour {
			v.add(key, "must be a duration from 1s to 8760h (a year), got %v", fmtDur(dur))
		} else if i > 0 && dur < b.Durations[i-1] {
			v.add(key, "must not be shorter than the previous step (%v): repeat offenders get longer blocks, got %v", fmtDur(b.Durations[i-1]), fmtDur(dur))
		}
	}
	v.durationIn("block.history_expiry", b.HistoryExpiry, time.Hour, 3650*24*time.Hour)
	v.oneOf("block.scope", b.Scope, "network", "ingress")
	for i, s := range b.Allowlist {
		if _, err := ParseAllowRule(s); err != nil {
			v.add(fmt.Sprintf("block.allowlist[%d]", i), "%v; allowed: %s", err, allow.Syntax)
		}
	}
	for i, s := range b.NeverBlock {
		if _, err := ParsePrefix(s); err != nil {
			v.add(fmt.Sprintf("block.never_block[%d]", i), "%v; allowed: an IP address or CIDR, like 192.0.2.1 or 2001:db8::/64", err)
		}
	}
	for i, p := range b.NoisyPorts {
		if p == 0 {
			v.add(fmt.Sprintf("block.noisy_ports[%d]", i), "must be a port number from 1 to 65535, got 0")
		}
	}

	if b.AuditInterval != 0 {
		v.durationIn("block.audit_interval", b.AuditInterval, time.Second, time.Hour)
	}

	v.intIn("meters.packet_in_rate", int(c.Meters.PacketInRate), 1, 1_000_000)
	v.intIn("meters.packet_in_burst", int(c.Meters.PacketInBurst), 0, 1_000_000)
	v.intIn("meters.first_contact_rate", int(c.Meters.FirstContactRate), 0, 1_000_000)
	v.intIn("meters.first_contact_burst", int(c.Meters.FirstContactBurst), 0, 1_000_000)
	// Probe budgets (issue 8): each class's rate may be 0 (off); a burst below 1 would drop every probe.
	pb := c.Meters.ProbeBudget
	for _, r := range []struct {
		name        string
		rate, burst uint32
	}{{"stray", pb.StrayRate, pb.StrayBurst}, {"udp", pb.UDPRate, pb.UDPBurst}, {"icmp", pb.ICMPRate, pb.ICMPBurst},
		{"other", pb.OtherRate, pb.OtherBurst}, {"refusal", pb.RefusalRate, pb.RefusalBurst},
		{"reset", pb.ResetRate, pb.ResetBurst}} {
		v.intIn("meters.probe_budget."+r.name+"_rate", int(r.rate), 0, 1_000_000)
		if r.rate != 0 {
			v.intIn("meters.probe_budget."+r.name+"_burst", int(r.burst), 1, 1_000_000)
		}
	}
	for i, name := range c.Meters.FirstContactExempt {
		if name == "" {
			v.add(fmt.Sprintf("meters.first_contact_exempt[%d]", i), "must be a switch port name, like eth0 or uplink")
		}
	}

	it := c.Forward.IdleTimeout
	v.durationIn("forward.idle_timeout", it, time.Second, 65535*time.Second)
	if it%time.Second != 0 {
		v.add("forward.idle_timeout", "must be whole seconds (OpenFlow timeouts are in seconds), got %v", it)
	}

	n := c.Notify
	if strings.TrimSpace(n.JSONL) != n.JSONL {
		v.add("notify.jsonl", "must be a file path or \"-\" without surrounding spaces, got %q", n.JSONL)
	}
	if n.Syslog.Enabled() || n.Syslog.Network != "udp" {
		v.oneOf("notify.syslog.network", n.Syslog.Network, "udp", "tcp", "unix", "unixgram")
	}
	if n.Syslog.Enabled() {
		switch n.Syslog.Network {
		case "udp", "tcp":
			v.hostPort("notify.syslog.address", n.Syslog.Address)
		case "unix", "unixgram":
			if !strings.HasPrefix(n.Syslog.Address, "/") {
				v.add("notify.syslog.address", "must be an absolute socket path like /dev/log for network %s, got %q", n.Syslog.Network, n.Syslog.Address)
			}
		}
	}
	if len(n.Syslog.AppName) == 0 || len(n.Syslog.AppName) > 48 || strings.ContainsFunc(n.Syslog.AppName, func(r rune) bool { return r <= ' ' || r > '~' }) {
		v.add("notify.syslog.app_name", "must be 1 to 48 printable ASCII characters without spaces (RFC 5424 APP-NAME), got %q", n.Syslog.AppName)
	}
	if n.Webhook.Enabled() {
		u, err := url.Parse(n.Webhook.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("notify.webhook.url", "must be an absolute http:// or https:// URL, got %q", n.Webhook.URL)
		}
		if len(n.Webhook.Secret) < 16 {
			v.add("notify.webhook.secret", "must be at least 16 characters when notify.webhook.url is set (it signs every request), got %d", len(n.Webhook.Secret))
		}
	}
	v.durationIn("notify.webhook.timeout", n.Webhook.Timeout, 100*time.Millisecond, time.Minute)
	v.intIn("notify.webhook.queue", n.Webhook.Queue, 1, 100_000)
	if n.Notice.Key != "" && n.Notice.KeyFile != "" {
		v.add("notify.notice.key", "must not be set together with notify.notice.key_file: choose one")
	}
	if n.Notice.Key != "" {
		if k, err := hex.DecodeString(n.Notice.Key); err != nil {
			v.add("notify.notice.key", "must be hex digits (make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')")
		} else if len(k) < 32 {
			v.add("notify.notice.key", "must be at least 32 bytes (64 hex digits), got %d bytes", len(k))
		}
	}
	if n.Notice.Port == 0 {
		v.add("notify.notice.port", "must be a UDP port from 1 to 65535, got 0")
	}
	v.intIn("notify.alert_rate", n.AlertRate, 0, 100_000)

	v.durationIn("echo.interval", c.Echo.Interval, time.Second, 10*time.Minute)
	v.durationIn("echo.timeout", c.Echo.Timeout, time.Second, time.Hour)
	if c.Echo.Timeout < c.Echo.Interval {
		v.add("echo.timeout", "must be at least echo.interval (%v), got %v", fmtDur(c.Echo.Interval), fmtDur(c.Echo.Timeout))
	}
	v.validateCluster(c)
	return v.errs
}

// NoticeKey returns the inline notice key decoded from hex, or nil when the
// key comes from notify.notice.key_file (read it with notice.LoadKey).
func (n Notice) NoticeKey() ([]byte, error) {
	if n.Key == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(n.Key)
	if err != nil {
		return nil, fmt.Errorf("config: notify.notice.key: %w", err)
	}
	return k, nil
}
