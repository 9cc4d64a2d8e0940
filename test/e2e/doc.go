// Package e2e holds the end-to-end tests: the real portcullis binary, real
// Open vSwitch (the lab of internal/lab) and real traffic between network
// namespaces. The tests need root and Open vSwitch and skip with a message
// otherwise; `go test -short` skips them all.
//
// The harness (harness_test.go) is shared by every e2e test: Binary builds
// the binary once per run, StartController runs `portcullis run` on free
// ports, StartLab brings a lab up and tears it down (checking nothing was
// left behind), PingAll and TCP check connectivity.
package e2e
