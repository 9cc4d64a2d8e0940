// Package testenv says what a test needs from the machine it runs on.
//
// On a developer's machine a test whose tool, package or privilege is
// missing skips, naming what to install. When the environment variable CI
// is set (.ci/run sets it), the same test fails instead: CI installs every
// tool the tests use, so a missing one there is a broken CI set-up or a
// test that asks for something nobody installs, and a skip would hide it.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (the CI variable is set and
// not "0" or "false").
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// Missing skips t with the message, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI is set: .ci/run must install it)", msg)
		return
	}
	t.Skip(msg)
}

// packages names the Debian package of each tool the tests run, for the
// message of a missing one.
var packages = map[string]string{
	"arp-scan":        "arp-scan",
	"bash":            "bash",
	"chromium":        "chromium",
	"etcd":            "etcd-server",
	"ethtool":         "ethtool",
	"fping":           "fping",
	"hping3":          "hping3",
	"iperf3":          "iperf3",
	"ip":              "iproute2",
	"masscan":         "masscan",
	"nmap":            "nmap",
	"nping":           "nmap",
	"ovs-ofctl":       "openvswitch-common",
	"ovs-vsctl":       "openvswitch-switch",
	"ovs-vswitchd":    "openvswitch-switch",
	"ovsdb-server":    "openvswitch-switch",
	"ovsdb-tool":      "openvswitch-switch",
	"ping":            "iputils-ping",
	"promtool":        "prometheus",
	"python3":         "python3",
	"systemd-analyze": "systemd",
	"tcpdump":         "tcpdump",
	"tcpreplay":       "tcpreplay",
	"tshark":          "tshark",
	"zmap":            "zmap",

	// packaging and the lab VM (TestDebPackage, TestVMGuestNotified)
	"curl":               "curl",
	"dpkg":               "dpkg",
	"dpkg-deb":           "dpkg",
	"make":               "make",
	"qemu-system-x86_64": "qemu-system-x86",
	"unshare":            "util-linux",
}

// Package returns the Debian package that provides tool ("" if unknown).
func Package(tool string) string { return packages[tool] }

// Tool returns the path of each named command, in order; a missing one
// skips t (fails it under CI) naming its Debian package.
func Tool(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, 0, len(names))
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			hint := ""
			if pkg := packages[n]; pkg != "" {
				hint = ": apt-get install " + pkg
			}
			Missing(t, "%s not installed%s", n, hint)
			return nil
		}
		paths = append(paths, p)
	}
	return paths
}

// Root skips t (fails it under CI) unless the test runs as root.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: %s", why)
	}
}
