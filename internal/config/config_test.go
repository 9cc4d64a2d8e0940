package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"portcullis/internal/allow/allowtest"
)

const examplePath = "../../docs/config.example.yaml"

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() does not validate:\n%v", err)
	}
	if c.Listen.OpenFlow != ":6653" || c.API.Listen != "127.0.0.1:6680" || !c.API.OpenReadsOnLoopback ||
		c.StateDir != "/var/lib/portcullis" || c.Block.Scope != "network" {
		t.Fatalf("defaults differ from the documented ones: %+v", c)
	}
	want := []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	if !slices.Equal(c.Block.Durations, want) {
		t.Fatalf("block.durations = %v, want %v", c.Block.Durations, want)
	}
	// Default returns fresh slices: changing one copy leaves the next alone.
	c.Block.NoisyPorts[0] = 1
	c.Block.Durations[0] = 1
	if d := Default(); d.Block.NoisyPorts[0] == 1 || d.Block.Durations[0] == 1 {
		t.Fatal("Default() shares slices between calls")
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "detect:\n", "detect: ~\n"} {
		c, err := Parse("c.yaml", []byte(src))
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Fatalf("Parse(%q) differs from Default()", src)
		}
	}
}

func TestParseOverrides(t *testing.T) {
	src := `
listen:
  openflow: "0.0.0.0:6633"
api:
  tokens: ["0123456789abcdef0123"]
  open_reads_on_loopback: false
detect:
  trw: {alpha: 0.05, beta: 0.95}
  grace_period: 0s
  max_sources: 1_000
block:
  durations: [1m, 2m]
  scope: ingress
  noisy_ports: [5353]
  allowlist: ["10.0.0.0/8", "192.0.2.1/32:443,22"]
meters: {packet_in_rate: 50}
forward: {idle_timeout: 30s}
notify:
  jsonl: "-"
  syslog: {network: tcp, address: "127.0.0.1:514"}
  webhook: {url: "https://hooks.example/p", secret: "0123456789abcdef"}
  notice: {key: "` + strings.Repeat("ab", 32) + `", port: 7000}
  alert_rate: 0
echo: {interval: 2s, timeout: 6s}
`
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Listen.OpenFlow != "0.0.0.0:6633" || len(c.API.Tokens) != 1 || c.API.OpenReadsOnLoopback ||
		c.Detect.TRW.Alpha != 0.05 || c.Detect.TRW.Beta != 0.95 || c.Detect.TRW.Theta0 != d.Detect.TRW.Theta0 ||
		c.Detect.GracePeriod != 0 || c.Detect.MaxSources != 1000 ||
		!slices.Equal(c.Block.Durations, []time.Duration{time.Minute, 2 * time.Minute}) || c.Block.Scope != "ingress" ||
		!slices.Equal(c.Block.NoisyPorts, []uint16{5353}) || c.Meters.PacketInRate != 50 || c.Meters.PacketInBurst != d.Meters.PacketInBurst ||
		c.Forward.IdleTimeout != 30*time.Second || c.Notify.JSONL != "-" || !c.Notify.Syslog.Enabled() ||
		c.Notify.Syslog.AppName != "portcullis" || !c.Notify.Webhook.Enabled() || c.Notify.Webhook.Queue != 256 ||
		c.Notify.Notice.Port != 7000 || c.Notify.AlertRate != 0 || c.Echo.Timeout != 6*time.Second ||
		c.StateDir != d.StateDir || c.TLS.Enabled() {
		t.Fatalf("overrides not applied as written: %+v", c)
	}
	rules, err := c.Block.AllowRules()
	if err != nil || len(rules) != 2 || rules[1].String() != "192.0.2.1/32:443,22" {
		t.Fatalf("AllowRules = %v, %v", rules, err)
	}
	k, err := c.Notify.Notice.NoticeKey()
	if err != nil || len(k) != 32 {
		t.Fatalf("NoticeKey = %d bytes, %v", len(k), err)
	}
}

// TestErrors checks that each bad value gives exactly one error that names
// the file, the line and the key, and says what is allowed.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"alpha out of range", "detect:\n  trw:\n    alpha: 1.5\n",
			"c.yaml:3: detect.trw.alpha: must be in (0,1), got 1.5"},
		{"beta not above alpha", "detect:\n  trw: {alpha: 0.5, beta: 0.4}\n",
			"c.yaml:2: detect.trw.beta: must be greater than detect.trw.alpha (0.5), got 0.4"},
		{"theta1 above theta0", "detect:\n  trw:\n    theta0: 0.3\n    theta1: 0.6\n",
			"c.yaml:4: detect.trw.theta1: must be less than detect.trw.theta0 (0.3): scanners' first contacts succeed less often, got 0.6"},
		{"alpha not a number", "detect:\n  trw:\n    alpha: lots\n",
			`c.yaml:3: detect.trw.alpha: must be a number, got "lots"`},
		{"unknown top key", "listen:\n  openflow: \":6653\"\nstatedir: /tmp\n",
			`c.yaml:3: statedir: unknown key; did you mean "state_dir"? allowed at the top level: listen, tls, api, log, state_dir, detect, block, meters, forward, notify, echo, store, cluster`},
		{"unknown nested key", "detect:\n  trw:\n    gamma: 0.1\n",
			"c.yaml:3: detect.trw.gamma: unknown key; allowed in detect.trw: alpha, beta, theta0, theta1"},
		{"duplicate key", "log:\n  level: info\n  level: debug\n",
			"c.yaml:3: log.level: duplicate key (first set on line 2)"},
		{"bad duration", "detect:\n  idle_expiry: 3 days\n",
			`c.yaml:2: detect.idle_expiry: must be a duration like 30s, 10m or 24h, got "3 days"`},
		{"negative duration", "echo:\n  interval: -5s\n",
			`c.yaml:2: echo.interval: must not be negative, got "-5s"`},
		{"duration out of range", "detect:\n  first_contact_timeout: 1h\n",
			"c.yaml:2: detect.first_contact_timeout: must be a duration from 100ms to 10m, got 1h"},
		{"durations shrinking", "block:\n  durations:\n    - 1h\n    - 10m\n",
			"c.yaml:4: block.durations[1]: must not be shorter than the previous step (1h): repeat offenders get longer blocks, got 10m"},
		{"durations empty", "block:\n  durations: []\n",
			"c.yaml:2: block.durations: must list 1 to 16 durations (first offence, second, ...), got 0"},
		{"durations not a list", "block:\n  durations: 10m\n",
			`c.yaml:2: block.durations: must be a list (like [a, b] or lines starting with "- "), got "10m"`},
		{"scope", "block:\n  scope: everywhere\n",
			`c.yaml:2: block.scope: must be one of network, ingress, got "everywhere"`},
		{"bad cidr", "block:\n  allowlist:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n",
			`c.yaml:4: block.allowlist[1]: "10.0.0.0/33" is not a CIDR like 10.0.0.0/8 or 2001:db8::/32; allowed: ADDR or CIDR, optionally with ports: 10.0.0.0/8, 192.0.2.1:22,443, 192.0.2.0/24:8000-8100, 2001:db8::/32, [2001:db8::1]:53 or [2001:db8::/32]:443`},
		{"host bits", "block:\n  never_block: [10.0.0.1/8]\n",
			`c.yaml:2: block.never_block[0]: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?); allowed: an IP address or CIDR, like 192.0.2.1 or 2001:db8::/64`},
		{"bad allow port", "block:\n  allowlist: [\"192.0.2.1/32:22,http\"]\n",
			`c.yaml:2: block.allowlist[0]: "192.0.2.1/32:22,http": port "http" is not a number in 1-65535; allowed: ADDR or CIDR, optionally with ports: 10.0.0.0/8, 192.0.2.1:22,443, 192.0.2.0/24:8000-8100, 2001:db8::/32, [2001:db8::1]:53 or [2001:db8::/32]:443`},
		{"noisy port too big", "block:\n  noisy_ports: [53, 70000]\n",
			`c.yaml:2: block.noisy_ports[1]: must be an integer from 0 to 65535, got "70000"`},
		{"noisy port zero", "block:\n  noisy_ports:\n    - 0\n",
			"c.yaml:3: block.noisy_ports[0]: must be a port number from 1 to 65535, got 0"},
		{"bool", "api:\n  open_reads_on_loopback: yes\n",
			`c.yaml:2: api.open_reads_on_loopback: must be true or false, got "yes"`},
		{"short token", "api:\n  tokens: [secret]\n",
			"c.yaml:2: api.tokens[0]: must be at least 16 characters (make one with: head -c 24 /dev/urandom | base64), got 6"},
		{"listen", "listen:\n  openflow: 6653\n",
			`c.yaml:2: listen.openflow: must be host:port like :6653 or 127.0.0.1:6680, got "6653"`},
		{"listen port", "api:\n  listen: \"127.0.0.1:http\"\n",
			`c.yaml:2: api.listen: port must be a number from 0 to 65535, got "http"`},
		{"tls incomplete", "tls:\n  cert: /etc/c.pem\n  key: /etc/k.pem\n",
			"c.yaml:1: tls.ca: must be set: switch TLS needs cert, key and ca (the CA that signed the switches' certificates)"},
		{"api tls incomplete", "api:\n  tls:\n    cert: /etc/c.pem\n",
			"c.yaml:2: api.tls.key: must be set together with api.tls.cert"},
		{"log level", "log: {level: verbose}\n",
			`c.yaml:1: log.level: must be one of debug, info, warn, error, got "verbose"`},
		{"log format", "log:\n  format: xml\n",
			`c.yaml:2: log.format: must be one of text, json, got "xml"`},
		{"state dir", "state_dir: \"\"\n",
			"c.yaml:1: state_dir: must be a directory path, got an empty string"},
		{"max sources", "detect:\n  max_sources: 3\n",
			"c.yaml:2: detect.max_sources: must be an integer from 16 to 10000000, got 3"},
		{"int overflow", "detect:\n  max_sources: 99999999999999999999999\n",
			`c.yaml:2: detect.max_sources: must be an integer from -9223372036854775808 to 9223372036854775807, got "99999999999999999999999"`},
		{"flood rate", "detect:\n  flood:\n    syn_rate: 50\n",
			"c.yaml:3: detect.flood.syn_rate: must be an integer from 100 to 100000000, got 50"},
		{"flood sustain", "detect:\n  flood:\n    sustain: 500ms\n",
			"c.yaml:3: detect.flood.sustain: must be a duration from 1s to 10m, got 500ms"},
		{"min ports", "detect:\n  stealth:\n    min_ports: 0\n",
			"c.yaml:3: detect.stealth.min_ports: must be an integer from 1 to 1000, got 0"},
		{"meter rate", "meters:\n  packet_in_rate: 0\n",
			"c.yaml:2: meters.packet_in_rate: must be an integer from 1 to 1000000, got 0"},
		{"meter negative", "meters:\n  packet_in_burst: -1\n",
			`c.yaml:2: meters.packet_in_burst: must be an integer from 0 to 4294967295, got "-1"`},
		{"idle timeout", "forward:\n  idle_timeout: 24h\n",
			"c.yaml:2: forward.idle_timeout: must be a duration from 1s to 18h12m15s, got 24h"},
		{"idle timeout fraction", "forward:\n  idle_timeout: 1500ms\n",
			"c.yaml:2: forward.idle_timeout: must be whole seconds (OpenFlow timeouts are in seconds), got 1.5s"},
		{"syslog network", "notify:\n  syslog:\n    network: carrier-pigeon\n    address: x:1\n",
			`c.yaml:3: notify.syslog.network: must be one of udp, tcp, unix, unixgram, got "carrier-pigeon"`},
		{"syslog address", "notify:\n  syslog:\n    address: loghost\n",
			`c.yaml:3: notify.syslog.address: must be host:port like :6653 or 127.0.0.1:6680, got "loghost"`},
		{"syslog unix path", "notify:\n  syslog: {network: unix, address: dev/log}\n",
			`c.yaml:2: notify.syslog.address: must be an absolute socket path like /dev/log for network unix, got "dev/log"`},
		{"webhook url", "notify:\n  webhook:\n    url: hooks.example/x\n    secret: 0123456789abcdef\n",
			`c.yaml:3: notify.webhook.url: must be an absolute http:// or https:// URL, got "hooks.example/x"`},
		{"webhook secret", "notify:\n  webhook:\n    url: https://hooks.example/x\n",
			"c.yaml:2: notify.webhook.secret: must be at least 16 characters when notify.webhook.url is set (it signs every request), got 0"},
		{"webhook queue", "notify:\n  webhook:\n    queue: 0\n",
			"c.yaml:3: notify.webhook.queue: must be an integer from 1 to 100000, got 0"},
		{"notice key hex", "notify:\n  notice:\n    key: not-hex\n",
			`c.yaml:3: notify.notice.key: must be hex digits (make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')`},
		{"notice key short", "notify:\n  notice:\n    key: abcd\n",
			"c.yaml:3: notify.notice.key: must be at least 32 bytes (64 hex digits), got 2 bytes"},
		{"notice key and file", "notify:\n  notice:\n    key_file: /etc/k\n    key: " + strings.Repeat("00", 32) + "\n",
			"c.yaml:4: notify.notice.key: must not be set together with notify.notice.key_file: choose one"},
		{"notice port", "notify:\n  notice: {port: 0}\n",
			"c.yaml:2: notify.notice.port: must be a UDP port from 1 to 65535, got 0"},
		{"alert rate", "notify:\n  alert_rate: -1\n",
			"c.yaml:2: notify.alert_rate: must be an integer from 0 to 100000, got -1"},
		{"echo timeout", "echo:\n  interval: 10s\n  timeout: 5s\n",
			"c.yaml:3: echo.timeout: must be at least echo.interval (10s), got 5s"},
		{"section not a mapping", "echo: 5\n", // a small section: a key added to a big one need not edit this
			`c.yaml:1: echo: this section must be a mapping of keys (interval, timeout), got "5"`},
		{"root not a mapping", "- a\n- b\n",
			`c.yaml:1: the configuration must be a mapping of keys (listen, tls, api, log, state_dir, detect, block, meters, forward, notify, echo, store, cluster), got a list`},
		{"string given a list", "state_dir: [a]\n",
			"c.yaml:1: state_dir: must be a string, got a list"},
		{"syntax", "log:\n  level: info\n  format: \"text\n",
			"c.yaml:3: YAML syntax: found unexpected end of stream"},
		{"tab", "log:\n  level: info\n\tformat: text\n",
			"c.yaml:3: YAML syntax: found a tab character that violates indentation (indent with spaces)"},
		{"merge key", "base: &b {level: info}\nlog:\n  <<: *b\n",
			`c.yaml:1: base: unknown key; allowed at the top level: listen, tls, api, log, state_dir, detect, block, meters, forward, notify, echo, store, cluster` + "\n" +
				`c.yaml:3: log.<<: unsupported key (merge keys and complex keys are not allowed)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.src)
			}
			if err.Error() != tc.want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, tc.want)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || es[0].File != "c.yaml" {
				t.Fatalf("error is %T, want Errors naming the file", err)
			}
		})
	}
}

func TestSeveralErrorsAllReported(t *testing.T) {
	_, err := Parse("c.yaml", []byte("detect:\n  trw:\n    alpha: 2\nlog:\n  level: loud\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Line != 3 || es[1].Line != 5 {
		t.Fatalf("err = %v, want two errors in file order (alpha on line 3, log.level on line 5)", err)
	}
}

func TestAliasesWork(t *testing.T) {
	src := "block:\n  never_block: &gw [192.0.2.1]\n  allowlist: *gw\n"
	c, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Block.Allowlist, []string{"192.0.2.1"}) {
		t.Fatalf("allowlist = %v", c.Block.Allowlist)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Detect.TRW.Alpha = 0
	err := c.Validate()
	if err == nil || err.Error() != "detect.trw.alpha: must be in (0,1), got 0" {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "portcullis.yaml")
	if err := os.WriteFile(p, []byte("log:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Log.Level != "debug" {
		t.Fatalf("Load = %v, %v", c.Log, err)
	}
	if err := os.WriteFile(p, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), p+":2: log.level: ") {
		t.Fatalf("Load bad = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Load missing = %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load big = %v", err)
	}
}

// TestExample: the documented example loads, validates, has the defaults
// (apart from its sample allowlist and never-block list), mentions every
// key and has a comment on every key.
func TestExample(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("docs/config.example.yaml: %v", err)
	}
	d := Default()
	d.Block.Allowlist = c.Block.Allowlist
	d.Block.NeverBlock = c.Block.NeverBlock
	if !reflect.DeepEqual(c, d) {
		t.Errorf("the example's values differ from Default():\nexample %+v\ndefault %+v", c, d)
	}
	data, _ := os.ReadFile(examplePath)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := strings.TrimPrefix(prefix+"."+k.Value, ".")
			inFile[key] = true
			if k.LineComment == "" && v.LineComment == "" && k.HeadComment == "" && k.FootComment == "" &&
				!(v.Kind == yaml.SequenceNode && len(v.Content) > 0 && v.Content[0].LineComment != "") {
				t.Errorf("docs/config.example.yaml:%d: key %s has no comment", k.Line, key)
			}
			walk(v, key)
		}
	}
	walk(doc.Content[0], "")
	for _, key := range allKeys(reflect.TypeOf(Config{}), "") {
		if !inFile[key] {
			t.Errorf("docs/config.example.yaml does not show key %s", key)
		}
	}
}

func allKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := strings.TrimPrefix(prefix+"."+yamlName(f), ".")
		out = append(out, key)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, allKeys(f.Type, key)...)
		}
	}
	return out
}

// Issue 12, item 2: config validation reads the allowlist grammar table as policy, the API and the
// CLI do, and says which key is wrong.
func TestAllowlistGrammarTable(t *testing.T) {
	for _, c := range allowtest.Cases(t, allowtest.Table()) {
		cfg := Default()
		cfg.Block.Allowlist = []string{c.Entry}
		err := cfg.Validate()
		switch {
		case c.Err != "" && (err == nil || !strings.Contains(err.Error(), "block.allowlist[0]: ") || !strings.Contains(err.Error(), c.Err)):
			t.Errorf("allowlist %q: %v; want a block.allowlist[0] error with %q", c.Entry, err, c.Err)
		case c.Err == "" && err != nil:
			t.Errorf("allowlist %q: %v", c.Entry, err)
		case c.Err == "":
			rules, err := cfg.Block.AllowRules()
			if err != nil || len(rules) != 1 || rules[0].String() != c.Canonical {
				t.Errorf("AllowRules(%q) = %v, %v; want %s", c.Entry, rules, err, c.Canonical)
			}
		}
	}
	// never_block takes prefixes only: no ports.
	for _, s := range []string{"192.0.2.1:22", "[2001:db8::1]:53", "2001:db8::1/128:53"} {
		cfg := Default()
		cfg.Block.NeverBlock = []string{s}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "block.never_block[0]") {
			t.Errorf("never_block %q: %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	f.Add([]byte("detect:\n  trw: {alpha: 0.5}\n"))
	f.Add([]byte("block:\n  durations: [1m, *a]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("example.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNeedsRestart(t *testing.T) {
	old := Default()
	c := Default()
	c.Block.Allowlist = []string{"10.0.0.0/8"}
	if got := NeedsRestart(old, c); len(got) != 0 {
		t.Fatalf("live-reloadable changes reported as needing a restart: %v", got)
	}
	c.Listen.OpenFlow = ":6633"
	c.API.TLS.Cert = "/c.pem"
	c.StateDir = "/tmp/x"
	c.Detect.TRW.Alpha = 0.05 // the detector is built with it
	if got := NeedsRestart(old, c); !slices.Equal(got, []string{"listen.openflow", "api.tls.cert", "state_dir", "detect.trw.alpha"}) {
		t.Fatalf("NeedsRestart = %v", got)
	}
}
