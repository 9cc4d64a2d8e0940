//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

var errNoSeccomp = errors.New("sandbox: seccomp not supported")

// allowed are the system calls the Go runtime (with or without cgo: glibc
// starts threads, allocates and registers rseq) and the controller make
// once it serves: sockets it already has (accept, read, write), outbound
// connections (webhooks, syslog), the state file (pwrite, fdatasync,
// ftruncate, mmap), the configuration (openat under Landlock), time,
// signals to itself and futexes. Absent, and so refused with EPERM:
// execve/execveat, ptrace, process_vm_*, bind, listen, mount, setuid and
// friends, setns/unshare, bpf, perf_event_open, keyctl, io_uring, module
// and kexec calls, fork/vfork (and clone without CLONE_THREAD), wait4.
var allowed = []string{
	// memory
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "mlock", "munlock",
	// threads and scheduling
	"futex", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "sched_yield",
	"sched_getaffinity", "getpid", "gettid", "getppid", "exit", "exit_group", "restart_syscall",
	"membarrier",
	// signals (kill/tgkill/tkill are restricted to this process below)
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
	"sigaltstack",
	// time
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
	"timer_create", "timer_settime", "timer_gettime", "timer_delete", "getitimer", "setitimer",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	// files (Landlock decides which)
	"openat", "openat2", "close", "close_range", "read", "write", "readv", "writev", "pread64",
	"pwrite64", "preadv", "pwritev", "lseek", "fstat", "newfstatat", "statx", "statfs", "fstatfs",
	"fsync", "fdatasync", "flock", "ftruncate", "fallocate", "fadvise64", "getdents64",
	"readlinkat", "faccessat", "faccessat2", "fcntl", "dup", "dup3", "pipe2",
	"sendfile", "splice", "copy_file_range", "getcwd", "umask",
	// polling
	"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "eventfd2", "ppoll", "pselect6",
	// sockets: no bind, no listen
	"connect", "accept4", "getsockname", "getpeername", "setsockopt", "getsockopt",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	// identity and limits (reads)
	"getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid",
	"capget", "prlimit64", "getrlimit", "getrusage", "uname", "sysinfo", "getrandom",
	"getcpu", "prctl",
}

// allowedAMD64 are the x86-64 names the other architectures lack.
var allowedAMD64 = []string{
	"arch_prctl", "epoll_wait", "epoll_create", "poll", "select", "pipe", "dup2", "stat",
	"lstat", "access", "readlink", "open", "time", "alarm", "getdents",
}

// cloneNamespaces are the clone flags that would start a new namespace.
const cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUSER | unix.CLONE_NEWNET |
	unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// actionENOSYS answers "no such system call", which glibc takes as the
// cue to fall back (clone3 -> clone), where EPERM would fail its thread.
const actionENOSYS = seccomp.Action(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))

// policy builds the allowlist for this process (kill and tgkill may
// only target its own pid).
func policy() seccomp.Policy {
	names := append([]string{}, allowed...)
	if runtime.GOARCH == "amd64" {
		names = append(names, allowedAMD64...)
	}
	pid := uint64(os.Getpid())
	self := func(name string) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.Equal, Value: pid}}}
	}
	inet := func(family uint64) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: "socket", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.Equal, Value: family}}}
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionErrno,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionAllow, Names: names},
			{Action: seccomp.ActionAllow, NamesWithCondtions: []seccomp.NameWithConditions{
				// threads (CLONE_THREAD), never a new process (fork:
				// it could not exec, but could multiply) or namespace
				{Name: "clone", Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_THREAD},
					{Argument: 0, Operation: seccomp.BitsNotSet, Value: cloneNamespaces}}},
				self("kill"), self("tgkill"),
				// ioctl, but not to type into a terminal the controller
				// inherited (TIOCSTI, TIOCLINUX): Landlock does not cover
				// descriptors opened before it
				{Name: "ioctl", Conditions: seccomp.ArgumentConditions{
					{Argument: 1, Operation: seccomp.NotEqual, Value: unix.TIOCSTI},
					{Argument: 1, Operation: seccomp.NotEqual, Value: unix.TIOCLINUX}}},
				// IPv4, IPv6 and UNIX (syslog) sockets; no packet or netlink
				inet(unix.AF_INET), inet(unix.AF_INET6), inet(unix.AF_UNIX),
			}},
			{Action: actionENOSYS, Names: []string{"clone3"}},
		},
	}
}

// loadSeccomp installs the filter on every thread (TSYNC) and returns how
// many system calls it allows.
func loadSeccomp() (int, error) {
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); errors.Is(err, syscall.EINVAL) {
		return 0, errNoSeccomp
	}
	p := policy()
	err := seccomp.LoadFilter(seccomp.Filter{NoNewPrivs: true, Flag: seccomp.FilterFlagTSync, Policy: p})
	if err != nil {
		if errors.Is(err, syscall.ENOSYS) {
			return 0, errNoSeccomp
		}
		return 0, fmt.Errorf("sandbox: seccomp: %w", err)
	}
	n := 0
	for _, g := range p.Syscalls {
		if g.Action == seccomp.ActionAllow {
			n += len(g.Names) + len(g.NamesWithCondtions)
		}
	}
	return n, nil
}
