package main

import (
	"fmt"
	"io"
)

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}
