package main

// portcullis cluster status: the cluster as the answering instance sees it (docs/ha.md).

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"portcullis/internal/api"
)

func clusterVerbs() []verb {
	return []verb{{"status", "show the cluster: members, leader, this instance's role and generation", clusterStatus}}
}

func cmdCluster(args []string, stdout, stderr io.Writer) int {
	return runNoun("cluster", clusterVerbs(), args, stdout, stderr)
}

func clusterStatus(args []string, stdout, stderr io.Writer) int {
	return simpleList("cluster status", "cluster status [--json]",
		"Show the cluster as the controller at --api sees it: its role, the leader, the generation and the members.",
		args, stdout, stderr,
		func(c *cli) (any, error) { return c.api.Cluster(context.Background()) },
		func(c *cli, v any) {
			s := v.(api.Cluster)
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "controller:\t%s\n", c.api.URL())
			if !s.Enabled {
				fmt.Fprintf(tw, "role:\tstandalone (no store.etcd: a single instance)\n")
				tw.Flush()
				return
			}
			fmt.Fprintf(tw, "name:\t%s\n", s.Name)
			fmt.Fprintf(tw, "role:\t%s\n", s.Role)
			fmt.Fprintf(tw, "leader:\t%s\n", orDash(s.Leader))
			fmt.Fprintf(tw, "generation:\t%d\n", s.Generation)
			fmt.Fprintf(tw, "switches:\t%d (master of %d)\n", s.Switches, s.Master)
			fmt.Fprintf(tw, "elections won:\t%d\n", s.Elections)
			fmt.Fprintf(tw, "failovers seen:\t%d\n", s.Failovers)
			if s.Error != "" {
				fmt.Fprintf(tw, "members:\tunknown: %s\n", s.Error)
			}
			tw.Flush()
			if s.Error != "" {
				return
			}
			mt := c.table("MEMBER\tLEADER\tAPI")
			for _, m := range s.Members {
				lead := ""
				if m.Leader {
					lead = "yes"
				}
				fmt.Fprintf(mt, "%s\t%s\t%s\n", m.Name, orDash(lead), orDash(m.API))
			}
			mt.Flush()
		})
}
