package main

// portcullis status: the controller's version, uptime and counts.

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"portcullis/internal/api"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	return simpleList("status", "status [--json]", "Show the controller's status: version, uptime and counts.",
		args, stdout, stderr,
		func(c *cli) (any, error) { return c.api.Status(context.Background()) },
		func(c *cli, v any) {
			s := v.(api.Status)
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "controller:\t%s\n", c.api.URL())
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
