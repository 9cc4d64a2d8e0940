// Package deploy holds the files that install Portcullis as a service: the
// systemd unit (portcullis.service) and the production configuration
// (portcullis.yaml). Its tests check that the unit is well formed and
// sandboxed, that its command line uses flags the binary has, that the
// configuration loads, and that every portcullis command line in
// docs/deploy.md and docs/tls.md names a command and flags that exist.
package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"portcullis/internal/config"
	"portcullis/internal/testenv"
)

const (
	unitFile   = "portcullis.service"
	configFile = "portcullis.yaml"
	// The paths the unit and docs/deploy.md install to.
	binPath    = "/usr/local/bin/portcullis"
	configPath = "/etc/portcullis/portcullis.yaml"
)

// directive is one Key=Value line of a unit file.
type directive struct {
	section, key, value string
	line                int
}

// unit is a parsed systemd unit file.
type unit []directive

// values returns the values of section.key in file order.
func (u unit) values(section, key string) []string {
	var vs []string
	for _, d := range u {
		if d.section == section && d.key == key {
			vs = append(vs, d.value)
		}
	}
	return vs
}

var keyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

// parseUnit parses the subset of the systemd unit syntax the unit uses
// (systemd.syntax(7)): [Section] headers, Key=Value lines, # and ;
// comments, no line continuations.
func parseUnit(data []byte) (unit, error) {
	var u unit
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: line continuation not expected", n)
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: directive before any section", n)
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !keyRE.MatchString(k) {
			return nil, fmt.Errorf("line %d: want Key=Value, got %q", n, line)
		}
		u = append(u, directive{section, k, v, n})
	}
	return u, sc.Err()
}

func readUnit(t *testing.T) unit {
	t.Helper()
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(data)
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	return u
}

func TestParseUnitRejectsMalformed(t *testing.T) {
	for _, bad := range []string{
		"ExecStart=/bin/true\n",               // before any section
		"[Service\nExecStart=/bin/true\n",     // broken header
		"[Service]\nExecStart /bin/true\n",    // no '='
		"[Service]\nExec Start=/bin/true\n",   // bad key
		"[Service]\nExecStart=/bin/true \\\n", // continuation
	} {
		if _, err := parseUnit([]byte(bad)); err == nil {
			t.Errorf("parseUnit(%q) = nil error, want an error", bad)
		}
	}
}

// TestUnitSections checks that only the three standard sections appear and
// that no single-valued directive is set twice (systemd would silently keep
// the last one).
func TestUnitSections(t *testing.T) {
	u := readUnit(t)
	multi := map[string]bool{"SystemCallFilter": true, "Documentation": true, "After": true}
	seen := map[string]int{}
	for _, d := range u {
		if !slices.Contains([]string{"Unit", "Service", "Install"}, d.section) {
			t.Errorf("line %d: unexpected section [%s]", d.line, d.section)
		}
		id := d.section + "." + d.key
		if prev, dup := seen[id]; dup && !multi[d.key] {
			t.Errorf("line %d: %s set again (first on line %d)", d.line, id, prev)
		}
		seen[id] = d.line
	}
	if got := u.values("Install", "WantedBy"); !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("WantedBy = %q, want multi-user.target", got)
	}
}

// TestUnitSandbox checks every hardening directive the controller relies on
// and its value: it needs only IP sockets, its state directory and read
// access to /etc/portcullis.
func TestUnitSandbox(t *testing.T) {
	u := readUnit(t)
	want := map[string]string{
		"Type":                    "simple",
		"Restart":                 "on-failure",
		"User":                    "portcullis",
		"Group":                   "portcullis",
		"StateDirectory":          "portcullis",
		"StateDirectoryMode":      "0700",
		"ConfigurationDirectory":  "portcullis",
		"LogsDirectory":           "portcullis",
		"UMask":                   "0077",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallArchitectures": "native",
	}
	for key, val := range want {
		got := u.values("Service", key)
		if len(got) != 1 {
			t.Errorf("[Service] %s: set %d times, want once as %q", key, len(got), val)
			continue
		}
		if got[0] != val {
			t.Errorf("[Service] %s=%s, want %s=%s", key, got[0], key, val)
		}
	}
	if f := u.values("Service", "SystemCallFilter"); len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first (an allow list)", f)
	}
	lim := u.values("Service", "LimitNOFILE")
	if len(lim) != 1 {
		t.Fatalf("LimitNOFILE set %d times, want once", len(lim))
	}
	if n, err := strconv.Atoi(lim[0]); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%s, want a number >= 4096 (one socket per switch and API client)", lim[0])
	}
	for _, d := range u {
		if d.key == "DynamicUser" || strings.HasPrefix(d.key, "ReadWritePaths") {
			t.Errorf("line %d: %s: the unit writes only to its own State/Logs directories", d.line, d.key)
		}
	}
}

// execStart returns the ExecStart command line split into words.
func execStart(t *testing.T, u unit) []string {
	t.Helper()
	es := u.values("Service", "ExecStart")
	if len(es) != 1 {
		t.Fatalf("ExecStart set %d times, want once", len(es))
	}
	return strings.Fields(es[0])
}

func TestUnitExecStart(t *testing.T) {
	u := readUnit(t)
	args := execStart(t, u)
	want := []string{binPath, "run", "--config", configPath}
	if !slices.Equal(args, want) {
		t.Fatalf("ExecStart=%s, want %s", strings.Join(args, " "), strings.Join(want, " "))
	}
	// systemd creates /etc/NAME for ConfigurationDirectory=NAME.
	if cd := u.values("Service", "ConfigurationDirectory"); len(cd) != 1 || "/etc/"+cd[0] != filepath.Dir(args[3]) {
		t.Errorf("--config %s is not in ConfigurationDirectory=%q", args[3], cd)
	}
}

// moduleRoot is the directory holding go.mod (the parent of deploy/).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	return root
}

// binary builds cmd/portcullis once for the tests that run it. A build
// that fails fails the test: it is a broken tree, not a missing tool.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildSkip = "go not in PATH: cannot build cmd/portcullis"
			return
		}
		dir, err := os.MkdirTemp("", "portcullis-deploy-test")
		if err != nil {
			buildSkip = err.Error()
			return
		}
		bin := filepath.Join(dir, "portcullis")
		build := exec.Command(goBin, "build", "-o", bin, "./cmd/portcullis")
		build.Dir = moduleRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = "go build ./cmd/portcullis failed:\n" + string(out)
			return
		}
		builtBin = bin
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	if builtBin == "" {
		testenv.Missing(t, "%s", buildSkip)
	}
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildSkip string
	buildErr  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// helpOf runs `portcullis ARGS... --help` and returns its output; a
// command or verb that does not exist exits 2.
func helpOf(t *testing.T, bin string, args []string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, append(slices.Clone(args), "--help")...).CombinedOutput()
	return string(out), err
}

// flagListed reports whether help lists the flag --name (Go's flag
// package prints "  -name", the CLI "  --name").
func flagListed(help, name string) bool {
	return regexp.MustCompile(`(?m)^\s+--?` + regexp.QuoteMeta(name) + `\b`).MatchString(help)
}

// TestUnitFlagsExist checks that every flag in ExecStart is one
// `portcullis run --help` lists.
func TestUnitFlagsExist(t *testing.T) {
	bin := binary(t)
	help, err := helpOf(t, bin, []string{"run"})
	if err != nil || strings.Contains(help, "not implemented") {
		t.Skipf("`portcullis run --help` failed (%v), flags unchecked: %s", err, strings.TrimSpace(help))
	}
	args := execStart(t, readUnit(t))
	for _, a := range args[2:] {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flagListed(help, name) {
			t.Errorf("ExecStart uses %s, but `portcullis run --help` does not list it:\n%s", a, help)
		}
	}
}

// invocation is one `portcullis ...` command line found in a document.
type invocation struct {
	file string
	line int
	args []string // after "portcullis"
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// invocations finds the portcullis command lines of a Markdown file: in
// fenced code blocks (joining lines continued with a backslash, splitting
// on && ; |) and in inline code spans.
func invocations(t *testing.T, path string) []invocation {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []invocation
	add := func(n int, cmdline string) {
		for _, part := range regexp.MustCompile(`&&|;|\|`).Split(cmdline, -1) {
			part, _, _ = strings.Cut(part, "#")
			words := strings.Fields(strings.TrimPrefix(strings.TrimSpace(part), "$ "))
			if len(words) < 2 {
				continue
			}
			if words[0] == "portcullis" || strings.HasSuffix(words[0], "/portcullis") {
				out = append(out, invocation{path, n, words[1:]})
			}
		}
	}
	inFence, pending, start := false, "", 0
	for n, line := range strings.Split(string(data), "\n") {
		n++
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			if pending == "" {
				start = n
			}
			if c, ok := strings.CutSuffix(strings.TrimRight(line, " "), "\\"); ok {
				pending += c + " "
				continue
			}
			add(start, pending+line)
			pending = ""
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			add(n, m[1])
		}
	}
	return out
}

// TestDocsCommandsExist runs `--help` for every portcullis command the
// deployment docs tell a user to type, and checks the flags they use.
func TestDocsCommandsExist(t *testing.T) {
	bin := binary(t)
	root := moduleRoot(t)
	var all []invocation
	for _, doc := range []string{"docs/deploy.md", "docs/tls.md"} {
		all = append(all, invocations(t, filepath.Join(root, doc))...)
	}
	if len(all) < 10 {
		t.Fatalf("found only %d portcullis command lines in the docs; the scanner is broken", len(all))
	}
	word := regexp.MustCompile(`^[a-z]+$`)
	checked := map[string]bool{}
	for _, inv := range all {
		// The command is the leading lower-case words (noun, verb), at most two.
		var cmd []string
		for _, w := range inv.args {
			if len(cmd) == 2 || !word.MatchString(w) {
				break
			}
			cmd = append(cmd, w)
		}
		if len(cmd) == 0 {
			t.Errorf("%s:%d: portcullis %s: no command", inv.file, inv.line, strings.Join(inv.args, " "))
			continue
		}
		help, err := helpOf(t, bin, cmd)
		if err != nil {
			t.Errorf("%s:%d: `portcullis %s --help` failed (%v): the docs name a command that does not exist",
				inv.file, inv.line, strings.Join(cmd, " "), err)
			continue
		}
		for _, a := range inv.args {
			if !strings.HasPrefix(a, "--") || a == "--help" {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !flagListed(help, name) {
				t.Errorf("%s:%d: `portcullis %s` has no flag %s", inv.file, inv.line, strings.Join(cmd, " "), a)
			}
		}
		checked[strings.Join(cmd, " ")] = true
	}
	for _, must := range []string{"run", "status", "switch list", "config check", "block list", "version"} {
		if !checked[must] {
			t.Errorf("docs/deploy.md no longer shows `portcullis %s`", must)
		}
	}
}

// TestSystemdAnalyze runs systemd's own checks when systemd-analyze is
// installed: `verify` must report nothing but the binary missing from this
// machine, and `security` must rate the unit's exposure at most 2.0 (of 10).
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze not installed (apt-get install systemd); the directive tests above still ran")
	}
	var stderr bytes.Buffer
	verify := exec.Command(sa, "verify", "./"+unitFile)
	verify.Stderr = &stderr
	verify.Stdout = &stderr
	_ = verify.Run() // a missing ExecStart binary makes it exit 1; judged by the messages
	missing := fmt.Sprintf("Command %s is not executable", binPath)
	for line := range strings.Lines(stderr.String()) {
		line = strings.TrimSpace(line)
		if line == "" || strings.Contains(line, missing) {
			continue
		}
		t.Errorf("systemd-analyze verify: %s", line)
	}

	sec := exec.Command(sa, "security", "--offline=yes", "--threshold=20", "./"+unitFile)
	out, err := sec.CombinedOutput()
	if err != nil {
		overall := regexp.MustCompile(`Overall exposure level.*`).Find(out)
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v): %s", err, overall)
	}
}

// TestConfigLoads loads the production config as the service would.
func TestConfigLoads(t *testing.T) {
	c, err := config.Load(configFile)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", configFile, err)
	}
	// StateDirectory=portcullis is /var/lib/portcullis: the only writable
	// place besides LogsDirectory under ProtectSystem=strict.
	if c.StateDir != "/var/lib/portcullis" {
		t.Errorf("state_dir = %q, want /var/lib/portcullis (the unit's StateDirectory)", c.StateDir)
	}
	if c.Notify.JSONL != "" && c.Notify.JSONL != "-" && !strings.HasPrefix(c.Notify.JSONL, "/var/log/portcullis/") {
		t.Errorf("notify.jsonl = %q: the sandbox only lets the service write under /var/log/portcullis/", c.Notify.JSONL)
	}
	// CapabilityBoundingSet= is empty: the service cannot bind ports < 1024.
	for key, addr := range map[string]string{"listen.openflow": c.Listen.OpenFlow, "api.listen": c.API.Listen} {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s = %q: %v", key, addr, err)
			continue
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1024 {
			t.Errorf("%s = %q: the unit has no CAP_NET_BIND_SERVICE, use a port >= 1024", key, addr)
		}
	}
	if len(c.API.Tokens) != 0 {
		t.Errorf("the shipped config has API tokens %q; an example token would end up in production", c.API.Tokens)
	}
}

// TestConfigTLSExampleLoads uncomments the tls: block of the production
// config (what docs/deploy.md tells a user to do) and checks it still loads.
func TestConfigTLSExampleLoads(t *testing.T) {
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	found := 0
	for line := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(line, "# tls:"):
			in = true
		case in && !strings.HasPrefix(line, "#   "):
			in = false
		}
		if in {
			line = strings.TrimPrefix(line, "# ")
			found++
		}
		out = append(out, line)
	}
	if found != 4 {
		t.Fatalf("found %d lines of the commented tls: block, want 4 (tls:, cert, key, ca)", found)
	}
	c, err := config.Parse("uncommented "+configFile, []byte(strings.Join(out, "")))
	if err != nil {
		t.Fatalf("with the tls: block uncommented: %v", err)
	}
	if !c.TLS.Enabled() || c.TLS.CA == "" || c.TLS.Key == "" {
		t.Errorf("tls = %+v, want cert, key and ca set", c.TLS)
	}
	for _, p := range []string{c.TLS.Cert, c.TLS.Key, c.TLS.CA} {
		if !strings.HasPrefix(p, "/etc/portcullis/") {
			t.Errorf("%s is outside /etc/portcullis, which is all the service can read besides system files", p)
		}
	}
}
