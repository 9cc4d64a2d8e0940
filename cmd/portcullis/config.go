package main

import (
	"fmt"
	"io"

	"portcullis/internal/config"
)

const configUsage = `usage: portcullis config check FILE...

Check configuration files: each is read on top of the defaults and
validated. Prints "FILE: ok" on stdout for a good file; for a bad one,
every problem on stderr as FILE:LINE: KEY: what is wrong and what is allowed.

Exit status: 0 all files are good, 1 a file is bad or unreadable, 2 usage error.
The documented example is docs/config.example.yaml.
`

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "portcullis config: unknown subcommand %q\n", args[0])
		}
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	files := args[1:]
	for _, a := range files {
		if isHelp(a) {
			fmt.Fprint(stdout, configUsage)
			return 0
		}
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "portcullis config check: missing FILE")
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	status := 0
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			fmt.Fprintln(stderr, err) // Errors name the file; file errors too
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return status
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }
