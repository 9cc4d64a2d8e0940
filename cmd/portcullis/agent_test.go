package main

import (
	"bufio"
	"encoding/hex"
	"io"
	"log/syslog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/notice"
)

var agentTestKey = []byte("agent-test-key-0123456789abcdef!") // 32 bytes

func writeKeyFile(t *testing.T, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notice.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(agentTestKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAgent starts cmdAgent in-process with a pipe as its stderr and returns
// the stream of its lines, the address it listens on and its exit code
// channel.
func runAgent(t *testing.T, args ...string) (lines <-chan string, addr string, exit <-chan int) {
	lines, addr, exit, _ = runAgentStartup(t, args...)
	return lines, addr, exit
}

// runAgentStartup is runAgent that also returns what the agent wrote before
// it said where it listens.
func runAgentStartup(t *testing.T, args ...string) (lines <-chan string, addr string, exit <-chan int, startup []string) {
	t.Helper()
	pr, pw := io.Pipe()
	ch := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	code := make(chan int, 1)
	go func() {
		c := cmdAgent(args, io.Discard, pw)
		pw.Close()
		code <- c
	}()
	for l := range ch {
		t.Logf("agent: %s", l)
		startup = append(startup, l)
		if _, rest, ok := strings.Cut(l, "listening on udp "); ok {
			addr, _, _ = strings.Cut(rest, ",")
			return ch, addr, code, startup
		}
	}
	t.Fatalf("agent exited (code %d) without listening", <-code)
	return nil, "", nil, nil
}

// nextLine returns the next line containing want, failing if the agent
// exits first.
func nextLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	for l := range lines {
		t.Logf("agent: %s", l)
		if strings.Contains(l, want) {
			return l
		}
	}
	t.Fatalf("agent output ended without a line containing %q", want)
	return ""
}

func sendTo(t *testing.T, addr string, b []byte) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func blockedNotice() notice.Notice {
	return notice.Notice{
		Time:        time.Now(),
		Event:       notice.EventBlocked,
		Scanners:    []netip.Addr{netip.MustParseAddr("10.0.0.66")},
		ScannerMAC:  [6]byte{2, 0, 0, 0, 0, 0x66},
		Kind:        "tcp-syn",
		Probes:      37,
		BlockExpiry: time.Now().Add(10 * time.Minute),
		Victim:      netip.MustParseAddr("10.0.0.2"),
		Message:     "blocked for 10m\nFAKE LINE", // a newline must not split the log line
	}
}

// TestAgentEndToEnd runs the agent on a real loopback UDP socket: a forged
// notice is rejected and counted, a genuine one is logged, and --once makes
// the agent exit with the counters.
func TestAgentEndToEnd(t *testing.T) {
	key := writeKeyFile(t, 0o600)
	lines, addr, exit := runAgent(t, "--key-file", key, "--listen", "127.0.0.1:0", "--log", "stderr", "--once")

	forged := notice.Seal(agentTestKey, blockedNotice())
	forged[len(forged)-5] ^= 0x40
	sendTo(t, addr, forged)
	rej := nextLine(t, lines, "REJECTED")
	for _, want := range []string{"reason=bad_signature", "from=127.0.0.1:", "rejected_total=1"} {
		if !strings.Contains(rej, want) {
			t.Errorf("rejection line %q lacks %q", rej, want)
		}
	}

	sendTo(t, addr, notice.Seal(agentTestKey, blockedNotice()))
	got := nextLine(t, lines, "NOTICE")
	for _, want := range []string{"NOTICE blocked ", "scanner=10.0.0.66 ", "mac=02:00:00:00:00:66 ", "kind=tcp-syn ",
		"probes=37 ", "victim=10.0.0.2 ", `msg="blocked for 10m\nFAKE LINE"`} {
		if !strings.Contains(got, want) {
			t.Errorf("notice line %q lacks %q", got, want)
		}
	}
	stats := nextLine(t, lines, "STATS")
	if !strings.Contains(stats, "accepted=1 rejected=1 ") || !strings.Contains(stats, "bad_signature=1") {
		t.Errorf("final counters %q, want accepted=1 rejected=1 bad_signature=1", stats)
	}
	for l := range lines {
		if strings.Contains(l, "FAKE LINE") && !strings.Contains(l, "NOTICE") {
			t.Errorf("message injected a line of its own: %q", l)
		}
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestAgentStatsOnSIGUSR1 checks that SIGUSR1 logs the counters without
// stopping the agent.
func TestAgentStatsOnSIGUSR1(t *testing.T) {
	key := writeKeyFile(t, 0o600)
	lines, addr, exit := runAgent(t, "--key-file", key, "--listen", "127.0.0.1:0", "--log", "stderr", "--once")
	sendTo(t, addr, []byte("not a notice"))
	nextLine(t, lines, "reason=malformed")
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if l := nextLine(t, lines, "STATS"); !strings.Contains(l, "accepted=0 rejected=1 malformed=1") {
		t.Errorf("counters on SIGUSR1: %q", l)
	}
	sendTo(t, addr, notice.Seal(agentTestKey, blockedNotice())) // still running: --once ends it
	nextLine(t, lines, "NOTICE blocked")
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestAgentUsage(t *testing.T) {
	key := writeKeyFile(t, 0o600)
	open := writeKeyFile(t, 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // substring of stderr
		wantOut  string // substring of stdout
	}{
		{"help", []string{"--help"}, 0, "", "usage: portcullis agent"},
		{"no key file", nil, 2, "--key-file is required", ""},
		{"unknown flag", []string{"--key-file", key, "--bogus"}, 2, "not defined: -bogus", ""},
		{"bad log", []string{"--key-file", key, "--log", "file"}, 2, "--log must be", ""},
		{"extra argument", []string{"--key-file", key, "now"}, 2, `unexpected argument "now"`, ""},
		{"negative interval", []string{"--key-file", key, "--stats-interval", "-1s"}, 2, "must not be negative", ""},
		{"world-readable key", []string{"--key-file", open, "--listen", "127.0.0.1:0"}, 1, "accessible by others", ""},
		{"missing key", []string{"--key-file", key + ".missing"}, 1, "no such file", ""},
		{"bad listen address", []string{"--key-file", key, "--listen", "127.0.0.1:99999", "--log", "stderr"}, 1, "portcullis agent:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := cmdAgent(tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.wantErr) || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestAgentSyslogFallback checks the default --log syslog on a host without
// a syslog socket: a note, then the lines on stderr.
func TestAgentSyslogFallback(t *testing.T) {
	if w, err := syslog.New(syslog.LOG_DAEMON, "portcullis-agent-test"); err == nil {
		w.Close()
		t.Skip("syslog is available here")
	}
	key := writeKeyFile(t, 0o600)
	lines, addr, exit, startup := runAgentStartup(t, "--key-file", key, "--listen", "127.0.0.1:0", "--once")
	if s := strings.Join(startup, "\n"); !strings.Contains(s, "syslog unavailable") || !strings.Contains(s, "logging to stderr") {
		t.Errorf("startup output %q: want a note that syslog is unavailable and lines go to stderr", s)
	}
	sendTo(t, addr, notice.Seal(agentTestKey, blockedNotice()))
	nextLine(t, lines, "NOTICE blocked")
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestAgentStatsInterval checks that --stats-interval logs the counters on
// its own, with nothing received.
func TestAgentStatsInterval(t *testing.T) {
	key := writeKeyFile(t, 0o600)
	lines, addr, exit := runAgent(t, "--key-file", key, "--listen", "127.0.0.1:0", "--log", "stderr", "--once", "--stats-interval", "1ms")
	if l := nextLine(t, lines, "STATS"); !strings.Contains(l, "accepted=0 rejected=0") {
		t.Errorf("periodic counters %q, want accepted=0 rejected=0", l)
	}
	sendTo(t, addr, notice.Seal(agentTestKey, blockedNotice()))
	nextLine(t, lines, "NOTICE blocked")
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestAgentJournalProtocol checks the journald native-protocol datagram
// against a stand-in socket (this host has no journald).
func TestAgentJournalProtocol(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.sock")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Skipf("unixgram: %v", err)
	}
	defer srv.Close()
	j, err := dialJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Warning("NOTICE blocked scanner=10.0.0.66\nINJECTED=1")
	buf := make([]byte, 1024)
	k, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "MESSAGE=NOTICE blocked scanner=10.0.0.66 INJECTED=1\nPRIORITY=4\nSYSLOG_IDENTIFIER=portcullis-agent\n"
	if got := string(buf[:k]); got != want {
		t.Errorf("journal datagram %q, want %q", got, want)
	}
}

func TestAgentJournalFallback(t *testing.T) {
	if _, err := os.Stat(journalSocket); err == nil {
		t.Skip("journald is running here")
	}
	key := writeKeyFile(t, 0o600)
	lines, addr, exit, startup := runAgentStartup(t, "--key-file", key, "--listen", "127.0.0.1:0", "--log", "journal", "--once")
	if s := strings.Join(startup, "\n"); !strings.Contains(s, "journal unavailable") || !strings.Contains(s, "logging to stderr") {
		t.Errorf("startup output %q: want a note that the journal is unavailable", s)
	}
	sendTo(t, addr, notice.Seal(agentTestKey, blockedNotice()))
	nextLine(t, lines, "NOTICE blocked")
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
