package main

// portcullis events [--follow]: recent events, then (with --follow) the
// server-sent-event stream.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/client"
	"portcullis/internal/event"
)

// eventTypes are the event types --type completes to.
func eventTypes() []string {
	var ts []string
	for _, t := range event.Types {
		ts = append(ts, string(t))
	}
	return ts
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	page, err := c.api.Events(ctx, client.EventQuery{Limit: *limit, Newest: true, Types: types, Since: *since})
	if err != nil {
		return c.exit(err)
	}
	p := newEventPrinter(c)
	for _, e := range page.Events {
		p.print(e)
	}
	p.flush()
	if !*follow {
		return exitOK
	}
	return c.follow(ctx, page.NextAfterID, types, *count, p)
}

// eventPrinter prints events as table rows (aligned per batch) or JSON lines.
type eventPrinter struct {
	c      *cli
	tw     *tabwriter.Writer
	header bool
}

func newEventPrinter(c *cli) *eventPrinter {
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

// follow reads the event stream from after, reconnecting (with
// Last-Event-ID) when it drops, until ctx ends or count events were printed.
func (c *cli) follow(ctx context.Context, after uint64, types []string, count int, p *eventPrinter) int {
	printed := 0
	failures := 0
	for {
		s, err := c.api.OpenStream(ctx, after, types...)
		if ctx.Err() != nil {
			return exitOK
		}
		switch {
		case client.IsUnreachable(err):
			failures++
			if failures >= 5 {
				return c.exit(err)
			}
			fmt.Fprintf(c.stderr, "portcullis: event stream: %s; retrying\n", errMessage(err))
		case err != nil:
			return c.exit(err)
		default:
			failures = 0
			for {
				e, err := s.Next()
				if err != nil {
					break
				}
				if e.ID != 0 && e.ID <= after {
					continue
				}
				p.print(e)
				p.flush()
				after = max(after, e.ID)
				printed++
				if count > 0 && printed >= count {
					s.Close()
					return exitOK
				}
			}
			s.Close()
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
