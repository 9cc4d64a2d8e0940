package main

import (
	"fmt"
	"io"
)

func cmdLab(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}
