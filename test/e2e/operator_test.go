package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// This file: issue 4's operator checks against the real binary, a real
// controller and a real lab: every CLI command, SIGHUP reload, bad input to
// the REST API, and /metrics. Helpers start with "op" so they cannot
// collide with those of the other e2e files; persist_test.go and
// dashboard_test.go use them too.

// opToken is the API token the operator tests give the controller.
const opToken = "op-e2e-token-0123456789abcdef"

// opResult is one CLI run.
type opResult struct {
	Stdout, Stderr string
	Code           int
}

func (r opResult) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// opCLI runs `portcullis ARGS...` with env (KEY=VALUE) added to a clean
// environment (no PORTCULLIS_* variables of the caller leak in) and returns
// what it printed and its exit code. It gives up after 30 s.
func opCLI(t testing.TB, env []string, args ...string) opResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = opEnviron(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := opResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("portcullis %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("portcullis %s: did not finish in 30s: %s", strings.Join(args, " "), r)
	}
	return r
}

func opEnviron(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// opDo sends one API request (body as given, token if non-empty) and
// returns the status, the Content-Type and the body.
func opDo(t testing.TB, c *Controller, method, path, token string, body io.Reader) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.APIURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// opPost POSTs v as JSON with opToken and decodes a 2xx answer into out.
func opPost(t testing.TB, c *Controller, path string, v, out any) {
	t.Helper()
	if err := c.API(opToken).Do(t.Context(), http.MethodPost, path, v, out); err != nil {
		t.Fatalf("POST %s %s: %v", path, scanJSON(v), err)
	}
}

// opAllow is GET /api/v1/allowlist.
func opAllow(t testing.TB, c *Controller) []api.AllowEntry {
	t.Helper()
	var l api.AllowList
	GetJSON(t, c, "/api/v1/allowlist", &l)
	return l.Allowlist
}

// opLab starts a controller (opToken, no grace period, its own state
// directory, extra flags) and a lab of n hosts pointed at it, and waits
// until the switch is reconciled (switch_up) and listed with its ports.
func opLab(t testing.TB, n int, extra ...string) (*Controller, *lab.Lab) {
	t.Helper()
	RequireLab(t)
	c := StartPortcullis(t, append([]string{"--api-token", opToken}, extra...)...)
	cfg := LabConfig(n)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	scanWaitSwitchUp(t, c)
	WaitSwitch(t, c, DPID(t, l))
	return c, l
}

// opLearnHosts makes every host talk to the next one (IPv4), so the
// controller learns each host's MAC, port and address, and waits until
// GET /api/v1/hosts lists them all with their IPv4 address.
func opLearnHosts(t testing.TB, c *Controller, l *lab.Lab) []api.Host {
	t.Helper()
	hosts := l.Hosts()
	for i, h := range hosts {
		peer := hosts[(i+1)%len(hosts)]
		if err := Ping(t.Context(), l, h.Index, peer.Index, false, 5); err != nil {
			t.Fatal(err)
		}
	}
	var got []api.Host
	waitFor(t, 10*time.Second, "every lab host listed by /api/v1/hosts with its IPv4 address", func() bool {
		var hl api.HostList
		GetJSON(t, c, "/api/v1/hosts", &hl)
		got = hl.Hosts
		for _, h := range hosts {
			if opFindHost(got, h) == nil {
				return false
			}
		}
		return true
	})
	return got
}

// opFindHost returns the entry of hosts for lab host h (its MAC, port and
// IPv4 address), or nil.
func opFindHost(hosts []api.Host, h lab.Host) *api.Host {
	for i := range hosts {
		x := &hosts[i]
		if strings.EqualFold(x.MAC, h.MAC.String()) && x.Port == h.Port && slices.Contains(x.IPs, h.IP.String()) {
			return x
		}
	}
	return nil
}

// The operator CLI on a running lab (issue 4, "Every CLI command on a
// running lab: right output, --json parses, wrong arguments give a short
// usage error and exit code 2, an unreachable controller gives a clear
// message"): status, switch list, host list, block list|add|rm, allow
// list|add|rm, events [--follow], version and config check, each as a user
// would type it; a block added by --ip cuts the host off and block rm gives
// it back its network.
func TestOperatorCLI(t *testing.T) {
	c, l := opLab(t, 3)
	dpid := api.FormatDPID(DPID(t, l))
	opLearnHosts(t, c, l)
	apiEnv := []string{"PORTCULLIS_API=" + c.APIURL}
	withToken := append(slices.Clone(apiEnv), "PORTCULLIS_TOKEN="+opToken)
	cli := func(env []string, args ...string) opResult {
		t.Helper()
		return opCLI(t, env, args...)
	}
	ok := func(r opResult, args ...string) opResult {
		t.Helper()
		if r.Code != 0 {
			t.Fatalf("portcullis %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	run := func(args ...string) opResult { t.Helper(); return ok(cli(apiEnv, args...), args...) }
	runJSON := func(v any, args ...string) {
		t.Helper()
		r := run(append(args, "--json")...)
		if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
			t.Fatalf("portcullis %s --json: not JSON: %v\n%s", strings.Join(args, " "), err, r.Stdout)
		}
	}

	t.Run("version", func(t *testing.T) {
		r := run("version")
		if !strings.HasPrefix(r.Stdout, "portcullis ") || !strings.Contains(r.Stdout, "go1.") {
			t.Errorf("version: %q", r.Stdout)
		}
	})

	t.Run("status", func(t *testing.T) {
		// --api on the command line as well as PORTCULLIS_API.
		r := ok(cli(nil, "status", "--api", c.APIURL), "status")
		for _, want := range []string{"controller:", c.APIURL, "switches:", "hosts:", "active blocks:"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, r.Stdout)
			}
		}
		if !opLineHas(r.Stdout, "switches:", "1") {
			t.Errorf("status does not say 1 switch:\n%s", r.Stdout)
		}
		var s api.Status
		runJSON(&s, "status")
		if s.Switches != 1 || s.Hosts < 3 || s.ActiveBlocks != 0 || s.PacketIns == 0 {
			t.Errorf("status --json: %+v, want 1 switch, >= 3 hosts, no block, some packet-ins", s)
		}
	})

	t.Run("switch list", func(t *testing.T) {
		r := run("switch", "list")
		if !strings.Contains(r.Stdout, dpid) {
			t.Errorf("switch list lacks the lab's switch %s:\n%s", dpid, r.Stdout)
		}
		for _, h := range l.Hosts() {
			if want := fmt.Sprintf("%d:%s", h.Port, h.Name); !strings.Contains(r.Stdout, want) {
				t.Errorf("switch list lacks port %s:\n%s", want, r.Stdout)
			}
		}
		var sl api.SwitchList
		runJSON(&sl, "switch", "list")
		if len(sl.Switches) != 1 || sl.Switches[0].DPID != dpid {
			t.Fatalf("switch list --json: %+v, want the one switch %s", sl, dpid)
		}
		CheckPorts(t, sl.Switches[0], l)
	})

	t.Run("host list", func(t *testing.T) {
		r := run("host", "list")
		for _, h := range l.Hosts() {
			if !opLineHas(r.Stdout, h.MAC.String(), h.IP.String(), dpid, fmt.Sprint(h.Port)) {
				t.Errorf("host list has no row for %s (%s %s on %s port %d):\n%s", h.Name, h.MAC, h.IP, dpid, h.Port, r.Stdout)
			}
		}
		var hl api.HostList
		runJSON(&hl, "host", "list")
		for _, h := range l.Hosts() {
			if x := opFindHost(hl.Hosts, h); x == nil || x.DPID != dpid || x.LastSeen.IsZero() {
				t.Errorf("host list --json: %s (%s %s port %d) missing or incomplete: %+v", h.Name, h.MAC, h.IP, h.Port, hl.Hosts)
			}
		}
	})

	t.Run("host list IPv6", func(t *testing.T) {
		for _, h := range l.Hosts() {
			peer := l.Host(h.Index%len(l.Hosts()) + 1)
			if err := Ping(t.Context(), l, h.Index, peer.Index, true, 5); err != nil {
				t.Fatal(err)
			}
		}
		var hl api.HostList
		waitFor(t, 10*time.Second, "every host listed with its IPv6 address", func() bool {
			runJSON(&hl, "host", "list")
			for _, h := range l.Hosts() {
				x := opFindHost(hl.Hosts, h)
				if x == nil || !slices.Contains(x.IPs, h.IPv6.String()) {
					return false
				}
			}
			return true
		})
		r := run("host", "list")
		for _, h := range l.Hosts() {
			if !opLineHas(r.Stdout, h.MAC.String(), h.IPv6.String()) {
				t.Errorf("host list has no row with %s and %s:\n%s", h.MAC, h.IPv6, r.Stdout)
			}
		}
	})

	t.Run("block", func(t *testing.T) {
		h3 := l.Host(3)
		var bl api.BlockList
		runJSON(&bl, "block", "list")
		if len(bl.Blocks) != 0 {
			t.Fatalf("blocks before any: %+v", bl.Blocks)
		}
		if r := run("block", "list"); !strings.HasPrefix(r.Stdout, "ID") || strings.Count(r.Stdout, "\n") != 1 {
			t.Errorf("empty block list: want only the header:\n%s", r.Stdout)
		}

		// A change without a token, or with a wrong one, fails clearly and
		// changes nothing.
		args := []string{"block", "add", "--ip", h3.IP.String(), "--duration", "10m", "--reason", "op-e2e manual"}
		r := cli(apiEnv, args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "token") || r.Stdout != "" {
			t.Errorf("block add without a token: want exit 1 and a message about the token on stderr: %s", r)
		}
		r = cli(apiEnv, append(args, "--token", "not-the-right-token-000")...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "401") {
			t.Errorf("block add with a wrong token: want exit 1 and HTTP 401 on stderr: %s", r)
		}
		if n := len(scanBlocks(t, c)); n != 0 {
			t.Fatalf("a refused block add left %d blocks", n)
		}

		// The token from PORTCULLIS_TOKEN: the block is made, h3 is cut off.
		r = ok(cli(withToken, append(args, "--json")...), args...)
		var b api.Block
		if err := json.Unmarshal([]byte(r.Stdout), &b); err != nil {
			t.Fatalf("block add --json: %v: %s", err, r.Stdout)
		}
		if b.ID == "" || !slices.Contains(b.IPs, h3.IP.String()) || b.Reason != "op-e2e manual" {
			t.Errorf("block add --json: %+v, want an id, IP %s and the reason", b, h3.IP)
		}
		if d := b.Expires.Sub(b.Created); d < 9*time.Minute || d > 11*time.Minute {
			t.Errorf("block add --duration 10m: expires %v after creation", d)
		}
		r = run("block", "list")
		if !opLineHas(r.Stdout, b.ID, h3.IP.String(), "op-e2e manual") {
			t.Errorf("block list lacks the new block %s:\n%s", b.ID, r.Stdout)
		}
		runJSON(&bl, "block", "list")
		if len(bl.Blocks) != 1 || bl.Blocks[0].ID != b.ID {
			t.Errorf("block list --json: %+v, want the one block %s", bl.Blocks, b.ID)
		}
		if scanPing(l, 3, 2, false, 2) {
			t.Errorf("h3 still pings h2 while blocked by IP")
		}
		if !scanPing(l, 1, 2, false, 3) {
			t.Errorf("h1 cannot ping h2 while only h3 is blocked")
		}

		// Removing: a wrong id is "not found" (exit 3); the right one lifts
		// the block and h3 pings again.
		if r := cli(withToken, "block", "rm", "no-such-block"); r.Code != 3 || !strings.Contains(r.Stderr, "no-such-block") {
			t.Errorf("block rm of an unknown id: want exit 3 and the id on stderr: %s", r)
		}
		if r := cli(apiEnv, "block", "rm", b.ID); r.Code != 1 || !strings.Contains(r.Stderr, "token") {
			t.Errorf("block rm without a token: want exit 1 and a message about the token: %s", r)
		}
		r = ok(cli(withToken, "block", "rm", b.ID), "block", "rm", b.ID)
		if !strings.Contains(r.Stdout, "removed") || !strings.Contains(r.Stdout, b.ID) {
			t.Errorf("block rm: %s", r)
		}
		runJSON(&bl, "block", "list")
		if len(bl.Blocks) != 0 {
			t.Errorf("blocks after rm: %+v", bl.Blocks)
		}
		if !scanPing(l, 3, 2, false, 5) {
			t.Errorf("h3 cannot ping h2 after block rm")
		}
	})

	t.Run("allow", func(t *testing.T) {
		var al api.AllowList
		runJSON(&al, "allow", "list")
		before := len(al.Allowlist)
		r := cli(apiEnv, "allow", "add", "192.0.2.0/24", "--port", "22")
		if r.Code != 1 || !strings.Contains(r.Stderr, "token") {
			t.Errorf("allow add without a token: %s", r)
		}
		r = ok(cli(withToken, "allow", "add", "192.0.2.0/24", "--port", "22", "--port", "443", "--comment", "op-e2e jump hosts", "--json"), "allow", "add")
		var e api.AllowEntry
		if err := json.Unmarshal([]byte(r.Stdout), &e); err != nil {
			t.Fatalf("allow add --json: %v: %s", err, r.Stdout)
		}
		if e.ID == "" || e.CIDR.String() != "192.0.2.0/24" || !slices.Equal(e.Ports, api.Ports(22, 443)) || e.Comment != "op-e2e jump hosts" {
			t.Errorf("allow add --json: %+v", e)
		}
		r = run("allow", "list")
		if !opLineHas(r.Stdout, e.ID, "192.0.2.0/24", "22,443", "op-e2e jump hosts") {
			t.Errorf("allow list lacks the entry:\n%s", r.Stdout)
		}
		runJSON(&al, "allow", "list")
		if len(al.Allowlist) != before+1 {
			t.Errorf("allow list --json: %d entries, want %d", len(al.Allowlist), before+1)
		}
		r = ok(cli(withToken, "allow", "rm", e.ID), "allow", "rm")
		if !strings.Contains(r.Stdout, e.ID) {
			t.Errorf("allow rm: %s", r)
		}
		// A range is shown as the range it is (issue 12: it once showed its first 64 ports).
		r = ok(cli(withToken, "allow", "add", "[2001:db8:77::/48]:22,1024-65535", "--json"), "allow", "add")
		var rg api.AllowEntry
		if err := json.Unmarshal([]byte(r.Stdout), &rg); err != nil || rg.Ports.String() != "22,1024-65535" {
			t.Errorf("allow add of a range --json: %v: %s", err, r.Stdout)
		}
		if r := run("allow", "list"); !opLineHas(r.Stdout, rg.ID, "2001:db8:77::/48", "22,1024-65535") {
			t.Errorf("allow list does not show the range:\n%s", r.Stdout)
		}
		ok(cli(withToken, "allow", "rm", rg.ID), "allow", "rm")
		if r := run("allow", "list"); strings.Contains(r.Stdout, "192.0.2.0/24") {
			t.Errorf("allow list after rm still has the entry:\n%s", r.Stdout)
		}
	})

	t.Run("events", func(t *testing.T) {
		r := run("events", "--limit", "100")
		for _, typ := range []string{"switch_up", "blocked", "unblocked", "allow_added", "allow_removed"} {
			if !strings.Contains(r.Stdout, typ) {
				t.Errorf("events lacks a %s event:\n%s", typ, r.Stdout)
			}
		}
		r = run("events", "--json", "--type", "blocked")
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		for _, line := range lines {
			var e api.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type != "blocked" || e.ID == 0 {
				t.Errorf("events --json --type blocked: line %q: %v %+v", line, err, e)
			}
		}

		// --follow --count 1 prints the next event as it happens and exits.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, Binary(t), "events", "--follow", "--count", "1", "--json", "--limit", "1", "--type", "allow_added")
		cmd.Env = opEnviron(apiEnv)
		var out, errb syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The one old allow_added event comes first; wait for it, so the
		// stream is open before the new one.
		waitFor(t, 10*time.Second, "events --follow printing the past event", func() bool { return strings.Count(out.String(), "\n") >= 1 })
		var e api.AllowEntry
		opPost(t, c, "/api/v1/allowlist", map[string]any{"cidr": "198.51.100.7", "comment": "follow-marker"}, &e)
		err := cmd.Wait()
		if err != nil || ctx.Err() != nil {
			t.Fatalf("events --follow --count 1: %v (ctx %v)\nstdout: %s\nstderr: %s", err, ctx.Err(), out.String(), errb.String())
		}
		lines = strings.Split(strings.TrimSpace(out.String()), "\n")
		var last api.Event
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Type != "allow_added" ||
			!strings.Contains(last.Message+last.Target+last.Reason+strings.Join(last.IPs, ","), "198.51.100.7") {
			t.Errorf("events --follow: last line %q (%v), want the allow_added event of 198.51.100.7", lines[len(lines)-1], err)
		}
	})

	t.Run("config check", func(t *testing.T) {
		example := filepath.Join(repoRoot(), "docs", "config.example.yaml")
		r := run("config", "check", example)
		if !strings.Contains(r.Stdout, "ok") {
			t.Errorf("config check of the example: %s", r)
		}
		bad := WriteConfig(t, "detect:\n  trw:\n    alpha: 1.5\n")
		r = cli(nil, "config", "check", bad)
		if r.Code != 1 || !strings.Contains(r.Stderr, bad+":3") || !strings.Contains(r.Stderr, "detect.trw.alpha") {
			t.Errorf("config check of a bad file: want exit 1 and FILE:3: detect.trw.alpha on stderr: %s", r)
		}
		r = cli(nil, "config", "check", filepath.Join(t.TempDir(), "missing.yaml"))
		if r.Code != 1 || !strings.Contains(r.Stderr, "missing.yaml") {
			t.Errorf("config check of a missing file: %s", r)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{},
			{"frobnicate"},
			{"status", "extra"},
			{"status", "--no-such-flag"},
			{"switch"},
			{"switch", "frob"},
			{"host", "list", "extra"},
			{"block", "add"},
			{"block", "add", "--ip", "10.0.0.300"},
			{"block", "add", "--mac", "zz:00:00:00:00:01"},
			{"block", "add", "--ip", "10.0.0.3", "--duration", "forever"},
			{"block", "rm"},
			{"block", "list", "--json=maybe"},
			{"allow", "add"},
			{"allow", "add", "10.0.0.0/33"},
			{"allow", "add", "10.0.0.0/24", "--port", "70000"},
			{"allow", "rm"},
			{"events", "--limit", "0"},
			{"events", "--since", "yesterday"},
			{"events", "--count", "-1"},
			{"config"},
			{"config", "check"},
			{"config", "frob"},
			{"status", "--api", "ftp://127.0.0.1:1"},
		} {
			r := cli(withToken, args...)
			lines := strings.Count(strings.TrimSpace(r.Stderr), "\n") + 1
			if r.Code != 2 || r.Stdout != "" || r.Stderr == "" || lines > 25 {
				t.Errorf("portcullis %s: want exit 2, nothing on stdout and a short usage error on stderr: %s",
					strings.Join(args, " "), r)
			}
		}
		// Nothing of that reached the controller.
		if n := len(scanBlocks(t, c)); n != 0 {
			t.Errorf("usage errors made %d blocks", n)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		dead := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		for _, args := range [][]string{{"status"}, {"switch", "list"}, {"block", "list", "--json"}, {"block", "rm", "x"}, {"events"}} {
			r := cli([]string{"PORTCULLIS_API=" + dead, "PORTCULLIS_TOKEN=" + opToken}, args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "cannot reach the controller at "+dead) ||
				!strings.Contains(r.Stderr, "refused") {
				t.Errorf("portcullis %s against %s: want exit 1 and 'cannot reach the controller at %s: ... refused': %s",
					strings.Join(args, " "), dead, dead, r)
			}
			if strings.Count(strings.TrimSpace(r.Stderr), "\n") > 2 {
				t.Errorf("portcullis %s: the message is not short: %s", strings.Join(args, " "), r.Stderr)
			}
		}
	})

	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{
			{"--help"}, {"help"},
			{"run", "--help"}, {"lab", "--help"}, {"agent", "--help"},
			{"config", "--help"}, {"config", "check", "--help"},
			{"status", "--help"},
			{"switch", "--help"}, {"switch", "list", "--help"},
			{"host", "--help"}, {"host", "list", "--help"},
			{"block", "--help"}, {"block", "list", "--help"}, {"block", "add", "--help"}, {"block", "rm", "--help"},
			{"allow", "--help"}, {"allow", "list", "--help"}, {"allow", "add", "--help"}, {"allow", "rm", "--help"},
			{"events", "--help"}, {"version", "--help"},
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				r := cli(nil, args...)
				if r.Code == 0 && args[0] == "version" && strings.HasPrefix(r.Stdout, "portcullis ") &&
					!strings.Contains(strings.ToLower(r.Stdout+r.Stderr), "usage") {
					t.Fatalf("'portcullis version --help' ignores --help and prints the version (%q), not a usage text", r.Stdout)
				}
				if r.Code != 0 || !strings.Contains(strings.ToLower(r.Stdout+r.Stderr), "usage") {
					t.Errorf("want exit 0 and a usage text: %s", r)
				}
			})
		}
	})
}

// opLineHas reports whether one line of text contains every one of parts.
func opLineHas(text string, parts ...string) bool {
	for line := range strings.Lines(text) {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// opSignal sends sig to the controller process.
func opSignal(t testing.TB, c *Controller, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// opHasAllow reports whether the allowlist holds an entry for prefix.
func opHasAllow(entries []api.AllowEntry, prefix string) bool {
	for _, e := range entries {
		if e.CIDR.String() == prefix {
			return true
		}
	}
	return false
}

// SIGHUP reloads the configuration file without dropping the switch or the
// blocks (issue 4 item 1): a new allowlist entry and new block durations
// apply at once; a broken file keeps the running configuration, the log
// says why, and a config_reload_failed event is published.
func TestOperatorSIGHUP(t *testing.T) {
	RequireLab(t)
	const token2 = "op-e2e-second-token-9876543210"
	good := func(tokens, allow []string, durations, timeout string) string {
		return fmt.Sprintf(`# written by TestOperatorSIGHUP
api:
  tokens: [%s]
detect:
  grace_period: 0s
  first_contact_timeout: %s
block:
  durations: %s
  allowlist: [%s]
`, `"`+strings.Join(tokens, `", "`)+`"`, timeout, durations, `"`+strings.Join(allow, `", "`)+`"`)
	}
	path := WriteConfig(t, good([]string{opToken}, []string{"192.0.2.10/32:161"}, "[10m, 1h]", "3s"))
	c := StartController(t, "--config", path, "--state-dir", t.TempDir())
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	scanWaitSwitchUp(t, c)
	sw := WaitSwitch(t, c, DPID(t, l))
	if !opHasAllow(opAllow(t, c), "192.0.2.10/32") {
		t.Fatalf("the config file's allowlist entry is not listed: %+v", opAllow(t, c))
	}

	// A block by MAC with the default duration: the first step, 10m.
	const mac = "02:00:00:00:00:77"
	var b1 api.Block
	opPost(t, c, "/api/v1/blocks", map[string]string{"mac": mac, "reason": "before reload"}, &b1)
	if d := b1.Expires.Sub(b1.Created); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("block before the reload lasts %v, want the configured 10m", d)
	}
	waitFor(t, 10*time.Second, "the block's drop flow", func() bool { return len(scanDropFlows(t, l, mac)) > 0 })

	unchanged := func(when string) {
		t.Helper()
		now := Switches(t, c)
		if len(now) != 1 || now[0].DPID != sw.DPID || !now[0].ConnectedSince.Equal(sw.ConnectedSince) {
			t.Errorf("%s: switches %+v, want %s still connected since %v", when, now, sw.DPID, sw.ConnectedSince)
		}
		if n := len(scanEvents(t, c, "switch_down")); n != 0 {
			t.Errorf("%s: %d switch_down events", when, n)
		}
		var ids []string
		for _, b := range scanBlocks(t, c) {
			ids = append(ids, b.ID)
		}
		if !slices.Contains(ids, b1.ID) {
			t.Errorf("%s: block %s is gone: %v", when, b1.ID, ids)
		}
		if len(scanDropFlows(t, l, mac)) == 0 {
			t.Errorf("%s: the block's drop flow left the switch", when)
		}
		if err := Ping(t.Context(), l, 1, 2, false, 3); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}

	// A second token is refused before the reload.
	if code, _, _ := opDo(t, c, "POST", "/api/v1/allowlist", token2, strings.NewReader(`{"cidr":"203.0.113.9"}`)); code != 401 {
		t.Errorf("a token not in the file: %d, want 401", code)
	}

	// A good change: one more allowlist entry, longer durations, a second
	// token, and a detection setting (which needs a restart, and says so).
	next := good([]string{opToken, token2}, []string{"192.0.2.10/32:161", "198.51.100.0/24"}, "[20m, 2h]", "5s")
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	opSignal(t, c, syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new allowlist entry after SIGHUP", func() bool { return opHasAllow(opAllow(t, c), "198.51.100.0/24") })
	if !opHasAllow(opAllow(t, c), "192.0.2.10/32") {
		t.Errorf("the old allowlist entry is gone after the reload: %+v", opAllow(t, c))
	}
	var reloaded []api.Event
	waitFor(t, 5*time.Second, "a config_reloaded event", func() bool {
		reloaded = scanEvents(t, c, "config_reloaded")
		return len(reloaded) == 1
	})
	if m := reloaded[0].Message; !strings.Contains(m, "restart") || !strings.Contains(m, "detect") {
		t.Errorf("config_reloaded event %q does not say that the detect change needs a restart", m)
	}
	// It names every changed key and what happened to it
	// (config.ReloadTable), and never a token.
	m := reloaded[0].Message
	applied, kept, _ := strings.Cut(strings.TrimPrefix(m, "configuration reloaded; applied: "), "; kept until a restart: ")
	for _, k := range []string{"api.tokens", "block.durations", "block.allowlist"} {
		if !strings.Contains(applied, k) {
			t.Errorf("config_reloaded event %q does not name %s as applied", m, k)
		}
	}
	if kept != "detect.first_contact_timeout" || strings.Contains(m, token2) {
		t.Errorf("config_reloaded event %q: want only detect.first_contact_timeout kept until a restart, and no token", m)
	}
	if code, _, body := opDo(t, c, "POST", "/api/v1/allowlist", token2, strings.NewReader(`{"cidr":"203.0.113.9"}`)); code != 201 {
		t.Errorf("the token added by the reload is refused: %d %s", code, body)
	} else {
		var e api.AllowEntry
		json.Unmarshal(body, &e)
		if code, _, body := opDo(t, c, "DELETE", "/api/v1/allowlist/"+e.ID, token2, nil); code != 204 {
			t.Errorf("DELETE allowlist %s with the new token: %d %s", e.ID, code, body)
		}
	}
	unchanged("after a good reload")
	var b2 api.Block
	opPost(t, c, "/api/v1/blocks", map[string]string{"mac": "02:00:00:00:00:78", "reason": "after reload"}, &b2)
	if d := b2.Expires.Sub(b2.Created); d < 19*time.Minute || d > 21*time.Minute {
		t.Errorf("a first block after the reload lasts %v, want the new 20m", d)
	}

	// A broken file: the running configuration stays, the log and an event
	// say why.
	logsBefore := len(c.Logs())
	broken := good([]string{opToken}, []string{"198.51.100.0/24", "203.0.113.0/24"}, "[5m]", "5s") + "  scope: everywhere\n"
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	opSignal(t, c, syscall.SIGHUP)
	var failed []api.Event
	waitFor(t, 10*time.Second, "a config_reload_failed event", func() bool {
		failed = scanEvents(t, c, "config_reload_failed")
		return len(failed) == 1
	})
	if m := failed[0].Message; !strings.Contains(m, "block.scope") || !strings.Contains(m, filepath.Base(path)) {
		t.Errorf("config_reload_failed event %q does not name the file and the key block.scope", m)
	}
	logs := c.Logs()[logsBefore:]
	if !strings.Contains(logs, "reload failed") || !strings.Contains(logs, "block.scope") || !strings.Contains(logs, path) {
		t.Errorf("the log does not say why the reload failed (want 'reload failed', the file and block.scope):\n%s", logs)
	}
	time.Sleep(500 * time.Millisecond) // a wrong reload would have applied by now
	al := opAllow(t, c)
	if !opHasAllow(al, "192.0.2.10/32") || opHasAllow(al, "203.0.113.0/24") {
		t.Errorf("allowlist after a refused reload: %+v, want the running one (192.0.2.10/32, 198.51.100.0/24)", al)
	}
	var b3 api.Block
	opPost(t, c, "/api/v1/blocks", map[string]string{"mac": "02:00:00:00:00:79", "reason": "after bad reload"}, &b3)
	if d := b3.Expires.Sub(b3.Created); d < 19*time.Minute || d > 21*time.Minute {
		t.Errorf("a first block after a refused reload lasts %v, want the running 20m", d)
	}
	unchanged("after a refused reload")
	if code, _, _ := opDo(t, c, "GET", "/api/v1/blocks", "", nil); code != 200 {
		t.Errorf("reads after a refused reload: %d", code)
	}
	if code, _, body := opDo(t, c, "POST", "/api/v1/allowlist", token2, strings.NewReader(`{"cidr":"203.0.113.10"}`)); code != 201 {
		t.Errorf("the running token %s stopped working after a refused reload: %d %s", token2, code, body)
	}
	if c.Exited() {
		t.Fatal("the controller exited on a bad reload")
	}
}

// opErrorBody checks that an API answer is a 4xx with the JSON error object
// and a message, and returns the error.
func opErrorBody(t testing.TB, what string, code int, ctype string, body []byte, wantStatus int) api.ErrorDetail {
	t.Helper()
	var eb api.ErrorBody
	err := json.Unmarshal(body, &eb)
	if code != wantStatus || !strings.HasPrefix(ctype, "application/json") || err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Errorf("%s: got %d %q %s, want %d with a JSON error object", what, code, ctype, body, wantStatus)
	}
	if len(body) > 1024 {
		t.Errorf("%s: error body of %d bytes is not a short message", what, len(body))
	}
	return eb.Error
}

// Bad input to the real controller's API (issue 4, "malformed JSON, unknown
// fields, bad CIDRs, missing or wrong token, huge bodies"): each gets a 4xx
// with a clear JSON error, and the blocks and the allowlist do not change.
func TestOperatorAPIBadInput(t *testing.T) {
	c := StartPortcullis(t, "--api-token", opToken)
	// Something to lose: one block, one allowlist entry.
	var b api.Block
	opPost(t, c, "/api/v1/blocks", map[string]string{"mac": "02:00:00:00:00:55", "duration": "1h", "reason": "baseline"}, &b)
	var e api.AllowEntry
	opPost(t, c, "/api/v1/allowlist", map[string]any{"cidr": "192.0.2.0/24", "ports": []int{22}}, &e)
	snapshot := func() string {
		var bl api.BlockList
		GetJSON(t, c, "/api/v1/blocks", &bl)
		return scanJSON(bl) + scanJSON(api.AllowList{Allowlist: opAllow(t, c)})
	}
	before := snapshot()

	huge := `{"ip":"10.0.0.9","reason":"` + strings.Repeat("x", 8<<20) + `"}`
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		msgHas                          string
	}{
		{"malformed JSON", "POST", "/api/v1/blocks", opToken, `{"ip": "10.0.0.9"`, 400, ""},
		{"not an object", "POST", "/api/v1/blocks", opToken, `["10.0.0.9"]`, 400, ""},
		{"two objects", "POST", "/api/v1/blocks", opToken, `{"ip":"10.0.0.9"}{"ip":"10.0.0.8"}`, 400, ""},
		{"empty body", "POST", "/api/v1/blocks", opToken, ``, 400, ""},
		{"unknown field", "POST", "/api/v1/blocks", opToken, `{"ip":"10.0.0.9","forever":true}`, 400, "forever"},
		{"bad IP", "POST", "/api/v1/blocks", opToken, `{"ip":"10.0.0.300"}`, 400, "10.0.0.300"},
		{"bad MAC", "POST", "/api/v1/blocks", opToken, `{"mac":"02:00:00:00:00"}`, 400, ""},
		{"bad duration", "POST", "/api/v1/blocks", opToken, `{"ip":"10.0.0.9","duration":"forever"}`, 400, "duration"},
		{"negative duration", "POST", "/api/v1/blocks", opToken, `{"ip":"10.0.0.9","duration":"-5m"}`, 400, "duration"},
		{"nothing to block", "POST", "/api/v1/blocks", opToken, `{"reason":"nobody"}`, 400, ""},
		{"bad CIDR", "POST", "/api/v1/allowlist", opToken, `{"cidr":"10.0.0.0/33"}`, 400, "10.0.0.0/33"},
		{"CIDR not an address", "POST", "/api/v1/allowlist", opToken, `{"cidr":"corp-network"}`, 400, "corp-network"},
		{"bad port", "POST", "/api/v1/allowlist", opToken, `{"cidr":"10.0.0.0/24","ports":[70000]}`, 400, ""},
		{"unknown allow field", "POST", "/api/v1/allowlist", opToken, `{"cidr":"10.0.0.0/24","everything":true}`, 400, "everything"},
		{"missing token (block)", "POST", "/api/v1/blocks", "", `{"ip":"10.0.0.9"}`, 401, ""},
		{"wrong token (block)", "POST", "/api/v1/blocks", "wrong-token-0123456789", `{"ip":"10.0.0.9"}`, 401, ""},
		{"missing token (allow)", "POST", "/api/v1/allowlist", "", `{"cidr":"10.9.0.0/16"}`, 401, ""},
		{"missing token (unblock)", "DELETE", "/api/v1/blocks/" + b.ID, "", ``, 401, ""},
		{"wrong token (unblock)", "DELETE", "/api/v1/blocks/" + b.ID, opToken + "x", ``, 401, ""},
		{"missing token (allow rm)", "DELETE", "/api/v1/allowlist/" + e.ID, "", ``, 401, ""},
		{"unknown block", "DELETE", "/api/v1/blocks/no-such-id", opToken, ``, 404, ""},
		{"unknown allow entry", "DELETE", "/api/v1/allowlist/no-such-id", opToken, ``, 404, ""},
		{"wrong method", "PUT", "/api/v1/blocks", opToken, `{"ip":"10.0.0.9"}`, 405, ""},
		{"huge body", "POST", "/api/v1/blocks", opToken, huge, 413, ""},
		{"huge allowlist body", "POST", "/api/v1/allowlist", opToken, `{"cidr":"10.0.0.0/24","comment":"` + strings.Repeat("y", 8<<20) + `"}`, 413, ""},
		{"events limit not a number", "GET", "/api/v1/events?limit=lots", "", ``, 400, "limit"},
		{"events negative limit", "GET", "/api/v1/events?limit=-1", "", ``, 400, "limit"},
		{"events bad since", "GET", "/api/v1/events?since=yesterday", "", ``, 400, "since"},
		{"events bad after_id", "GET", "/api/v1/events?after_id=x", "", ``, 400, "after_id"},
	} {
		var body io.Reader
		if tc.body != "" || tc.method == "POST" {
			body = strings.NewReader(tc.body)
		}
		code, ctype, data := opDo(t, c, tc.method, tc.path, tc.token, body)
		ed := opErrorBody(t, tc.name, code, ctype, data, tc.status)
		if tc.msgHas != "" && !strings.Contains(ed.Message, tc.msgHas) {
			t.Errorf("%s: message %q does not name %q", tc.name, ed.Message, tc.msgHas)
		}
		if after := snapshot(); after != before {
			t.Fatalf("%s changed state:\nbefore %s\nafter  %s", tc.name, before, after)
		}
	}
	if err := c.Healthy(); err != nil {
		t.Fatal(err)
	}
}

// opMetrics fetches /metrics and parses it as the Prometheus text format.
func opMetrics(t testing.TB, c *Controller) (map[string]*opFamily, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(c.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams, string(body)
}

// opFamily is one parsed metric family.
type opFamily = dto.MetricFamily

// opSum adds up the values of every series of a counter, gauge or (the
// sample count of a) histogram family; -1 if there is no such family.
func opSum(fams map[string]*opFamily, name string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	var s float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			s += m.Counter.GetValue()
		case m.Gauge != nil:
			s += m.Gauge.GetValue()
		case m.Histogram != nil:
			s += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			s += m.Untyped.GetValue()
		}
	}
	return s
}

// /metrics on a running lab after a scan (issue 4 item 5): the Prometheus
// text format, portcullis_ names (and Go's own go_/process_ ones), the
// packet-ins, one switch connected, a detection, an active block and its
// install latency, and no label that carries an IP or a MAC address.
func TestOperatorMetrics(t *testing.T) {
	testenv.Tool(t, "nmap")
	c, l := opLab(t, 3)
	opLearnHosts(t, c, l)
	scan := scanStart(t, l, 3, 60*time.Second, "nmap", "-n", "-Pn", "-sS", "-T4", "-p", "1-200", l.Host(2).IP.String())
	blocks := scanWaitBlock(t, c, 30*time.Second, scan.done)
	scan.Kill()
	if len(blocks) == 0 {
		t.Fatalf("nmap -sS from h3 made no block:\n%s", scan.Output())
	}
	fams, text := opMetrics(t, c)

	for name := range fams {
		// promhttp_ is the exposition handler's own error counter.
		if !strings.HasPrefix(name, "portcullis_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s is neither portcullis_ nor Go runtime", name)
		}
	}
	for _, tc := range []struct {
		name string
		ok   func(v float64) bool
		want string
	}{
		{"portcullis_openflow_packet_ins_total", func(v float64) bool { return v > 0 }, "> 0"},
		{"portcullis_openflow_meter_dropped_packets_total", func(v float64) bool { return v >= 0 }, "present"},
		{"portcullis_openflow_switches_connected", func(v float64) bool { return v == 1 }, "1"},
		{"portcullis_detect_detections_total", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"portcullis_detect_verdict_probes", func(v float64) bool { return v >= 1 }, ">= 1 observation"},
		{"portcullis_block_active", func(v float64) bool { return v == float64(len(blocks)) }, fmt.Sprint(len(blocks))},
		{"portcullis_block_installed_total", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"portcullis_block_install_duration_seconds", func(v float64) bool { return v >= 1 }, ">= 1 observation"},
		{"portcullis_event_published_total", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"go_goroutines", func(v float64) bool { return v > 0 }, "> 0"},
	} {
		if v := opSum(fams, tc.name); v < 0 {
			t.Errorf("/metrics has no %s", tc.name)
		} else if !tc.ok(v) {
			t.Errorf("%s = %v, want %s", tc.name, v, tc.want)
		}
	}
	t.Run("dashboard and alert rules", func(t *testing.T) { opCheckObservability(t, fams) })
	t.Run("messages per type", func(t *testing.T) {
		// The controller sent FLOW_MODs (pipeline, learning, the block),
		// PACKET_OUTs and barriers, and received PACKET_INs and replies.
		f := fams["portcullis_openflow_messages_total"]
		if f == nil {
			t.Fatal("portcullis_openflow_messages_total is absent after a lab run with a scan and a block: " +
				"the controller counts only asynchronous non-packet-in messages from switches (switch.go countMessage), " +
				"never what it sends (direction=out) nor replies")
		}
		types := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "type" && m.GetCounter().GetValue() > 0 {
					types[lp.GetValue()] = true
				}
			}
		}
		if !types["FLOW_MOD"] {
			t.Errorf("messages_total has no FLOW_MOD after a block was installed: %v", types)
		}
	})
	if f := fams["portcullis_block_install_duration_seconds"]; f != nil && len(f.GetMetric()) > 0 {
		if h := f.GetMetric()[0].GetHistogram(); h != nil && h.GetSampleCount() > 0 {
			t.Logf("block install latency: %d blocks, mean %.2f ms", h.GetSampleCount(), 1000*h.GetSampleSum()/float64(h.GetSampleCount()))
		}
	}
	// The detection is labelled with the scan kind.
	if f := fams["portcullis_detect_detections_total"]; f != nil {
		var kinds []string
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" && m.GetCounter().GetValue() > 0 {
					kinds = append(kinds, lp.GetValue())
				}
			}
		}
		if len(kinds) == 0 {
			t.Errorf("detections_total has no kind with a count: %v", f)
		}
	}

	// No per-address label: no label value is an IP or a MAC, and no label
	// is named after one.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				ln, lv := strings.ToLower(lp.GetName()), lp.GetValue()
				if slices.Contains([]string{"ip", "mac", "src", "dst", "addr", "address", "host", "source"}, ln) {
					t.Errorf("%s has a per-address label %s=%q", name, ln, lv)
				}
				if _, err := netip.ParseAddr(lv); err == nil {
					t.Errorf("%s{%s=%q}: the label carries an IP address", name, ln, lv)
				}
				if _, err := net.ParseMAC(lv); err == nil {
					t.Errorf("%s{%s=%q}: the label carries a MAC address", name, ln, lv)
				}
			}
		}
	}
	for _, h := range l.Hosts() {
		if strings.Contains(text, h.MAC.String()) || strings.Contains(text, `"`+h.IP.String()+`"`) {
			t.Errorf("/metrics mentions host %s (%s %s)", h.Name, h.MAC, h.IP)
		}
	}

	// Lifting the blocks shows in the gauges and counters.
	for _, b := range blocks {
		if code, _, body := opDo(t, c, "DELETE", "/api/v1/blocks/"+b.ID, opToken, nil); code != 204 {
			t.Fatalf("DELETE block %s: %d %s", b.ID, code, body)
		}
	}
	fams, _ = opMetrics(t, c)
	if v := opSum(fams, "portcullis_block_active"); v != 0 {
		t.Errorf("portcullis_block_active = %v after every block was lifted, want 0", v)
	}
	var byOperator float64 = -1
	if f := fams["portcullis_block_removed_total"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == "operator" {
					byOperator = m.GetCounter().GetValue()
				}
			}
		}
	}
	if byOperator != float64(len(blocks)) {
		t.Errorf(`portcullis_block_removed_total{reason="operator"} = %v, want %d`, byOperator, len(blocks))
	}
}
