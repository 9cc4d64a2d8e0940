package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test start the real command in a child process (this test binary, re-executed):
// `portcullis run` installs signal handlers and runs until stopped, which a child does cleanly.
func TestMain(m *testing.M) {
	if os.Getenv("PORTCULLIS_TEST_MAIN") == "1" {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// lockedBuffer is a bytes.Buffer a child's stderr and the test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Issue 12, item 2: every configuration `config check` accepts starts a controller, and every one it
// rejects is refused by `run` with the same message. The configurations are the allowlist entries
// on which the two used to disagree.
func TestConfigCheckAgreesWithRun(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml string
		ok         bool
	}{
		{"ipv6 cidr/len:port (older configs)", "block:\n  allowlist:\n    - \"2001:db8::1/128:53\"\n", true},
		{"bracketed ipv6 with ports", "block:\n  allowlist:\n    - \"[2001:db8::/32]:443\"\n    - \"[2001:db8:1::7]:22,8000-8100\"\n", true},
		{"ipv4 ranges and bare address with port", "block:\n  allowlist:\n    - \"192.0.2.0/24:8000-8100,22\"\n    - \"10.0.0.1:22\"\n  never_block:\n    - \"::ffff:10.0.0.0/104\"\n", true},
		{"host bits set", "block:\n  allowlist:\n    - \"10.0.0.1/8\"\n", false},
		{"ipv4 in brackets", "block:\n  allowlist:\n    - \"[10.0.0.0/8]:22\"\n", false},
		{"backwards range", "block:\n  allowlist:\n    - \"[2001:db8::/32]:100-90\"\n", false},
		{"never_block with ports", "block:\n  never_block:\n    - \"[2001:db8::1]:53\"\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "portcullis.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := cmdConfig([]string{"check", cfg}, &out, &errb)
			if (code == 0) != tc.ok {
				t.Fatalf("config check: exit %d, stdout %q, stderr %q; want ok=%v", code, out.String(), errb.String(), tc.ok)
			}
			cmd := exec.Command(self, "run", "--config", cfg, "--no-sandbox", "--listen", "127.0.0.1:0",
				"--api-listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"), "--grace", "0s")
			cmd.Env = append(os.Environ(), "PORTCULLIS_TEST_MAIN=1")
			var stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if !tc.ok {
				select {
				case err := <-done:
					if cmd.ProcessState.ExitCode() != 1 {
						t.Errorf("run: %v; want exit 1", err)
					}
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("run started with a configuration config check rejects:\n%s", stderr.String())
				}
				for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
					if !strings.Contains(stderr.String(), line) {
						t.Errorf("run's message lacks config check's %q:\n%s", line, stderr.String())
					}
				}
				return
			}
			deadline := time.After(30 * time.Second)
			for !strings.Contains(stderr.String(), "portcullis running") {
				select {
				case err := <-done:
					t.Fatalf("run refused a configuration config check accepts: %v\n%s", err, stderr.String())
				case <-deadline:
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("run did not say it is running:\n%s", stderr.String())
				case <-time.After(50 * time.Millisecond):
				}
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("run did not stop on SIGTERM:\n%s", stderr.String())
			}
		})
	}
}

// Issue 12, item 2: `allow add` reads an entry in the allowlist grammar, as block.allowlist does.
func TestCLIAllowAddGrammar(t *testing.T) {
	f, _ := cliServer(t)
	for _, tc := range []struct{ entry, call string }{
		{"[2001:db8::/32]:443,8000-8002", `AddAllow cidr=2001:db8::/32 ports=443,8000-8002 comment=""`},
		{"2001:db8::1/128:53", `AddAllow cidr=2001:db8::1/128 ports=53 comment=""`},
		{"192.0.2.1:22", `AddAllow cidr=192.0.2.1/32 ports=22 comment=""`},
		{"192.0.2.0/24:22,1024-65535", `AddAllow cidr=192.0.2.0/24 ports=22,1024-65535 comment=""`}, // a range goes whole
	} {
		before := len(f.Calls())
		if code, _, errs := run("allow", "add", tc.entry, "--token", cliToken); code != 0 {
			t.Fatalf("allow add %s: exit %d %q", tc.entry, code, errs)
		}
		if c := f.Calls(); len(c) != before+1 || c[before] != tc.call {
			t.Errorf("allow add %s: calls %q; want %s", tc.entry, c[before:], tc.call)
		}
	}
	if code, _, errs := run("allow", "add", "10.0.0.1/8", "--token", cliToken); code != 2 || !strings.Contains(errs, "has host bits set (did you mean 10.0.0.0/8?)") {
		t.Errorf("allow add 10.0.0.1/8: exit %d, stderr %q", code, errs)
	}
}
