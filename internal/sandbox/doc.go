// Package sandbox confines the running controller to what it needs once its
// sockets are bound and its files are open: the protection domain of its
// own that the source system's open item asked for (docs/deploy.md, the
// threat model).
//
// Apply, in this order, for every thread of the process:
//
//	root?  --> drop the capability bounding set, setgroups/setresgid/setresuid
//	           to Policy.User (kernel clears permitted and effective caps)
//	       --> clear every capability set that is left (capset 0, ambient)
//	       --> no_new_privs
//	       --> Landlock: the filesystem shrinks to Policy.ReadOnly /
//	           ReadWrite (plus what the Go runtime and DNS/TLS read); no TCP
//	           bind; no signals or abstract sockets out of the domain
//	       --> seccomp: an allowlist of system calls; no execve, fork
//	           (clone only for threads), ptrace, bind, listen, namespaces,
//	           packet or netlink sockets, module or kexec calls
//
// A kernel without Landlock or seccomp leaves that layer out and Apply says
// so in Report.Warnings; failing to leave root is an error (the caller must
// not serve as root by accident).
//
// Threads: Go's syscall.Setresuid and Setgroups apply to every thread (Go
// 1.16+); the capability and prctl calls go through psx, which runs them on
// every thread; Landlock's library does the same; seccomp uses TSYNC.
// Threads created later inherit all of it from their creator.
//
// Apply must be called once, before the process reads untrusted input, and
// is not safe to call concurrently with itself.
package sandbox
