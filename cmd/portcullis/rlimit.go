package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every switch holds a socket, and the default soft limit (often 1024)
// would refuse the thousandth. It logs what it could not do.
func raiseFileLimit(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if l.Cur >= l.Max {
		return
	}
	want := l
	want.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		log.Warn("cannot raise the open-file limit: it bounds how many switches can connect",
			"soft", l.Cur, "hard", l.Max, "err", err)
		return
	}
	log.Debug("open-file limit raised", "from", l.Cur, "to", want.Cur)
}
