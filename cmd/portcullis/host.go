package main

// portcullis host list: the hosts the controller has seen.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"portcullis/internal/api"
)

func hostVerbs() []verb {
	return []verb{{"list", "list the hosts seen", hostList}}
}

func cmdHost(args []string, stdout, stderr io.Writer) int {
	return runNoun("host", hostVerbs(), args, stdout, stderr)
}

func hostList(args []string, stdout, stderr io.Writer) int {
	return simpleList("host list", "host list [--json]", "List the hosts seen: MAC, IP addresses, switch, port, last seen.",
		args, stdout, stderr,
		func(c *cli) (any, error) {
			h, err := c.api.Hosts(context.Background())
			return api.HostList{Hosts: h}, err
		},
		func(c *cli, v any) {
			tw := c.table("MAC\tIPS\tSWITCH\tPORT\tLAST SEEN")
			for _, h := range v.(api.HostList).Hosts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", h.MAC, orDash(strings.Join(h.IPs, ",")), orDash(h.DPID), h.Port, ago(h.LastSeen))
			}
			tw.Flush()
		})
}
