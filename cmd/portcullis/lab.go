package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"portcullis/internal/lab"
)

const labUsage = `usage: portcullis lab up|down|status|exec [flags]

  up       create the lab (or adjust an existing one): its own Open vSwitch,
           one bridge, N hosts in network namespaces pointed at the controller
  down     remove everything the lab made, even after a crash
  status   show daemons, controller connections and hosts
  exec     run a command in a host: portcullis lab exec [flags] HOST -- CMD...

Run 'portcullis lab SUBCOMMAND --help' for its flags. Needs root.
`

// stringList is a repeatable, comma-splitting flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func cmdLab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, labUsage)
		return 0
	case "up", "down", "status", "exec":
	default:
		fmt.Fprintf(stderr, "portcullis lab: unknown subcommand %q\n\n%s", args[0], labUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("portcullis lab "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg lab.Config
	fs.StringVar(&cfg.Name, "name", lab.DefaultName, "lab name (namespaces are pc-NAME-sw, pc-NAME-h1, ...)")
	fs.StringVar(&cfg.RunDir, "run-dir", "", "run directory (default "+lab.DefaultRunDirBase+"/NAME)")
	var controllers stringList
	var jsonOut bool
	var probe time.Duration
	var ssl lab.SSL
	var vmName, vmKey, vmKernel, vmAccel string
	if sub == "up" {
		fs.StringVar(&vmName, "vm", "", "also boot a virtual machine NAME on the bridge (QEMU; a Debian kernel from /boot, busybox and `portcullis agent`): 10.0.0.201, port 201, console in RUNDIR/vm-NAME.console")
		fs.StringVar(&vmKey, "vm-notice-key", "", "notice key file for the VM's agent (the controller's --notice-key-file); without it the VM runs no agent")
		fs.StringVar(&vmKernel, "vm-kernel", "", "kernel image for the VM (default: the newest /boot/vmlinuz-* with its modules)")
		fs.StringVar(&vmAccel, "vm-accel", "", "kvm or tcg (default: kvm when /dev/kvm is usable)")
		fs.IntVar(&cfg.Hosts, "hosts", lab.DefaultHosts, "number of hosts")
		fs.StringVar(&cfg.Bridge, "bridge", lab.DefaultBridge, "bridge name")
		fs.IntVar(&cfg.Split, "split", 0, "two switches: hosts 1..N on --bridge, the rest on --bridge2, joined by a patch port pair (0: one switch)")
		fs.StringVar(&cfg.Bridge2, "bridge2", lab.DefaultBridge2, "the second bridge of a --split lab")
		fs.Var(&controllers, "controller", "controller target, e.g. tcp:127.0.0.1:6653 (repeatable)")
		fs.StringVar(&cfg.FailMode, "fail-mode", lab.FailSecure, "bridge fail mode: secure or standalone")
		fs.DurationVar(&probe, "inactivity-probe", 0, "controller inactivity probe (0: OVS default)")
		fs.StringVar(&ssl.Key, "ssl-key", "", "switch private key (PEM) for ssl: targets")
		fs.StringVar(&ssl.Cert, "ssl-cert", "", "switch certificate (PEM) for ssl: targets")
		fs.StringVar(&ssl.CA, "ssl-ca", "", "CA certificate (PEM) that signs the controller's certificate")
	}
	if sub == "status" || sub == "up" {
		fs.BoolVar(&jsonOut, "json", false, "print JSON")
	}
	fs.Usage = func() {
		w := fs.Output()
		if sub == "exec" {
			fmt.Fprintln(w, "usage: portcullis lab exec [flags] HOST -- CMD [ARGS...]\n\nHOST is h1, 1, or a namespace name; sw is the switch's namespace.")
		} else {
			fmt.Fprintf(w, "usage: portcullis lab %s [flags]\n", sub)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	cfg.Controllers = controllers
	cfg.InactivityProbe = probe
	if ssl != (lab.SSL{}) {
		if ssl.Key == "" || ssl.Cert == "" || ssl.CA == "" {
			fmt.Fprintln(stderr, "portcullis lab up: --ssl-key, --ssl-cert and --ssl-ca go together")
			return 2
		}
		cfg.SSL = &ssl
	}
	if sub != "exec" && fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portcullis lab %s: unexpected argument %q\n", sub, fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "portcullis", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "up":
		l, err := lab.Up(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "portcullis", err)
			return 1
		}
		if vmName != "" {
			return labUpVM(ctx, l, lab.VMConfig{Name: vmName, Index: 1, NoticeKey: vmKey, Kernel: vmKernel, Accel: vmAccel}, jsonOut, stdout, stderr)
		}
		return labPrintStatus(l, jsonOut, stdout, stderr)
	case "down":
		if err := lab.Down(ctx, cfg); err != nil {
			fmt.Fprintln(stderr, "portcullis", err)
			return 1
		}
		fmt.Fprintf(stdout, "lab %s removed\n", cfg.Name)
		return 0
	case "status":
		l, err := lab.Open(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "portcullis", err)
			return 1
		}
		return labPrintStatus(l, jsonOut, stdout, stderr)
	default: // exec
		rest := fs.Args()
		if len(rest) < 2 {
			fmt.Fprintln(stderr, "portcullis lab exec: want HOST -- CMD [ARGS...]")
			return 2
		}
		host, argv := rest[0], rest[1:]
		if argv[0] == "--" {
			argv = argv[1:]
		}
		if len(argv) == 0 {
			fmt.Fprintln(stderr, "portcullis lab exec: no command")
			return 2
		}
		l, err := lab.Open(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "portcullis", err)
			return 1
		}
		cmd := l.Exec(context.Background(), host, argv...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
		signal.Ignore(os.Interrupt) // the child gets ^C from the terminal
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() >= 0 {
				return ee.ExitCode()
			}
			fmt.Fprintln(stderr, "portcullis lab exec:", err)
			return 1
		}
		return 0
	}
}

// labUpVM boots the VM, waits (up to 2 minutes) for its init to say it is
// ready, and prints the lab's status and the VM.
func labUpVM(ctx context.Context, l *lab.Lab, vc lab.VMConfig, jsonOut bool, stdout, stderr io.Writer) int {
	vm, err := l.StartVM(ctx, vc)
	if err != nil {
		fmt.Fprintln(stderr, "portcullis", err)
		return 1
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if text, err := vm.WaitConsole(wctx, lab.VMReady); err != nil {
		fmt.Fprintf(stderr, "portcullis %v\nconsole (%s):\n%s\n", err, vm.Console, text)
		return 1
	}
	if jsonOut {
		return labPrintStatus(l, true, stdout, stderr)
	}
	fmt.Fprintf(stdout, "vm %s booted: %s, kernel %s\n", vm.Name, vm.Accel, vm.Kernel)
	return labPrintStatus(l, false, stdout, stderr)
}

func labPrintStatus(l *lab.Lab, jsonOut bool, stdout, stderr io.Writer) int {
	s, err := l.Status()
	if err != nil {
		fmt.Fprintln(stderr, "portcullis", err)
		return 1
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			fmt.Fprintln(stderr, "portcullis", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "lab %s: bridge %s (dpid %s, fail_mode %s) in netns %s, run dir %s\n",
		s.Name, s.Bridge, s.DatapathID, s.FailMode, s.Netns, s.RunDir)
	for _, d := range s.Daemons {
		state := "running"
		if !d.Alive {
			state = "DEAD"
		}
		fmt.Fprintf(stdout, "  %-13s pid %-7d %s\n", d.Name, d.PID, state)
	}
	if len(s.Controllers) == 0 {
		fmt.Fprintln(stdout, "  controller    none")
	}
	for _, c := range s.Controllers {
		state := "not connected"
		if c.Connected {
			state = "connected (" + c.Role + ")"
		}
		fmt.Fprintf(stdout, "  controller    %s %s\n", c.Target, state)
	}
	split := slices.ContainsFunc(s.Hosts, func(h lab.HostStatus) bool { return h.Bridge != "" && h.Bridge != s.Bridge })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if split {
		// Two switches (lab up --split): say which one each host is on.
		fmt.Fprintln(tw, "HOST\tNETNS\tIPV4\tIPV6\tMAC\tBRIDGE\tPORT")
	} else {
		fmt.Fprintln(tw, "HOST\tNETNS\tIPV4\tIPV6\tMAC\tPORT")
	}
	for _, h := range s.Hosts {
		if split {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", h.Name, h.Netns, h.IP, h.IPv6, h.MAC, h.Bridge, h.Port)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", h.Name, h.Netns, h.IP, h.IPv6, h.MAC, h.Port)
	}
	tw.Flush()
	for _, vm := range l.VMs() {
		fmt.Fprintf(stdout, "  vm %s: %s, MAC %s, port %d, qemu pid %d, console %s\n", vm.Name, vm.IP, vm.MAC, vm.Port, vm.PID, vm.Console)
	}
	return 0
}
