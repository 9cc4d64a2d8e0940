package main

// The operator commands: thin clients of the REST API through the typed
// client in internal/client. Each noun has its own file (status.go,
// switch.go, host.go, block.go, allow.go, events.go; completion.go for the
// shell); this file holds what they share. Data goes to stdout (a table for
// people, --json for scripts), diagnostics to stderr. Exit codes: 0 ok,
// 1 failure (API error, controller unreachable), 2 usage error, 3 not found.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"portcullis/internal/client"
)

// Exit codes of the operator commands.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

// cliNow is the clock for relative times in tables; tests replace it.
var cliNow = time.Now

// cli is one operator command's connection to the API and its output.
type cli struct {
	api    *client.Client
	json   bool
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
	fs.StringVar(&cf.api, "api", "", "controller API `URL` (default $PORTCULLIS_API or "+client.DefaultURL+")")
	fs.StringVar(&cf.token, "token", "", "API bearer `TOKEN` (default $PORTCULLIS_TOKEN; prefer the variable: flags show in ps)")
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

// client makes the API client from the flags and the environment; on
// failure it reports why and returns the exit code.
func (cf *cliFlags) client(fs *flag.FlagSet, stdout, stderr io.Writer) (*cli, int) {
	base := cf.api
	if base == "" {
		base = os.Getenv("PORTCULLIS_API")
	}
	if base == "" {
		base = client.DefaultURL
	}
	tok := cf.token
	if tok == "" {
		tok = os.Getenv("PORTCULLIS_TOKEN")
	}
	ca := cf.cacert
	if ca == "" {
		ca = os.Getenv("PORTCULLIS_CACERT")
	}
	if _, err := client.New(base, client.Options{}); err != nil {
		return nil, usageError(fs, stderr, fmt.Sprintf("bad API URL %q: want http://HOST:PORT or https://HOST:PORT", base))
	}
	c, err := client.New(base, client.Options{Token: tok, CACertFile: ca})
	if err != nil {
		fmt.Fprintf(stderr, "portcullis: %s\n", strings.TrimPrefix(err.Error(), "client: "))
		return nil, exitFailure
	}
	return &cli{api: c, json: cf.json, stdout: stdout, stderr: stderr}, 0
}

// errMessage is err's message without the HTTP status.
func errMessage(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

// exit reports err on stderr and returns the exit code for it.
func (c *cli) exit(err error) int {
	var ae *client.Error
	if !errors.As(err, &ae) {
		fmt.Fprintf(c.stderr, "portcullis: %s\n", strings.TrimPrefix(err.Error(), "client: "))
		return exitFailure
	}
	switch {
	case ae.Status == 0:
		fmt.Fprintf(c.stderr, "portcullis: cannot reach the controller at %s: %s\n", c.api.URL(), ae.Message)
		return exitFailure
	case ae.Status == http.StatusNotFound:
		fmt.Fprintf(c.stderr, "portcullis: %s\n", ae.Message)
		return exitNotFound
	case ae.Status == http.StatusUnauthorized && !c.api.HasToken():
		fmt.Fprintf(c.stderr, "portcullis: %s\n(give the token with PORTCULLIS_TOKEN or --token)\n", ae.Message)
	default:
		fmt.Fprintf(c.stderr, "portcullis: %s (HTTP %d)\n", ae.Message, ae.Status)
	}
	return exitFailure
}

// printJSON writes v indented, for scripts.
func (c *cli) printJSON(v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (c *cli) table(header string) *tabwriter.Writer {
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

// verb is one verb of a "noun verb" command.
type verb struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

// verbAliases are the other names a verb answers to.
var verbAliases = map[string][]string{"rm": {"remove", "delete"}, "list": {"ls"}}

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
		if v.name == args[0] {
			return v.run(args[1:], stdout, stderr)
		}
		for _, a := range verbAliases[v.name] {
			if a == args[0] {
				return v.run(args[1:], stdout, stderr)
			}
		}
	}
	fmt.Fprintf(stderr, "portcullis %s: unknown verb %q\n", noun, args[0])
	usage(stderr)
	return exitUsage
}

// simpleList runs a "NOUN list" command that takes no arguments.
func simpleList(name, synopsis, help string, args []string, stdout, stderr io.Writer,
	get func(c *cli) (any, error), print func(c *cli, v any)) int {
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

// removeByID runs "NOUN rm ID..." with remove. Every id is tried; the exit
// code is that of the worst failure.
func removeByID(name, what string, remove func(c *cli, id string) error, args []string, stdout, stderr io.Writer) int {
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
		if err := remove(c, id); err != nil {
			code := c.exit(err)
			if code == exitFailure || worst == exitOK {
				worst = code
			}
			results = append(results, result{ID: id, Error: errMessage(err)})
			if client.IsUnreachable(err) {
				break // the rest would fail the same way
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
