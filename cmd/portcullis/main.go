// Command portcullis is the Portcullis OpenFlow controller, its lab, its host
// agent and the operator CLI, in one binary. Each subcommand lives in its own
// file; this file only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
)

// command is one top-level subcommand. run returns the process exit code:
// 0 success, 1 failure, 2 usage error.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the controller", cmdRun},
		{"lab", "manage the built-in Open vSwitch lab (up|down|status|exec)", cmdLab},
		{"agent", "run the host agent that receives scan notices", cmdAgent},
		{"config", "check a configuration file (config check FILE)", cmdConfig},
		{"status", "show the controller's status", cmdStatus},
		{"switch", "list connected switches (switch list)", cmdSwitch},
		{"host", "list hosts seen (host list)", cmdHost},
		{"block", "list, add or remove blocks (block list|add|rm)", cmdBlock},
		{"allow", "list, add or remove allowlist entries (allow list|add|rm)", cmdAllow},
		{"events", "show events (events [--follow])", cmdEvents},
		{"cluster", "show the cluster of instances on etcd (cluster status)", cmdCluster},
		{"bench", "load-test an OpenFlow 1.3 controller with emulated switches", cmdBench},
		{"version", "print the version", cmdVersion},
		{"completion", "print a shell completion script (completion bash)", cmdCompletion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: portcullis COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'portcullis COMMAND --help' for a command's flags.")
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "portcullis: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
