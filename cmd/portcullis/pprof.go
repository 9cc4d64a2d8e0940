//go:build pprof

package main

// Built with -tags pprof, the binary serves net/http/pprof on the address
// in PORTCULLIS_PPROF (make bench-scale profiles the controller so). The
// default build has no profiling endpoint.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("PORTCULLIS_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
