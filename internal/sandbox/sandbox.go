//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// DefaultUser is the account `portcullis run` switches to when started as
// root (the Debian package creates it); FallbackUser when it does not exist.
const (
	DefaultUser  = "portcullis"
	FallbackUser = "nobody"
)

// Policy says what the confined process may still use.
type Policy struct {
	// User is the account to switch to when the process runs as root: a
	// name or a numeric uid. "" means DefaultUser, or FallbackUser (with a
	// warning) when there is no such account.
	User string
	// ReadOnly are files and directories read after confinement (the
	// configuration, for SIGHUP reloads; keys). Missing ones are skipped.
	ReadOnly []string
	// ReadWrite are directories and files written after confinement (the
	// state directory, the events file).
	ReadWrite []string
	// UnixSockets are pathname UNIX sockets the process connects to
	// (syslog).
	UnixSockets []string
	// Own are regular files the process opens again after confinement
	// (the events file, when a reload restarts the sinks). Leaving root,
	// Apply gives each to User: created by root with mode 0600, it could
	// not be reopened. Missing files and anything but regular files are
	// left alone.
	Own []string
}

// Report says which confinements are in force.
type Report struct {
	User       string // account the process runs as
	UID, GID   int
	Switched   bool // left root for User
	Caps       bool // every capability set is empty
	NoNewPrivs bool // no_new_privs is set
	Landlock   int  // Landlock ABI version enforced; 0 = none
	Seccomp    int  // system calls in the seccomp allowlist; 0 = no filter
	Warnings   []string
}

// String is the one-line summary the start-up log shows.
func (r Report) String() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("user %s (uid %d)", r.User, r.UID))
	if r.Caps {
		parts = append(parts, "no capabilities")
	}
	if r.NoNewPrivs {
		parts = append(parts, "no_new_privs")
	}
	if r.Landlock > 0 {
		parts = append(parts, fmt.Sprintf("landlock v%d", r.Landlock))
	} else {
		parts = append(parts, "no landlock")
	}
	if r.Seccomp > 0 {
		parts = append(parts, fmt.Sprintf("seccomp (%d syscalls)", r.Seccomp))
	} else {
		parts = append(parts, "no seccomp")
	}
	return strings.Join(parts, ", ")
}

// ResolveUser returns the uid, gid and name of spec ("" = the default).
// The returned warning is non-empty when the fallback account was chosen.
func ResolveUser(spec string) (uid, gid int, name, warning string, err error) {
	var u *user.User
	switch {
	case spec == "":
		u, err = user.Lookup(DefaultUser)
		if err != nil {
			var unknown user.UnknownUserError
			if !errors.As(err, &unknown) {
				return 0, 0, "", "", fmt.Errorf("sandbox: user %s: %w", DefaultUser, err)
			}
			if u, err = user.Lookup(FallbackUser); err != nil {
				return 0, 0, "", "", fmt.Errorf("sandbox: neither user %s nor %s exists: create %s (useradd --system %s) or pass --user", DefaultUser, FallbackUser, DefaultUser, DefaultUser)
			}
			warning = fmt.Sprintf("no %q user: running as %q; create it (the Debian package does: useradd --system %s) or pass --user", DefaultUser, FallbackUser, DefaultUser)
		}
	default:
		if _, nerr := strconv.Atoi(spec); nerr == nil {
			u, err = user.LookupId(spec)
		} else {
			u, err = user.Lookup(spec)
		}
		if err != nil {
			return 0, 0, "", "", fmt.Errorf("sandbox: --user %s: %w", spec, err)
		}
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, "", "", fmt.Errorf("sandbox: user %s: uid %q", u.Username, u.Uid)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, "", "", fmt.Errorf("sandbox: user %s: gid %q", u.Username, u.Gid)
	}
	if uid == 0 {
		return 0, 0, "", "", fmt.Errorf("sandbox: user %s is root: pick an unprivileged account, or --no-sandbox", u.Username)
	}
	return uid, gid, u.Username, warning, nil
}

// Apply confines the process (see the package doc) and reports what is in
// force. An error means the process must not go on: it could not leave
// root, or a layer that the kernel supports failed half-way.
func Apply(p Policy) (Report, error) {
	var r Report
	// Lazily loaded tables the standard library would read from disk
	// later, outside the Landlock rules: the local time zone, the MIME
	// types (the dashboard's file server). DNS lookups stay in Go's own
	// resolver (glibc's would load NSS modules from /lib).
	_ = time.Now().Local().String()
	_ = mime.TypeByExtension(".html")
	net.DefaultResolver.PreferGo = true

	if os.Geteuid() == 0 {
		uid, gid, name, warn, err := ResolveUser(p.User)
		if err != nil {
			return r, err
		}
		if warn != "" {
			r.Warnings = append(r.Warnings, warn)
		}
		for _, path := range p.Own {
			if err := giveFile(path, uid, gid); err != nil {
				return r, fmt.Errorf("sandbox: give %s to %s: %w", path, name, err)
			}
		}
		if err := dropBounding(); err != nil {
			return r, err
		}
		if err := syscall.Setgroups([]int{gid}); err != nil {
			return r, fmt.Errorf("sandbox: setgroups: %w", err)
		}
		if err := syscall.Setresgid(gid, gid, gid); err != nil {
			return r, fmt.Errorf("sandbox: setresgid %d: %w", gid, err)
		}
		if err := syscall.Setresuid(uid, uid, uid); err != nil {
			return r, fmt.Errorf("sandbox: setresuid %d: %w", uid, err)
		}
		r.Switched = true
		r.User = name
	} else {
		if p.User != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("--user %s ignored: not started as root", p.User))
		}
		if u, err := user.LookupId(strconv.Itoa(os.Geteuid())); err == nil {
			r.User = u.Username
		} else {
			r.User = strconv.Itoa(os.Geteuid())
		}
	}
	r.UID, r.GID = os.Geteuid(), os.Getegid()
	if r.UID == 0 {
		return r, errors.New("sandbox: still root after switching user")
	}
	if err := clearCaps(); err != nil {
		return r, err
	}
	r.Caps = true
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return r, fmt.Errorf("sandbox: prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	r.NoNewPrivs = true

	abi, err := llsys.LandlockGetABIVersion()
	if errors.Is(err, syscall.EPERM) {
		r.Warnings = append(r.Warnings, "landlock: refused by a seccomp filter around this process (a systemd unit without landlock_* in SystemCallFilter?): the filesystem is not restricted")
	} else if err != nil || abi < 1 {
		r.Warnings = append(r.Warnings, "landlock: not supported by this kernel (or not enabled at boot: lsm=landlock): the filesystem is not restricted")
	} else {
		if err := restrictPaths(p); err != nil {
			return r, fmt.Errorf("sandbox: landlock: %w", err)
		}
		r.Landlock = min(abi, maxLandlockABI)
		if abi < 4 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("landlock: ABI v%d restricts files only (v4, Linux 6.7, adds bind)", abi))
		}
	}

	n, err := loadSeccomp()
	switch {
	case errors.Is(err, errNoSeccomp):
		r.Warnings = append(r.Warnings, "seccomp: not supported by this kernel: system calls are not restricted")
	case errors.Is(err, syscall.EPERM):
		r.Warnings = append(r.Warnings, "seccomp: refused by a seccomp filter around this process (a systemd unit without seccomp in SystemCallFilter?): only that filter applies")
	case err != nil:
		return r, err
	default:
		r.Seccomp = n
	}
	return r, nil
}

// maxLandlockABI is the newest ABI this package asks for (go-landlock V11).
const maxLandlockABI = 11

// restrictPaths applies the Landlock ruleset: filesystem, TCP/UDP bind and
// IPC scopes, in best-effort mode (the kernel's ABI decides what is left).
func restrictPaths(p Policy) error {
	cfg := landlock.Config{
		HandledAccessFS:  landlock.V11.HandledAccessFS,
		HandledAccessNet: landlock.AccessNetSet(llsys.AccessNetBindTCP | llsys.AccessNetBindUDP),
		Scoped:           landlock.V11.Scoped,
	}.BestEffort()
	var rules []landlock.Rule
	var roFiles, roDirs, rwFiles, rwDirs []string
	for _, path := range append(append([]string{}, p.ReadOnly...), runtimeReads...) {
		if fi, err := os.Stat(path); err == nil {
			if fi.IsDir() {
				roDirs = append(roDirs, path)
			} else {
				roFiles = append(roFiles, path)
			}
		}
	}
	for _, path := range p.ReadWrite {
		if fi, err := os.Stat(path); err == nil {
			if fi.IsDir() {
				rwDirs = append(rwDirs, path)
			} else {
				rwFiles = append(rwFiles, path)
			}
		}
	}
	if len(roDirs) > 0 {
		rules = append(rules, landlock.RODirs(roDirs...).IgnoreIfMissing())
	}
	if len(roFiles) > 0 {
		rules = append(rules, landlock.ROFiles(roFiles...).IgnoreIfMissing())
	}
	if len(rwDirs) > 0 {
		rules = append(rules, landlock.RWDirs(rwDirs...).IgnoreIfMissing())
	}
	if len(rwFiles) > 0 {
		rules = append(rules, landlock.RWFiles(rwFiles...).IgnoreIfMissing())
	}
	// /dev/null for the standard library's fallbacks; write only.
	rules = append(rules, landlock.PathAccess(landlock.AccessFSSet(llsys.AccessFSWriteFile|llsys.AccessFSReadFile), "/dev/null").IgnoreIfMissing())
	for _, s := range p.UnixSockets {
		rules = append(rules, landlock.PathAccess(0, s).WithResolveUnix().IgnoreIfMissing())
	}
	return cfg.Restrict(rules...)
}

// runtimeReads are what the Go runtime, DNS and TLS may read after start-up:
// the resolver's files (re-read when they change), the system roots for
// https webhooks, and the metrics' process collector (/proc/self).
var runtimeReads = []string{
	"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
	"/etc/ssl/certs", "/etc/ssl/cert.pem", "/etc/pki/tls/certs", "/usr/share/ca-certificates",
	"/usr/local/share/ca-certificates",
	"/etc/localtime", "/usr/share/zoneinfo",
	"/proc/self", "/proc/stat", "/proc/sys/net/core/somaxconn",
}

// dropBounding empties the capability bounding set of every thread (it is
// per thread; needs CAP_SETPCAP, so before leaving root).
func dropBounding() error {
	last := capLastCap()
	for c := 0; c <= last; c++ {
		if _, _, e := psx.Syscall3(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != unix.EINVAL {
			return fmt.Errorf("sandbox: prctl(PR_CAPBSET_DROP, %d): %w", c, e)
		}
	}
	return nil
}

func capLastCap() int {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			return n
		}
	}
	return 63
}

// clearCaps empties the effective, permitted, inheritable and ambient sets
// of every thread (a process started unprivileged may still hold some, as
// systemd's AmbientCapabilities gives).
func clearCaps() error {
	if _, _, e := psx.Syscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
		return fmt.Errorf("sandbox: clear ambient capabilities: %w", e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err == nil && data == [2]unix.CapUserData{} {
		// Nothing to drop (and a service manager's filter may refuse
		// capset, as systemd's ~@privileged does).
		return nil
	}
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data = [2]unix.CapUserData{}
	if _, _, e := psx.Syscall3(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("sandbox: capset: %w", e)
	}
	return nil
}

// Status reads the confinement fields of /proc/self/status (every thread
// shares them; tests read /proc/PID/task/*/status for each).
func Status() (map[string]string, error) {
	return ReadStatus("/proc/self/status")
}

// ReadStatus parses the "Key:\tvalue" lines of a /proc status file.
func ReadStatus(path string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

// giveFile gives the regular file at path to uid and gid, through a
// descriptor opened without following a symlink, and only if no other name
// links to it: a hard link placed in a directory others may write (before
// start) would otherwise give a file of root's to the controller's account.
// A missing file, or one that is not a regular file, is left alone.
func giveFile(path string, uid, gid int) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil
	}
	if st.Nlink != 1 {
		return fmt.Errorf("it has %d links: not given away", st.Nlink)
	}
	return f.Chown(uid, gid)
}
