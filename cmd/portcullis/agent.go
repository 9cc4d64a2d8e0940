package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/syslog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"portcullis/internal/notice"
)

const agentUsage = `usage: portcullis agent --key-file FILE [flags]

Runs on a protected host. Receives the signed scan notices that Portcullis
sends into this host's switch port (UDP %d), verifies each one (key id,
HMAC-SHA256 signature, timestamp, replay) and writes the accepted ones to the
host's log, one line each. Notices that fail verification are logged and
counted; the counters are logged on SIGUSR1, every --stats-interval, and at
exit (SIGINT, SIGTERM, or after the first notice with --once).

The key file holds the deployment's notice key (the controller's), in hex or
raw, at least 32 bytes, not accessible by others (chmod 600).

Log lines:
  NOTICE <event> scanner=IP[,IP...] mac=MAC kind=KIND probes=N victim=IP until=TIME sent=TIME from=ADDR key=ID msg="..."
  REJECTED reason=<malformed|wrong_key|bad_signature|stale|replayed> from=ADDR bytes=N err="..." rejected_total=N
  STATS accepted=N rejected=N malformed=N wrong_key=N bad_signature=N stale=N replayed=N

Flags:
`

func cmdAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("portcullis agent", flag.ContinueOnError)
	var parseOut strings.Builder // usage goes to stdout for --help, stderr for mistakes
	fs.SetOutput(&parseOut)
	keyFile := fs.String("key-file", "", "notice key file (required)")
	listen := fs.String("listen", fmt.Sprintf(":%d", notice.DefaultPort), "UDP address to listen on")
	logTo := fs.String("log", "syslog", "where notices go: syslog, journal or stderr (syslog and journal fall back to stderr if absent)")
	statsEvery := fs.Duration("stats-interval", 0, "log the counters this often (0: only on SIGUSR1 and at exit)")
	maxSkew := fs.Duration("max-skew", notice.DefaultMaxSkew, "accept notice timestamps at most this far from the host's clock")
	once := fs.Bool("once", false, "exit after the first accepted notice")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), agentUsage, notice.DefaultPort)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(stdout, parseOut.String())
			return 0
		}
		io.WriteString(stderr, parseOut.String())
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "portcullis agent: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'portcullis agent --help' for usage.")
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *keyFile == "":
		return usageErr("--key-file is required")
	case *logTo != "syslog" && *logTo != "journal" && *logTo != "stderr":
		return usageErr("--log must be syslog, journal or stderr, not %q", *logTo)
	case *statsEvery < 0:
		return usageErr("--stats-interval must not be negative")
	case *maxSkew <= 0:
		return usageErr("--max-skew must be positive")
	}

	key, err := notice.LoadKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis agent: %v\n", err)
		return 1
	}
	out, dest := openAgentLog(*logTo, stderr)
	defer out.Close()

	// Signals first, so that once we say we are listening, SIGUSR1 is ours.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	v := notice.NewVerifier(key, *maxSkew, 0)
	l, err := notice.Listen(*listen, v)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis agent: %v\n", err)
		return 1
	}
	defer l.Close()
	start := fmt.Sprintf("listening on udp %s, key id %08x, logging to %s", l.Addr(), v.KeyID(), dest)
	fmt.Fprintf(stderr, "portcullis agent: %s\n", start)
	if dest != "stderr" {
		out.Info("started: " + start)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- l.Serve(ctx, func(d notice.Delivery) {
			if d.Err != nil {
				out.Warning(rejectLine(d, l.Stats().Rejected))
				return
			}
			out.Warning(noticeLine(d))
			if *once {
				cancel()
			}
		})
	}()

	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	code := 0
	for running := true; running; {
		select {
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				out.Info(statsLine(l.Stats()))
				continue
			}
			out.Info("stopping on " + s.String())
			cancel()
		case <-tick:
			out.Info(statsLine(l.Stats()))
		case err := <-served:
			if err != nil {
				fmt.Fprintf(stderr, "portcullis agent: %v\n", err)
				code = 1
			}
			running = false
		}
	}
	out.Info(statsLine(l.Stats()))
	return code
}

// noticeLine renders an accepted notice as one log line. Everything that
// came from the wire is quoted or is an address, number or time, so a notice
// cannot inject lines or fields into the log.
func noticeLine(d notice.Delivery) string {
	n := d.Notice
	var b strings.Builder
	b.WriteString("NOTICE ")
	b.WriteString(n.Event.String())
	b.WriteString(" scanner=")
	if len(n.Scanners) == 0 {
		b.WriteString("-")
	}
	for i, a := range n.Scanners {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(addrString(a))
	}
	fmt.Fprintf(&b, " mac=%s kind=%s probes=%d victim=%s until=%s sent=%s from=%s key=%08x msg=%s",
		net.HardwareAddr(n.ScannerMAC[:]), field(n.Kind), n.Probes, addrString(n.Victim),
		timeString(n.BlockExpiry), timeString(n.Time), d.From, n.KeyID, strconv.Quote(n.Message))
	return b.String()
}

func rejectLine(d notice.Delivery, total uint64) string {
	return fmt.Sprintf("REJECTED reason=%s from=%s err=%s rejected_total=%d",
		notice.Reason(d.Err), d.From, strconv.Quote(d.Err.Error()), total)
}

func statsLine(s notice.Stats) string {
	return fmt.Sprintf("STATS accepted=%d rejected=%d malformed=%d wrong_key=%d bad_signature=%d stale=%d replayed=%d",
		s.Accepted, s.Rejected, s.Malformed, s.WrongKey, s.BadMAC, s.Stale, s.Replayed)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// field returns s as is if it is a plain token, else quoted.
func field(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '"' || r == '=' || r == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}

// agentLog is where the agent's lines go. Warning is for notices and
// rejections, Info for counters and lifecycle. Safe for concurrent use.
type agentLog interface {
	Warning(line string)
	Info(line string)
	Close() error
}

// openAgentLog opens the requested destination and returns it with the name
// of what it really is: syslog and journal fall back to stderr, with a note,
// when the host has no syslog socket (/dev/log) or journald.
func openAgentLog(mode string, stderr io.Writer) (agentLog, string) {
	switch mode {
	case "syslog":
		w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_WARNING, "portcullis-agent")
		if err == nil {
			return syslogLog{w}, "syslog"
		}
		fmt.Fprintf(stderr, "portcullis agent: syslog unavailable (%v); logging to stderr\n", err)
	case "journal":
		j, err := dialJournal(journalSocket)
		if err == nil {
			return j, "journal"
		}
		fmt.Fprintf(stderr, "portcullis agent: journal unavailable (%v); logging to stderr\n", err)
	}
	return &stderrLog{w: stderr}, "stderr"
}

type stderrLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *stderrLog) Warning(line string) { s.write(line) }
func (s *stderrLog) Info(line string)    { s.write(line) }
func (s *stderrLog) Close() error        { return nil }
func (s *stderrLog) write(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "%s portcullis-agent: %s\n", time.Now().UTC().Format(time.RFC3339), line)
}

type syslogLog struct{ w *syslog.Writer }

func (s syslogLog) Warning(line string) { s.w.Warning(line) }
func (s syslogLog) Info(line string)    { s.w.Info(line) }
func (s syslogLog) Close() error        { return s.w.Close() }

const journalSocket = "/run/systemd/journal/socket"

// journalLog speaks journald's native protocol: one datagram of KEY=value
// lines per entry (our values never contain a newline).
type journalLog struct{ c net.Conn }

func dialJournal(path string) (journalLog, error) {
	c, err := net.Dial("unixgram", path)
	if err != nil {
		return journalLog{}, err
	}
	return journalLog{c}, nil
}

func (j journalLog) send(priority int, line string) {
	line = strings.ReplaceAll(line, "\n", " ")
	fmt.Fprintf(j.c, "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=portcullis-agent\n", line, priority)
}

func (j journalLog) Warning(line string) { j.send(4, line) }
func (j journalLog) Info(line string)    { j.send(6, line) }
func (j journalLog) Close() error        { return j.c.Close() }
