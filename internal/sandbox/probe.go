//go:build linux

package sandbox

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeEnv names the environment variable that makes `portcullis run`
// attempt, once confined, what it must never do, and log each outcome
// (the e2e tests read them). It changes nothing else.
const ProbeEnv = "PORTCULLIS_SANDBOX_PROBE"

// Probe is one forbidden attempt and what the kernel answered.
type Probe struct {
	Name    string // what was tried
	Refused bool   // the kernel said no
	Err     string // its answer ("" when the attempt succeeded)
}

// Probes tries what a confined controller must not be able to do: run a
// program, trace a process, listen on a new socket, read or write a file
// outside its rules, regain root, enter a new namespace. outside is a
// readable file outside the rules (such as /etc/os-release); writeDir a
// directory outside the rules.
func Probes(outside, writeDir string) []Probe {
	var ps []Probe
	add := func(name string, err error) {
		p := Probe{Name: name, Refused: err != nil}
		if err != nil {
			p.Err = err.Error()
		}
		ps = append(ps, p)
	}
	add("execve /bin/sh", syscall.Exec("/bin/sh", []string{"sh", "-c", "true"}, nil))
	_, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	add("fork+exec /bin/true", err)
	add("ptrace attach to parent", ptraceAttach(os.Getppid()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		ln.Close()
	}
	add("listen on tcp 127.0.0.1:0", err)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err == nil {
		pc.Close()
	}
	add("bind udp 127.0.0.1:0", err)
	f, err := os.Open(outside)
	if err == nil {
		f.Close()
	}
	add("open "+outside, err)
	path := filepath.Join(writeDir, "portcullis-sandbox-probe")
	f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
		os.Remove(path)
	}
	add("create "+path, err)
	add("setuid 0", syscall.Setuid(0))
	add("unshare user namespace", unix.Unshare(unix.CLONE_NEWUSER))
	var c byte = '\n'
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	add("ioctl TIOCSTI on stdin", errnoErr(e))
	return ps
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func ptraceAttach(pid int) error {
	_, _, e := syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_ATTACH, uintptr(pid), 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
	return nil
}
