package config

import (
	"reflect"
	"strings"
)

// Effect says what SIGHUP does with a changed key.
type Effect int

const (
	// Live: the running controller applies the new value at once.
	Live Effect = iota + 1
	// Restart: the running controller keeps the old value until it is
	// restarted (listeners, certificates, state, what detection and the
	// switches' pipeline were built with).
	Restart
)

func (e Effect) String() string {
	switch e {
	case Live:
		return "applied"
	case Restart:
		return "needs a restart"
	}
	return "?"
}

// ReloadTable is the truth about SIGHUP: every configuration key (a section
// stands for every key under it) and what a reload does with it.
// internal/controller's Reload applies the Live keys and reports the
// others; TestReloadTableCoversEveryKey fails for a key that is in Config
// but not here, so a new key cannot be forgotten.
var ReloadTable = []struct {
	Key    string
	Effect Effect
}{
	{"listen.openflow", Restart},
	{"tls", Restart},
	{"api.listen", Restart},
	{"api.tls", Restart},
	{"api.allow_plaintext", Restart},
	{"api.tokens", Live},
	{"api.token_files", Live}, // re-read on every reload
	{"api.open_reads_on_loopback", Live},
	{"api.allowed_hosts", Live},
	{"api.max_streams", Live},
	{"log", Restart},
	{"state_dir", Restart},
	// detect: the detector's tables (max_sources, pending) are sized when
	// it is built, and TRW's per-source likelihood ratios are sums of steps
	// computed from theta0/theta1 and judged against bounds from
	// alpha/beta: swapping them mid-walk would decide the walks in flight
	// by neither test's error bounds (a source half-way to "scanner" under
	// the old thresholds blocked at once under the new). A restart starts
	// every walk under one test.
	{"detect", Restart},
	{"block.durations", Live},
	{"block.history_expiry", Live},
	{"block.scope", Live},
	{"block.allowlist", Live},
	{"block.never_block", Live},
	{"block.noisy_ports", Live}, // the detector's set, for the packets observed from now on
	{"block.audit_interval", Live},
	// meters: every switch holds the meters (and the flows that point at
	// them) installed when it connected; a new rate means a meter-mod on
	// every switch and port, which a restart (every switch reconnects and
	// is set up again) does in one known order.
	{"meters", Restart},
	// forward.idle_timeout: flows learned from now on, on every switch;
	// flows already installed keep theirs until they expire (the switch
	// holds it; rewriting every learned flow is not worth a reload).
	{"forward", Live},
	{"notify.jsonl", Live}, // the sinks are restarted with the new settings
	{"notify.syslog", Live},
	{"notify.webhook", Live},
	{"notify.alert_rate", Live},
	{"notify.notice", Live}, // the key (key_file read again on every reload) and the port
	// echo: internal/ofconn copies interval and timeout into every session
	// when it is accepted, and its keepalive loop fixes its ticker from
	// them; making them live means an atomic read in that loop, in a package
	// the reload does not own. A restart applies them (switches reconnect).
	{"echo", Restart},
	{"store", Restart},   // the state store is opened at start (cluster.go)
	{"cluster", Restart}, // the instance joins the cluster at start
}

// ReloadNotes qualifies what "applied" means for the keys where it is not
// "everything from now on"; the log and the config_reloaded event quote it.
var ReloadNotes = map[string]string{
	"forward.idle_timeout": "new learned flows; installed flows keep theirs until they expire",
	"block.noisy_ports":    "packets from now on; conversations already judged keep their verdict",
}

// Change is one key a reload found changed.
type Change struct {
	Key    string
	Effect Effect
}

// Diff returns the keys whose values differ between old and new, in table
// order, each with the effect of its ReloadTable entry; a section entry
// ("detect") reports the keys under it that changed
// ("detect.first_contact_timeout"). Values are compared, never reported:
// tokens stay secret.
func Diff(old, new Config) []Change {
	var out []Change
	o, n := reflect.ValueOf(old), reflect.ValueOf(new)
	for _, e := range ReloadTable {
		a, b := fieldAt(o, e.Key), fieldAt(n, e.Key)
		if !a.IsValid() || !b.IsValid() {
			panic("config: ReloadTable key " + e.Key + " is not in Config")
		}
		for _, k := range changedKeys(a, b, e.Key) {
			out = append(out, Change{k, e.Effect})
		}
	}
	return out
}

// changedKeys returns key, or the keys under it if it is a section, whose
// values differ between a and b.
func changedKeys(a, b reflect.Value, key string) []string {
	if a.Kind() != reflect.Struct {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return nil
		}
		return []string{key}
	}
	var out []string
	t := a.Type()
	for i := range t.NumField() {
		out = append(out, changedKeys(a.Field(i), b.Field(i), key+"."+yamlName(t.Field(i)))...)
	}
	return out
}

// fieldAt returns the field of v (a struct) at a dotted YAML key path, or
// the zero Value.
func fieldAt(v reflect.Value, key string) reflect.Value {
	for _, name := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}
		}
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if yamlName(t.Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}
		}
	}
	return v
}

// NeedsRestart lists the keys that differ between old and new but take
// effect only after a restart.
func NeedsRestart(old, new Config) []string {
	var out []string
	for _, c := range Diff(old, new) {
		if c.Effect == Restart {
			out = append(out, c.Key)
		}
	}
	return out
}
