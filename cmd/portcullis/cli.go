package main

import (
	"fmt"
	"io"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}

func cmdSwitch(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}

func cmdHost(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}

func cmdBlock(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}

func cmdAllow(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}

func cmdEvents(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: not implemented yet")
	return 1
}
