//go:build linux

package sandbox

import (
	"encoding/binary"
	"os"
	"runtime"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The seccomp allowlist, run in a BPF interpreter on the system calls
// the controller makes and those a compromised one would try, with the
// arguments that decide (clone's flags, kill's pid, socket's family,
// ioctl's request): the probes show the kernel refusing a few of them,
// this shows the rule behind each, fork among them (refused at clone,
// where a probe could not tell clone from the execve after it).
func TestSeccompPolicy(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the cases name x86-64 system call numbers")
	}
	p := policy()
	insts, err := p.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	const (
		allow  = 0x7fff0000 // SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	// Go's runtime threads (newosproc's cloneFlags).
	const thread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
	self := uint64(os.Getpid())
	for _, tc := range []struct {
		name string
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", unix.SYS_READ, nil, allow},
		{"accept4", unix.SYS_ACCEPT4, nil, allow},
		{"connect", unix.SYS_CONNECT, nil, allow},
		{"clone a runtime thread", unix.SYS_CLONE, []uint64{thread}, allow},
		{"clone3 (glibc falls back to clone)", unix.SYS_CLONE3, nil, enosys},
		{"fork by clone", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, eperm},
		{"vfork by clone (os/exec)", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, eperm},
		{"thread in a new user namespace", unix.SYS_CLONE, []uint64{thread | unix.CLONE_NEWUSER}, eperm},
		{"thread in a new network namespace", unix.SYS_CLONE, []uint64{thread | unix.CLONE_NEWNET}, eperm},
		{"fork", unix.SYS_FORK, nil, eperm},
		{"vfork", unix.SYS_VFORK, nil, eperm},
		{"execve", unix.SYS_EXECVE, nil, eperm},
		{"execveat", unix.SYS_EXECVEAT, nil, eperm},
		{"ptrace", unix.SYS_PTRACE, nil, eperm},
		{"process_vm_readv", unix.SYS_PROCESS_VM_READV, nil, eperm},
		{"bind", unix.SYS_BIND, nil, eperm},
		{"listen", unix.SYS_LISTEN, nil, eperm},
		{"kill itself", unix.SYS_KILL, []uint64{self, uint64(unix.SIGTERM)}, allow},
		{"tgkill its thread", unix.SYS_TGKILL, []uint64{self, self, uint64(unix.SIGURG)}, allow},
		{"kill pid 1", unix.SYS_KILL, []uint64{1, uint64(unix.SIGKILL)}, eperm},
		{"kill every process", unix.SYS_KILL, []uint64{uint64(0xffffffffffffffff), uint64(unix.SIGKILL)}, eperm},
		{"tgkill another process", unix.SYS_TGKILL, []uint64{self + 1, self + 1, uint64(unix.SIGKILL)}, eperm},
		{"socket AF_INET", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, allow},
		{"socket AF_INET6", unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_DGRAM}, allow},
		{"socket AF_UNIX", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_DGRAM}, allow},
		{"socket AF_PACKET", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW}, eperm},
		{"socket AF_NETLINK", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW}, eperm},
		{"ioctl TCGETS", unix.SYS_IOCTL, []uint64{3, unix.TCGETS}, allow},
		{"ioctl TIOCSTI", unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, eperm},
		{"ioctl TIOCLINUX", unix.SYS_IOCTL, []uint64{0, unix.TIOCLINUX}, eperm},
		{"setuid", unix.SYS_SETUID, nil, eperm},
		{"setresuid", unix.SYS_SETRESUID, nil, eperm},
		{"capset", unix.SYS_CAPSET, nil, eperm},
		{"unshare", unix.SYS_UNSHARE, nil, eperm},
		{"setns", unix.SYS_SETNS, nil, eperm},
		{"mount", unix.SYS_MOUNT, nil, eperm},
		{"bpf", unix.SYS_BPF, nil, eperm},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, nil, eperm},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, nil, eperm},
		{"init_module", unix.SYS_INIT_MODULE, nil, eperm},
		{"kexec_load", unix.SYS_KEXEC_LOAD, nil, eperm},
		{"seccomp (a second filter)", unix.SYS_SECCOMP, nil, eperm},
		{"landlock_create_ruleset", unix.SYS_LANDLOCK_CREATE_RULESET, nil, eperm},
		{"x32 read", unix.SYS_READ | 0x40000000, nil, enosys},
	} {
		if got := runSeccomp(t, vm, tc.nr, tc.args); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// runSeccomp runs the filter on a struct seccomp_data for x86-64 (nr,
// arch, ip, args). x/net/bpf's interpreter loads words big-endian, the
// kernel in host order: each 32-bit word is stored the way the
// interpreter reads it, at the offset the kernel's layout gives it (an
// argument's low word first on little-endian hosts).
func runSeccomp(t *testing.T, vm *bpf.VM, nr uint32, args []uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], 0xc000003e) // AUDIT_ARCH_X86_64
	for i, a := range args {
		off := 16 + 8*i
		binary.BigEndian.PutUint32(data[off:], uint32(a))
		binary.BigEndian.PutUint32(data[off+4:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}
