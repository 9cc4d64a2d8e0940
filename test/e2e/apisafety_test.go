package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/client"
)

// This file: issue 12 item 7, the API safe by default, checked on the real
// binary as an operator would: tokens from a file (none on the command line,
// so none in ps), rotated by SIGHUP; a foreign Host refused; reads open only
// to a loopback client naming a loopback host; a non-loopback listener
// without TLS refused unless allowed, with a warning.

// TestOperatorAPISafety needs no lab: only the controller and its API.
func TestOperatorAPISafety(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens")
	const tok1, tok2 = "file-token-aaaaaaaaaaaaaaaa", "file-token-bbbbbbbbbbbbbbbb"
	if err := os.WriteFile(tokenFile, []byte("# operators\n"+tok1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := WriteConfig(t, fmt.Sprintf("state_dir: %q\napi:\n  token_files: [%q]\n", filepath.Join(dir, "state"), tokenFile))
	shareTokenFile(t, tokenFile)
	c := StartController(t, "--config", cfg)

	t.Run("no token in ps", func(t *testing.T) {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cmdline), tok1) {
			t.Errorf("the token is on the command line: %q", cmdline)
		}
	})

	add := func(tok string) error {
		_, err := c.API(tok).AddBlock(t.Context(), api.BlockRequest{IP: netip.MustParseAddr("192.0.2.99"), Duration: time.Minute})
		return err
	}
	t.Run("token from the file, rotated by SIGHUP", func(t *testing.T) {
		if err := add(tok1); err != nil {
			t.Fatalf("a change with the file's token: %v", err)
		}
		if err := os.WriteFile(tokenFile, []byte(tok2+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		shareTokenFile(t, tokenFile)
		opSignal(t, c, syscall.SIGHUP)
		deadline := time.Now().Add(10 * time.Second)
		for add(tok2) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the new token in the file is not accepted 10s after SIGHUP:\n%s", c.Logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
		var ae *client.Error
		if err := add(tok1); err == nil || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Errorf("the removed token still works after SIGHUP: %v", err)
		}
	})

	get := func(host string, hdr ...string) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", c.APIURL+"/api/v1/blocks", nil)
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := c.APIURL[strings.LastIndex(c.APIURL, ":")+1:]
	t.Run("foreign Host refused", func(t *testing.T) {
		if code := get("rebind.example:" + port); code != http.StatusForbidden {
			t.Errorf("GET with Host rebind.example: %d, want 403", code)
		}
		if code := get("rebind.example:"+port, "Authorization", "Bearer "+tok2); code != http.StatusForbidden {
			t.Errorf("GET with Host rebind.example and a token: %d, want 403", code)
		}
	})
	t.Run("reads open only to loopback by loopback name", func(t *testing.T) {
		if code := get("127.0.0.1:" + port); code != http.StatusOK {
			t.Errorf("GET from loopback, Host 127.0.0.1: %d, want 200", code)
		}
		if code := get("localhost:" + port); code != http.StatusOK {
			t.Errorf("GET from loopback, Host localhost: %d, want 200", code)
		}
		if code := get("127.0.0.1:"+port, "X-Forwarded-For", "203.0.113.5"); code != http.StatusUnauthorized {
			t.Errorf("GET through a local proxy (X-Forwarded-For): %d, want 401", code)
		}
	})

	t.Run("plaintext beyond loopback", func(t *testing.T) {
		run := func(extra ...string) (string, error) {
			args := append([]string{"run", "--listen", "127.0.0.1:0", "--api-listen", "0.0.0.0:" + strconv.Itoa(FreePort(t)),
				"--state-dir", t.TempDir()}, extra...)
			cmd := exec.CommandContext(t.Context(), Binary(t), args...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := run()
		if err == nil || !strings.Contains(out, "api.listen") || !strings.Contains(out, "api.allow_plaintext") {
			t.Errorf("run --api-listen 0.0.0.0 without TLS: %v\n%s\nwant refused, naming api.allow_plaintext", err, out)
		}
		// Allowed explicitly: it starts and warns. Stop it after start-up.
		bin := Binary(t)
		ap := FreePort(t)
		cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--api-listen", "0.0.0.0:"+strconv.Itoa(ap),
			"--state-dir", t.TempDir(), "--api-allow-plaintext")
		var logs syncBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		hc, _ := client.New(fmt.Sprintf("http://127.0.0.1:%d", ap), client.Options{Timeout: time.Second})
		deadline := time.Now().Add(15 * time.Second)
		for hc.Healthz(t.Context()) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("run --api-allow-plaintext did not start:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "without TLS") {
			t.Errorf("no warning about plaintext in the log:\n%s", logs.String())
		}
	})
}

// shareTokenFile gives an api.token_files file to the account the confined
// controller runs as (it re-reads the file on SIGHUP), as the Debian
// package does for its configuration (root:portcullis 0640 there; owned by
// the account here), and makes the directories above it searchable.
func shareTokenFile(t testing.TB, path string) {
	t.Helper()
	shareWithController(t, []string{"--config", path})
}
