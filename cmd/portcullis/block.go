package main

// portcullis block list|add|rm: the active blocks, and blocks by hand.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"portcullis/internal/api"
)

func blockVerbs() []verb {
	return []verb{
		{"list", "list active blocks", blockList},
		{"add", "block an IP address and/or MAC address", blockAdd},
		{"rm", "lift blocks by id", blockRm},
	}
}

func cmdBlock(args []string, stdout, stderr io.Writer) int {
	return runNoun("block", blockVerbs(), args, stdout, stderr)
}

func blockList(args []string, stdout, stderr io.Writer) int {
	return simpleList("block list", "block list [--json]", "List the active blocks.", args, stdout, stderr,
		func(c *cli) (any, error) {
			b, err := c.api.Blocks(context.Background())
			return api.BlockList{Blocks: b}, err
		},
		func(c *cli, v any) { printBlocks(c, v.(api.BlockList).Blocks) })
}

func blockRm(args []string, stdout, stderr io.Writer) int {
	return removeByID("block rm", "block", func(c *cli, id string) error {
		return c.api.RemoveBlock(context.Background(), id)
	}, args, stdout, stderr)
}

func printBlocks(c *cli, blocks []api.Block) {
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
// "0000000000000001 0000000000000002(pending)"; "-" for none.
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
	var req api.BlockRequest
	if *ip != "" {
		a, err := api.ParseHostIP(*ip)
		if err != nil {
			return usageError(fs, stderr, err.Error())
		}
		req.IP = a
	}
	if *mac != "" {
		m, err := api.ParseMAC(*mac)
		if err != nil {
			return usageError(fs, stderr, err.Error())
		}
		req.MAC = m
	}
	if *dur < 0 {
		return usageError(fs, stderr, "--duration must be positive")
	}
	req.Duration, req.Reason = *dur, *reason
	c, code := cf.client(fs, stdout, stderr)
	if c == nil {
		return code
	}
	b, err := c.api.AddBlock(context.Background(), req)
	if err != nil {
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
