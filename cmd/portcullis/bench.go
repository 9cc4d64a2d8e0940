package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"portcullis/internal/bench"
)

const benchUsage = `usage: portcullis bench [flags]

Load-tests an OpenFlow 1.3 controller, cbench-style: emulated switches
connect to --addr and send learning misses (packet-ins from ever-changing
source MACs); a packet-in counts as answered by the first FLOW_MOD whose
match names its MAC or the first PACKET_OUT of its frame.

  throughput  --in-flight packet-ins in flight per switch
  latency     one in flight per switch; p50 and p99 round trip
  idle        connect and stay quiet (with --pid: memory per switch)

--miss portcullis sends Portcullis's table-2 learning misses; table0 sends
table-0 misses (ovs-testcontroller, os-ken simple_switch_13).

portcullis bench floor [--listen ADDR] serves the floor instead: a
controller on Portcullis's session layer that answers every packet-in with
one flooding packet-out and does nothing else, to measure beside the
controller what the session layer alone costs on this machine.

Flags:
`

func cmdBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "floor" {
		return cmdBenchFloor(args[1:], stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	var (
		addr     = fs.String("addr", "127.0.0.1:6653", "the controller's OpenFlow address")
		switches = fs.Int("switches", 16, "emulated switches")
		ports    = fs.Int("ports", 4, "ports per switch")
		mode     = fs.String("mode", "throughput", "throughput, latency or idle")
		inFlight = fs.Int("in-flight", 64, "throughput mode: packet-ins in flight per switch")
		miss     = fs.String("miss", "portcullis", "packet-ins like a table-miss of: portcullis (table 2) or table0")
		rounds   = fs.Int("rounds", 5, "measured rounds")
		round    = fs.Duration("round", 2*time.Second, "length of a round")
		warmup   = fs.Duration("warmup", time.Second, "load before the first round")
		timeout  = fs.Duration("connect-timeout", 60*time.Second, "time for all switches to connect")
		hold     = fs.Duration("hold", 2*time.Second, "idle mode: how long the switches stay connected before the controller's memory is read")
		pid      = fs.Int("pid", 0, "the controller's process id, to report its resident memory")
		asJSON   = fs.Bool("json", false, "print the report as JSON")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portcullis bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := bench.Config{Addr: *addr, Switches: *switches, Ports: *ports, Mode: bench.Mode(*mode), InFlight: *inFlight,
		Rounds: *rounds, Round: *round, Warmup: *warmup, ConnectTimeout: *timeout, Settle: *hold, PID: *pid}
	switch *miss {
	case "portcullis":
		cfg.Miss = bench.MissPortcullis
	case "table0":
		cfg.Miss = bench.MissTable0
	default:
		fmt.Fprintf(stderr, "portcullis bench: --miss %q: want portcullis or table0\n", *miss)
		return 2
	}
	raiseFileLimit(slog.New(slog.NewTextHandler(stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil && rep == nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		bench.WriteText(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "portcullis bench: %v\n", err)
		return 1
	}
	return 0
}

const benchFloorUsage = `usage: portcullis bench floor [--listen ADDR]

Serves the floor: an OpenFlow 1.3 controller on Portcullis's session layer
that answers every packet-in with one PACKET_OUT flooding its frame and does
nothing else, until interrupted. Run portcullis bench against it beside a
controller to see what the session layer alone costs on this machine.

Flags:
`

// cmdBenchFloor serves bench.Floor until interrupted.
func cmdBenchFloor(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchFloorUsage); fs.PrintDefaults() }
	listen := fs.String("listen", "127.0.0.1:6653", "the OpenFlow address to listen on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portcullis bench floor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	raiseFileLimit(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := bench.NewFloor(*listen, log)
	if err := f.Listen(); err != nil {
		fmt.Fprintf(stderr, "portcullis bench floor: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "portcullis bench floor: listening on %s\n", f.Addr())
	if err := f.Serve(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "portcullis bench floor: %v\n", err)
		return 1
	}
	return 0
}
