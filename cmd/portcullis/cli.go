package main

// The operator commands: thin clients of the REST API (internal/api). Data
// goes to stdout (a table for people, --json for scripts), diagnostics to
// stderr. Exit codes: 0 ok, 1 failure (API error, controller unreachable),
// 2 usage error, 3 not found.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"portcullis/internal/api"
)

// Exit codes of the operator commands.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

const defaultAPI = "http://127.0.0.1:6680"

// cliNow is the clock for relative times in tables; tests replace it.
var cliNow = time.Now

// client is one operator command's connection to the API.
type client struct {
	base   string // no trailing slash
	token  string
	json   bool
	http   *http.Client
	stdout io.Writer
	stderr io.Writer
}

// cliFlags registers the flags every operator command has.
type cliFlags struct {
	api, token, cacert string
	json               bool
}

func newFlagSet(name, synopsis, help string, stderr io.Writer) (*flag.FlagSet, *cliFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := &cliFlags{}
	fs.StringVar(&cf.api, "api", "", "controller API `URL` (default $PORTCULLIS_API or "+defaultAPI+")")
	fs.StringVar(&cf.token, "token", "", "API bearer `TOKEN` (default $PORTCULLIS_TOKEN)")
	fs.BoolVar(&cf.json, "json", false, "print JSON for scripts instead of a table")
	fs.StringVar(&cf.cacert, "cacert", "", "PEM `FILE` of the CA that signed an https API's certificate (default $PORTCULLIS_CACERT; else the system's)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: portcullis %s\n", synopsis)
		if help != "" {
			fmt.Fprintf(w, "\n%s\n", help)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.VisitAll(func(f *flag.Flag) {
			typ, use := flag.UnquoteUsage(f)
			if typ != "" {
				typ = " " + strings.ToUpper(typ)
			}
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			fmt.Fprintf(w, "  %s%s%s\n      %s\n", dash, f.Name, typ, use)
		})
	}
	return fs, cf
}

// parseArgs parses flags anywhere among the arguments (flag stops at the
// first positional one) and returns the positional arguments. On --help it
// prints the usage to stdout and returns done with exitOK; on a usage error
// it prints the error and the synopsis to stderr and returns exitUsage.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, exitOK, true
		}
		if err != nil {
			return nil, usageError(fs, stderr, err.Error()), true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints msg and a short usage to stderr and returns exitUsage.
func usageError(fs *flag.FlagSet, stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "portcullis %s: %s\n", fs.Name(), msg)
	fmt.Fprintf(stderr, "Run 'portcullis %s --help' for usage.\n", fs.Name())
	return exitUsage
}

func (cf *cliFlags) client(fs *flag.FlagSet, stdout, stderr io.Writer) (*client, int) {
	base := cf.api
	if base == "" {
		base = os.Getenv("PORTCULLIS_API")
	}
	if base == "" {
		base = defaultAPI
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fs, stderr, fmt.Sprintf("bad API URL %q: want http://HOST:PORT or https://HOST:PORT", base))
	}
	tok := cf.token
	if tok == "" {
		tok = os.Getenv("PORTCULLIS_TOKEN")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	ca := cf.cacert
	if ca == "" {
		ca = os.Getenv("PORTCULLIS_CACERT")
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
			return nil, exitFailure
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "portcullis: %s: no PEM certificate in it\n", ca)
			return nil, exitFailure
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &client{
		base: strings.TrimRight(base, "/"), token: tok, json: cf.json,
		http:   &http.Client{Timeout: 15 * time.Second, Transport: tr},
		stdout: stdout, stderr: stderr,
	}, 0
}

// apiError is a failed call: the API's error object, or a transport error.
type apiError struct {
	status int // 0: the controller could not be reached
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// exit reports err on stderr and returns the exit code for it.
func (c *client) exit(err error) int {
	var ae *apiError
	if !errors.As(err, &ae) {
		fmt.Fprintf(c.stderr, "portcullis: %v\n", err)
		return exitFailure
	}
	switch {
	case ae.status == 0:
		fmt.Fprintf(c.stderr, "portcullis: cannot reach the controller at %s: %s\n", c.base, ae.msg)
		return exitFailure
	case ae.status == http.StatusNotFound:
		fmt.Fprintf(c.stderr, "portcullis: %s\n", ae.msg)
		return exitNotFound
	case ae.status == http.StatusUnauthorized && c.token == "":
		fmt.Fprintf(c.stderr, "portcullis: %s\n(give the token with --token or PORTCULLIS_TOKEN)\n", ae.msg)
	default:
		fmt.Fprintf(c.stderr, "portcullis: %s (HTTP %d)\n", ae.msg, ae.status)
	}
	return exitFailure
}

// do calls the API; a 2xx JSON body is decoded into out (if non-nil).
func (c *client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &apiError{msg: transportMessage(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &apiError{msg: transportMessage(err)}
	}
	if resp.StatusCode/100 != 2 {
		return responseError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("unexpected answer from %s%s: %v", c.base, path, err)
	}
	return nil
}

func responseError(status int, data []byte) error {
	var eb api.ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error.Message != "" {
		return &apiError{status: status, code: eb.Error.Code, msg: eb.Error.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apiError{status: status, msg: msg}
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

// printJSON writes v indented, for scripts.
func (c *client) printJSON(v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (c *client) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// ago formats t relative to now for tables: "5s ago", "in 9m", "-".
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := cliNow().Sub(t)
	if d < 0 {
		// A 5m block just made reads "in 5m", not "in 4m".
		d = -d
		if d >= time.Minute {
			d = d.Round(time.Minute)
		}
		return "in " + shortDuration(d)
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// subcommand dispatch for "noun verb" commands.
type verb struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func runNoun(noun string, verbs []verb, args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: portcullis %s VERB [FLAGS]\n\nVerbs:\n", noun)
		for _, v := range verbs {
			fmt.Fprintf(w, "  %-5s %s\n", v.name, v.summary)
		}
		fmt.Fprintf(w, "\nRun 'portcullis %s VERB --help' for a verb's flags.\n", noun)
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "portcullis %s: missing verb\n", noun)
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, v := range verbs {
		if v.name == args[0] || (v.name == "rm" && (args[0] == "remove" || args[0] == "delete")) ||
			(v.name == "list" && args[0] == "ls") {
			return v.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "portcullis %s: unknown verb %q\n", noun, args[0])
	usage(stderr)
	return exitUsage
}

// simpleList runs a "NOUN list" command that takes no arguments.
func simpleList(name, synopsis, help string, args []string, stdout, stderr io.Writer,
	get func(c *client) (any, error), print func(c *client, v any)) int {
	fs, cf := newFlagSet(name, synopsis, help, stderr)
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	v, err := get(c)
	if err != nil {
		return c.exit(err)
	}
	if c.json {
		c.printJSON(v)
	} else {
		print(c, v)
	}
	return exitOK
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	return simpleList("status", "status [--json]", "Show the controller's status: version, uptime and counts.",
		args, stdout, stderr,
		func(c *client) (any, error) {
			var s api.Status
			err := c.do(context.Background(), "GET", "/api/v1/status", nil, &s)
			return s, err
		},
		func(c *client, v any) {
			s := v.(api.Status)
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "controller:\t%s\n", c.base)
			fmt.Fprintf(tw, "version:\t%s\n", orDash(s.Version))
			fmt.Fprintf(tw, "uptime:\t%s\n", shortDuration(time.Duration(s.Uptime*float64(time.Second))))
			fmt.Fprintf(tw, "switches:\t%d\n", s.Switches)
			fmt.Fprintf(tw, "hosts:\t%d\n", s.Hosts)
			fmt.Fprintf(tw, "suspects:\t%d\n", s.Suspects)
			fmt.Fprintf(tw, "active blocks:\t%d\n", s.ActiveBlocks)
			fmt.Fprintf(tw, "allowlist:\t%d\n", s.Allowlist)
			fmt.Fprintf(tw, "packet-ins:\t%d\n", s.PacketIns)
			fmt.Fprintf(tw, "probes:\t%d\n", s.Probes)
			fmt.Fprintf(tw, "detections:\t%d\n", s.Detections)
			fmt.Fprintf(tw, "blocks (total):\t%d\n", s.Blocks)
			tw.Flush()
		})
}

func cmdSwitch(args []string, stdout, stderr io.Writer) int {
	return runNoun("switch", []verb{{"list", "list connected switches and their ports", func(args []string, stdout, stderr io.Writer) int {
		return simpleList("switch list", "switch list [--json]", "List the connected switches and their ports.",
			args, stdout, stderr,
			func(c *client) (any, error) {
				var l api.SwitchList
				err := c.do(context.Background(), "GET", "/api/v1/switches", nil, &l)
				return l, err
			},
			func(c *client, v any) {
				tw := c.table("DPID\tADDRESS\tCONNECTED\tPORTS")
				for _, s := range v.(api.SwitchList).Switches {
					var ports []string
					for _, p := range s.Ports {
						ps := fmt.Sprintf("%d:%s", p.Number, p.Name)
						if p.State != api.PortUp {
							ps += "(" + orDash(p.State) + ")"
						}
						ports = append(ports, ps)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.DPID, orDash(s.Address), ago(s.ConnectedSince), orDash(strings.Join(ports, " ")))
				}
				tw.Flush()
			})
	}}}, args, stdout, stderr)
}

func cmdHost(args []string, stdout, stderr io.Writer) int {
	return runNoun("host", []verb{{"list", "list the hosts seen", func(args []string, stdout, stderr io.Writer) int {
		return simpleList("host list", "host list [--json]", "List the hosts seen: MAC, IP addresses, switch, port, last seen.",
			args, stdout, stderr,
			func(c *client) (any, error) {
				var l api.HostList
				err := c.do(context.Background(), "GET", "/api/v1/hosts", nil, &l)
				return l, err
			},
			func(c *client, v any) {
				tw := c.table("MAC\tIPS\tSWITCH\tPORT\tLAST SEEN")
				for _, h := range v.(api.HostList).Hosts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", h.MAC, orDash(strings.Join(h.IPs, ",")), orDash(h.DPID), h.Port, ago(h.LastSeen))
				}
				tw.Flush()
			})
	}}}, args, stdout, stderr)
}

func cmdBlock(args []string, stdout, stderr io.Writer) int {
	return runNoun("block", []verb{
		{"list", "list active blocks", blockList},
		{"add", "block an IP address and/or MAC address", blockAdd},
		{"rm", "lift blocks by id", func(args []string, stdout, stderr io.Writer) int {
			return removeByID("block rm", "/api/v1/blocks/", "block", args, stdout, stderr)
		}},
	}, args, stdout, stderr)
}

func blockList(args []string, stdout, stderr io.Writer) int {
	return simpleList("block list", "block list [--json]", "List the active blocks.", args, stdout, stderr,
		func(c *client) (any, error) {
			var l api.BlockList
			err := c.do(context.Background(), "GET", "/api/v1/blocks", nil, &l)
			return l, err
		},
		func(c *client, v any) { printBlocks(c, v.(api.BlockList).Blocks) })
}

func printBlocks(c *client, blocks []api.Block) {
	tw := c.table("ID\tMAC\tIPS\tSWITCH\tPORT\tKIND\tLEVEL\tSCOPE\tCREATED\tEXPIRES\tCONFIRMED\tREASON")
	for _, b := range blocks {
		port := "-"
		if b.DPID != "" {
			port = strconv.FormatUint(uint64(b.Port), 10)
		}
		exp := "never"
		if !b.Expires.IsZero() {
			exp = ago(b.Expires)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", b.ID, orDash(b.MAC), orDash(strings.Join(b.IPs, ",")),
			orDash(b.DPID), port, orDash(b.Kind), b.Level, orDash(b.Scope), ago(b.Created), exp, blockSwitches(b.Switches), orDash(b.Reason))
	}
	tw.Flush()
}

// blockSwitches says where a block is confirmed: the switches holding its
// flows, then the others with their state, e.g.
// "00:00:00:00:00:00:00:01 00:00:00:00:00:00:00:02(pending)"; "-" for none.
func blockSwitches(sws []api.BlockSwitch) string {
	var parts []string
	for _, s := range sws {
		if s.State == api.BlockConfirmed {
			parts = append(parts, s.DPID)
		}
	}
	for _, s := range sws {
		if s.State != api.BlockConfirmed {
			parts = append(parts, s.DPID+"("+s.State+")")
		}
	}
	return orDash(strings.Join(parts, " "))
}

func blockAdd(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("block add", "block add [--ip IP] [--mac MAC] [--duration D] [--reason TEXT] [IP|MAC ...]",
		"Block a source by hand. Give an IP address, a MAC address or both, as flags or\n"+
			"arguments. --duration is a Go duration (10m, 24h); without it the controller's\n"+
			"default applies. Needs a token.",
		stderr)
	ip := fs.String("ip", "", "`IP` address to block")
	mac := fs.String("mac", "", "`MAC` address to block")
	dur := fs.Duration("duration", 0, "how long to block: a `DURATION` such as 10m or 24h (default: the controller's)")
	reason := fs.String("reason", "", "why: `TEXT` shown in the block list and events")
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	for _, p := range pos {
		switch {
		case looksLikeMAC(p) && *mac == "":
			*mac = p
		case !looksLikeMAC(p) && *ip == "":
			*ip = p
		default:
			return usageError(fs, stderr, fmt.Sprintf("unexpected argument %q: give at most one IP and one MAC", p))
		}
	}
	if *ip == "" && *mac == "" {
		return usageError(fs, stderr, "give an IP address and/or a MAC address to block")
	}
	if *ip != "" {
		if _, err := api.ParseHostIP(*ip); err != nil {
			return usageError(fs, stderr, err.Error())
		}
	}
	if *mac != "" {
		if _, err := api.ParseMAC(*mac); err != nil {
			return usageError(fs, stderr, err.Error())
		}
	}
	if *dur < 0 {
		return usageError(fs, stderr, "--duration must be positive")
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	req := map[string]string{}
	if *ip != "" {
		req["ip"] = *ip
	}
	if *mac != "" {
		req["mac"] = *mac
	}
	if *dur > 0 {
		req["duration"] = dur.String()
	}
	if *reason != "" {
		req["reason"] = *reason
	}
	var b api.Block
	if err := c.do(context.Background(), "POST", "/api/v1/blocks", req, &b); err != nil {
		return c.exit(err)
	}
	if c.json {
		c.printJSON(b)
	} else {
		printBlocks(c, []api.Block{b})
	}
	return exitOK
}

// looksLikeMAC tells a MAC argument from an IP one (validation comes after).
func looksLikeMAC(s string) bool {
	return len(s) == 17 && (s[2] == ':' || s[2] == '-') && !strings.Contains(s, "::") || len(s) == 14 && s[4] == '.'
}

// removeByID runs "NOUN rm ID..." against prefix+ID. Every id is tried;
// the exit code is that of the worst failure.
func removeByID(name, prefix, what string, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet(name, name+" ID [ID...]", "Remove "+what+"s by id (see the list command). Needs a token.", stderr)
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) == 0 {
		return usageError(fs, stderr, "give the id of the "+what+" to remove")
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	worst := exitOK
	type result struct {
		ID      string `json:"id"`
		Removed bool   `json:"removed"`
		Error   string `json:"error,omitempty"`
	}
	var results []result
	for _, id := range pos {
		err := c.do(context.Background(), "DELETE", prefix+url.PathEscape(id), nil, nil)
		if err != nil {
			code := c.exit(err)
			if code == exitFailure || worst == exitOK {
				worst = code
			}
			results = append(results, result{ID: id, Error: err.Error()})
			var ae *apiError
			if errors.As(err, &ae) && ae.status == 0 {
				break // unreachable: the rest would fail the same way
			}
			continue
		}
		results = append(results, result{ID: id, Removed: true})
		if !c.json {
			fmt.Fprintf(stdout, "removed %s %s\n", what, id)
		}
	}
	if c.json {
		c.printJSON(results)
	}
	return worst
}

func cmdAllow(args []string, stdout, stderr io.Writer) int {
	return runNoun("allow", []verb{
		{"list", "list allowlist entries", allowList},
		{"add", "allow a CIDR (optionally only toward some ports)", allowAdd},
		{"rm", "remove allowlist entries by id", func(args []string, stdout, stderr io.Writer) int {
			return removeByID("allow rm", "/api/v1/allowlist/", "allowlist entry", args, stdout, stderr)
		}},
	}, args, stdout, stderr)
}

func allowList(args []string, stdout, stderr io.Writer) int {
	return simpleList("allow list", "allow list [--json]", "List the allowlist entries.", args, stdout, stderr,
		func(c *client) (any, error) {
			var l api.AllowList
			err := c.do(context.Background(), "GET", "/api/v1/allowlist", nil, &l)
			return l, err
		},
		func(c *client, v any) { printAllow(c, v.(api.AllowList).Allowlist) })
}

func printAllow(c *client, entries []api.AllowEntry) {
	tw := c.table("ID\tCIDR\tPORTS\tCREATED\tCOMMENT")
	for _, e := range entries {
		ports := "all"
		if len(e.Ports) > 0 {
			var ps []string
			for _, p := range e.Ports {
				ps = append(ps, strconv.Itoa(int(p)))
			}
			ports = strings.Join(ps, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.CIDR, ports, ago(e.Created), orDash(e.Comment))
	}
	tw.Flush()
}

func allowAdd(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("allow add", "allow add CIDR [--port N]... [--comment TEXT]",
		"Add an allowlist entry: sources in CIDR (10.0.0.0/24, 2001:db8::/64, or one\n"+
			"address) are never counted or blocked; with --port, only toward those ports.\n"+
			"Needs a token.", stderr)
	var ports portList
	fs.Var(&ports, "port", "destination `PORT` (repeatable, or comma-separated)")
	comment := fs.String("comment", "", "`TEXT` saying why this entry exists")
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fs, stderr, "give exactly one CIDR")
	}
	if _, err := api.ParseCIDR(pos[0]); err != nil {
		return usageError(fs, stderr, err.Error())
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	req := map[string]any{"cidr": pos[0]}
	if len(ports) > 0 {
		req["ports"] = ports
	}
	if *comment != "" {
		req["comment"] = *comment
	}
	var e api.AllowEntry
	if err := c.do(context.Background(), "POST", "/api/v1/allowlist", req, &e); err != nil {
		return c.exit(err)
	}
	if c.json {
		c.printJSON(e)
	} else {
		printAllow(c, []api.AllowEntry{e})
	}
	return exitOK
}

type portList []int

func (p *portList) String() string { return fmt.Sprint([]int(*p)) }
func (p *portList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q is not a port number (1-65535)", f)
		}
		*p = append(*p, n)
	}
	return nil
}

func cmdEvents(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("events", "events [--follow] [--type T[,T]] [--limit N] [--since D|TIME] [--json]",
		"Show recent events, oldest first; with --follow, keep printing new ones as they\n"+
			"happen (Ctrl-C to stop). --json prints one JSON object per line (the event\n"+
			"JSON-lines schema). Types: switch_up, switch_down, scan_detected, blocked,\n"+
			"block_failed, unblocked, block_expired, notice_sent, allow_added, ...", stderr)
	follow := fs.Bool("follow", false, "keep printing new events")
	fs.BoolVar(follow, "f", false, "short for --follow")
	var types []string
	fs.Func("type", "only events of this `TYPE` (repeatable, or comma-separated)", func(s string) error {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		return nil
	})
	limit := fs.Int("limit", 20, "show the `N` most recent events (1-1000)")
	since := fs.String("since", "", "only events after `WHEN`: a duration ago (15m) or an RFC 3339 time")
	count := fs.Int("count", 0, "with --follow: exit after `N` new events (0: never)")
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		return usageError(fs, stderr, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *limit < 1 || *limit > api.MaxEventLimit {
		return usageError(fs, stderr, fmt.Sprintf("--limit must be from 1 to %d", api.MaxEventLimit))
	}
	if *count < 0 {
		return usageError(fs, stderr, "--count must not be negative")
	}
	if *since != "" {
		if _, err := time.Parse(time.RFC3339Nano, *since); err != nil {
			if d, err := time.ParseDuration(*since); err != nil || d <= 0 {
				return usageError(fs, stderr, fmt.Sprintf("--since %q: want a duration (15m) or an RFC 3339 time", *since))
			}
		}
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	q := url.Values{}
	q.Set("limit", strconv.Itoa(*limit))
	q.Set("newest", "true")
	if len(types) > 0 {
		q.Set("type", strings.Join(types, ","))
	}
	if *since != "" {
		q.Set("since", *since)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var page api.EventPage
	if err := c.do(ctx, "GET", "/api/v1/events?"+q.Encode(), nil, &page); err != nil {
		return c.exit(err)
	}
	p := newEventPrinter(c)
	for _, e := range page.Events {
		p.print(e)
	}
	if !*follow {
		p.flush()
		return exitOK
	}
	p.flush()
	return c.follow(ctx, page.NextAfterID, types, *count, p)
}

// eventPrinter prints events as table rows (aligned per batch) or JSON lines.
type eventPrinter struct {
	c      *client
	tw     *tabwriter.Writer
	header bool
}

func newEventPrinter(c *client) *eventPrinter {
	return &eventPrinter{c: c, tw: tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)}
}

func (p *eventPrinter) print(e api.Event) {
	if p.c.json {
		b, _ := json.Marshal(e)
		p.c.stdout.Write(append(b, '\n'))
		return
	}
	if !p.header {
		fmt.Fprintln(p.tw, "ID\tTIME\tTYPE\tSEVERITY\tSOURCE\tMESSAGE")
		p.header = true
	}
	src := e.MAC
	if e.IP != "" {
		src = strings.TrimPrefix(src+" "+e.IP, " ")
	}
	if e.DPID != "" && e.Port != 0 {
		src = strings.TrimPrefix(src+" @"+e.DPID+"/"+strconv.FormatUint(uint64(e.Port), 10), " ")
	} else if e.DPID != "" && src == "" {
		src = e.DPID
	}
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{e.Kind, e.Reason}, func(s string) bool { return s == "" }), " "))
	}
	fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"), e.Type,
		orDash(e.Severity), orDash(src), orDash(msg))
}

func (p *eventPrinter) flush() { p.tw.Flush() }

// follow reads the SSE stream from after, reconnecting (with Last-Event-ID)
// when it drops, until ctx ends or count events were printed.
func (c *client) follow(ctx context.Context, after uint64, types []string, count int, p *eventPrinter) int {
	q := url.Values{}
	if len(types) > 0 {
		q.Set("type", strings.Join(types, ","))
	}
	u := c.base + "/api/v1/events/stream"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	sc := &http.Client{Transport: c.http.Transport} // no timeout: the stream is long-lived
	printed := 0
	failures := 0
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return c.exit(err)
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := sc.Do(req)
		if ctx.Err() != nil {
			return exitOK
		}
		if err != nil {
			failures++
			if failures >= 5 {
				return c.exit(&apiError{msg: transportMessage(err)})
			}
			fmt.Fprintf(c.stderr, "portcullis: event stream: %s; retrying\n", transportMessage(err))
		} else if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			return c.exit(responseError(resp.StatusCode, data))
		} else {
			failures = 0
			br := bufio.NewReader(resp.Body)
			var data []byte
			for {
				line, err := br.ReadBytes('\n')
				if err != nil {
					break
				}
				line = bytes.TrimRight(line, "\r\n")
				switch {
				case bytes.HasPrefix(line, []byte("data:")):
					data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
				case len(line) == 0 && len(data) > 0:
					var e api.Event
					if json.Unmarshal(data, &e) == nil && (e.ID == 0 || e.ID > after) {
						p.print(e)
						p.flush()
						if e.ID > after {
							after = e.ID
						}
						printed++
						if count > 0 && printed >= count {
							resp.Body.Close()
							return exitOK
						}
					}
					data = data[:0]
				}
			}
			resp.Body.Close()
			if ctx.Err() != nil {
				return exitOK
			}
			fmt.Fprintln(c.stderr, "portcullis: event stream ended; reconnecting")
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(time.Duration(failures+1) * time.Second):
		}
	}
}
