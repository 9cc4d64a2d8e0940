package main

import (
	"fmt"
	"io"
)

func cmdAgent(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}
