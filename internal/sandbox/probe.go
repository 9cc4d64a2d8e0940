//go:build linux

package sandbox

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeEnv names the environment variable that makes `portcullis run`
// attempt, once confined, what it must never do, and log each outcome
// (the e2e tests read them). Its value is "1", or the pid of a process of
// the account the controller runs as, to be traced and signalled (without
// one, the parent, which its owner's permissions may protect anyway). It
// changes nothing else.
const ProbeEnv = "PORTCULLIS_SANDBOX_PROBE"

// Probe is one forbidden attempt and what the kernel answered.
type Probe struct {
	Name    string // what was tried
	Refused bool   // the kernel said no
	Err     string // its answer ("" when the attempt succeeded)
}

// ProbeTargets are what the probes try to reach. Each is chosen so that
// the account's own permissions would allow the attempt: a refusal is the
// confinement's.
type ProbeTargets struct {
	Outside  string // a file outside the rules that the account may read (/etc/os-release)
	WriteDir string // a directory outside the rules that the account may write (/tmp)
	ReadOnly string // a file the rules leave read-only (the configuration), which the account may own
	Peer     int    // a process of the same account (0: the parent)
}

// ProbeTargetsFromEnv returns the targets `portcullis run` probes:
// /etc/os-release, the temporary directory, the configuration file and
// the peer ProbeEnv names.
func ProbeTargetsFromEnv(config string) ProbeTargets {
	t := ProbeTargets{Outside: "/etc/os-release", WriteDir: os.TempDir(), ReadOnly: config}
	if pid, err := strconv.Atoi(os.Getenv(ProbeEnv)); err == nil && pid > 1 {
		t.Peer = pid
	}
	return t
}

// Probes tries what a confined controller must not be able to do and
// returns what the kernel answered: run a program (execve, and a fork to
// run one), trace or signal another process of its account, listen on a
// new socket, open a raw packet or netlink socket, read or write a file
// outside its rules, write its read-only configuration, regain root,
// enter a new user namespace, push input into its terminal.
//
// Unconfined, each of these but regaining root and the packet socket
// (which need privileges the account lacks) succeeds against targets as
// described in ProbeTargets (TestProbesUnconfined): so each refusal here
// is the sandbox's. The execve probe, when it is not refused, replaces the
// process: call Probes only where every one is meant to fail.
func Probes(t ProbeTargets) []Probe {
	ps := ProbesNoExec(t)
	return append(ps, probe("execve /bin/sh", syscall.Exec("/bin/sh", []string{"sh", "-c", "true"}, nil)))
}

// probe is the result of one attempt: refused when it returned an error.
func probe(name string, err error) Probe {
	p := Probe{Name: name, Refused: err != nil}
	if err != nil {
		p.Err = err.Error()
	}
	return p
}

// ProbesNoExec is Probes without the execve, which replaces the process
// when it succeeds.
func ProbesNoExec(t ProbeTargets) []Probe {
	var ps []Probe
	add := func(name string, err error) { ps = append(ps, probe(name, err)) }
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err == nil {
		p.Wait()
	}
	add("fork+exec /bin/true", err)
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}})
	if err == nil {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	add("clone a new user namespace", err)
	peer := t.Peer
	if peer == 0 {
		peer = os.Getppid()
	}
	add("ptrace attach to pid "+strconv.Itoa(peer), ptraceAttach(peer))
	add("kill -CONT pid "+strconv.Itoa(peer), syscall.Kill(peer, syscall.SIGCONT))
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
	add("packet socket", closeSocket(unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)))
	add("netlink route socket", closeSocket(unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)))
	f, err := os.Open(t.Outside)
	if err == nil {
		f.Close()
	}
	add("open "+t.Outside, err)
	path := filepath.Join(t.WriteDir, "portcullis-sandbox-probe")
	f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
		os.Remove(path)
	}
	add("create "+path, err)
	if t.ReadOnly != "" {
		// O_APPEND and no write: an unconfined success changes nothing.
		f, err = os.OpenFile(t.ReadOnly, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.Close()
		}
		add("open for writing "+t.ReadOnly, err)
	}
	add("setuid 0", syscall.Setuid(0))
	var c byte = '\n'
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	add("ioctl TIOCSTI on stdin", errnoErr(e))
	return ps
}

func closeSocket(fd int, err error) error {
	if err == nil {
		unix.Close(fd)
	}
	return err
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
	// Attached (the probe failed): let it go on.
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, syscall.WALL, nil)
	syscall.Syscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
	return nil
}
