package main

// portcullis allow list|add|rm: the allowlist.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"portcullis/internal/allow"
	"portcullis/internal/api"
)

func allowVerbs() []verb {
	return []verb{
		{"list", "list allowlist entries", allowList},
		{"add", "allow a CIDR (optionally only toward some ports)", allowAdd},
		{"rm", "remove allowlist entries by id", allowRm},
	}
}

func cmdAllow(args []string, stdout, stderr io.Writer) int {
	return runNoun("allow", allowVerbs(), args, stdout, stderr)
}

func allowList(args []string, stdout, stderr io.Writer) int {
	return simpleList("allow list", "allow list [--json]", "List the allowlist entries.", args, stdout, stderr,
		func(c *cli) (any, error) {
			a, err := c.api.Allowlist(context.Background())
			return api.AllowList{Allowlist: a}, err
		},
		func(c *cli, v any) { printAllow(c, v.(api.AllowList).Allowlist) })
}

func allowRm(args []string, stdout, stderr io.Writer) int {
	return removeByID("allow rm", "allowlist entry", func(c *cli, id string) error {
		return c.api.RemoveAllow(context.Background(), id)
	}, args, stdout, stderr)
}

func printAllow(c *cli, entries []api.AllowEntry) {
	tw := c.table("ID\tCIDR\tPORTS\tCREATED\tCOMMENT")
	for _, e := range entries {
		ports := "all"
		if len(e.Ports) > 0 {
			ports = e.Ports.String() // as configured: 22,8000-8100
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.CIDR, ports, ago(e.Created), orDash(e.Comment))
	}
	tw.Flush()
}

func allowAdd(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("allow add", "allow add ENTRY [--port N]... [--comment TEXT]",
		"Add an allowlist entry: sources in ENTRY's CIDR (10.0.0.0/24, 2001:db8::/64, or\n"+
			"one address) are never counted or blocked; with ports (10.0.0.0/24:22,443,\n"+
			"[2001:db8::/64]:443, as in block.allowlist, or --port), only toward those ports.\n"+
			"Needs a token.", stderr)
	var extra portList
	fs.Var(&extra, "port", "destination `PORT` (repeatable, or comma-separated)")
	comment := fs.String("comment", "", "`TEXT` saying why this entry exists")
	pos, code, done := parseArgs(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fs, stderr, "give exactly one entry (CIDR, with optional ports)")
	}
	// The entry is in the configuration's allowlist grammar (package allow), ports included:
	// 192.0.2.0/24:22,443 or [2001:db8::/32]:443 as well as --port.
	entry, err := allow.Parse(pos[0])
	if err != nil {
		return usageError(fs, stderr, err.Error())
	}
	ports := append(api.PortRanges(entry.Ports), api.Ports(extra...)...)
	if len(ports) > api.MaxAllowPorts {
		return usageError(fs, stderr, fmt.Sprintf("%q: at most %d ports and ranges", pos[0], api.MaxAllowPorts))
	}
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	e, err := c.api.AddAllow(context.Background(), api.AllowEntry{CIDR: entry.Prefix, Ports: ports, Comment: *comment})
	if err != nil {
		return c.exit(err)
	}
	if c.json {
		c.printJSON(e)
	} else {
		printAllow(c, []api.AllowEntry{e})
	}
	return exitOK
}

// portList is a repeatable, comma-separated --port flag.
type portList []uint16

func (p *portList) String() string { return fmt.Sprint([]uint16(*p)) }
func (p *portList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q is not a port number (1-65535)", f)
		}
		*p = append(*p, uint16(n))
	}
	return nil
}
