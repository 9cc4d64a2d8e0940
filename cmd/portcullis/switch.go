package main

// portcullis switch list: the connected switches and their ports.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"portcullis/internal/api"
)

func switchVerbs() []verb {
	return []verb{{"list", "list connected switches and their ports", switchList}}
}

func cmdSwitch(args []string, stdout, stderr io.Writer) int {
	return runNoun("switch", switchVerbs(), args, stdout, stderr)
}

func switchList(args []string, stdout, stderr io.Writer) int {
	return simpleList("switch list", "switch list [--json]", "List the connected switches and their ports.",
		args, stdout, stderr,
		func(c *cli) (any, error) {
			sw, err := c.api.Switches(context.Background())
			return api.SwitchList{Switches: sw}, err
		},
		func(c *cli, v any) {
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
}
