package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/notice"
	"portcullis/internal/testenv"
)

// Issue 12 item 1 as an operator rotates the notice key: the victim's agent
// already has the new key, so the confined controller's notice, signed with
// the old one, is rejected; the operator rewrites the key file (in its own
// directory, not the config's: the sandbox must leave it readable) and
// sends SIGHUP; the reload names the key file as applied, and the notice of
// the next block verifies at the victim.
func TestReloadNoticeKey(t *testing.T) {
	RequireLab(t)
	testenv.Tool(t, "nmap", "python3", "ping")
	keyA, keyB := bytes.Repeat([]byte{0x5a}, notice.MinKeySize), bytes.Repeat([]byte{0xc3}, notice.MinKeySize)
	keyFile := filepath.Join(t.TempDir(), "notice.key")
	writeKey := func(k []byte) {
		t.Helper()
		if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey(keyA)
	shareTokenFile(t, keyFile) // the controller's account reads it, as a 0600 file it owns
	agentKey := filepath.Join(t.TempDir(), "agent.key")
	if err := os.WriteFile(agentKey, []byte(hex.EncodeToString(keyB)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := WriteConfig(t, fmt.Sprintf("notify:\n  notice:\n    key_file: %q\n", keyFile))

	e := &scanEnv{t: t, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(e.dir, "services.py"), []byte(scanServices), 0o644); err != nil {
		t.Fatal(err)
	}
	e.C = StartController(t, "--config", path, "--state-dir", filepath.Join(dir, "state"), "--grace", "0", "--api-token", scanToken)
	c := e.C
	// Its output reaches c.Logs() through a pipe: wait for the line.
	waitFor(t, 5*time.Second, "the controller saying it is confined", func() bool { return strings.Contains(c.Logs(), "sandbox: confined") })
	cfg := LabConfig(3)
	cfg.Controllers = []string{c.Target}
	e.L = StartLab(t, cfg)
	for _, h := range e.L.Hosts() {
		e.startServices(h.Index)
	}
	scanWaitSwitchUp(t, c)
	e.WarmUp(t)
	agent := scanStart(t, e.L, scanVictim, 5*time.Minute, Binary(t), "agent", "--key-file", agentKey, "--log", "stderr")
	waitFor(t, 10*time.Second, "the victim's agent listening", func() bool { return strings.Contains(agent.Output(), "listening on udp") })

	victim := e.L.Host(scanVictim).IP.String()
	scan := func(from int) {
		t.Helper()
		before := len(scanBlocks(t, c))
		p := scanStart(t, e.L, from, 30*time.Second, "nmap", "-n", "-sS", "-T4", "--max-retries", "1", "-p", "1-1000", victim)
		deadline := time.Now().Add(30 * time.Second)
		for len(scanBlocks(t, c)) <= before && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		p.Kill()
		if len(scanBlocks(t, c)) <= before {
			t.Fatalf("no block of h%d; nmap:\n%s", from, p.Output())
		}
	}

	// The old key: the agent rejects the notice.
	scan(scanAttacker)
	waitFor(t, 10*time.Second, "the agent rejecting the notice signed with the old key", func() bool {
		return strings.Contains(agent.Output(), "REJECTED reason=wrong_key")
	})
	if strings.Contains(agent.Output(), "NOTICE blocked") {
		t.Fatalf("the agent accepted a notice signed with a key it does not have:\n%s", agent.Output())
	}

	// Rotate in place and SIGHUP; the configuration itself is unchanged.
	writeKey(keyB)
	opSignal(t, c, syscall.SIGHUP)
	waitFor(t, 10*time.Second, "a config_reloaded event", func() bool { return len(scanEvents(t, c, "config_reloaded")) == 1 })
	if m := scanEvents(t, c, "config_reloaded")[0].Message; !strings.Contains(m, "applied: notify.notice.key_file") || strings.Contains(m, "restart") {
		t.Errorf("config_reloaded %q: want notify.notice.key_file applied, nothing kept until a restart", m)
	}

	scan(3)
	waitFor(t, 10*time.Second, "the agent verifying the notice signed with the new key", func() bool {
		return strings.Contains(agent.Output(), "NOTICE blocked")
	})
}
