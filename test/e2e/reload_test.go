package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/event"
)

// This file: issue 12 item 1 as an operator checks it: change the webhook
// URL and SIGHUP; the next event reaches the new URL, and the reload says
// notify.webhook.url was applied.

// hookRecorder is a webhook receiver that checks signatures and records
// event types.
type hookRecorder struct {
	mu    sync.Mutex
	types []string
}

func (h *hookRecorder) handler(t *testing.T, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if got := r.Header.Get(event.SignatureHeader); got != event.Sign([]byte(secret), body) {
			t.Errorf("webhook: bad signature %q", got)
		}
		var e struct{ Type string }
		json.Unmarshal(body, &e)
		h.mu.Lock()
		h.types = append(h.types, e.Type)
		h.mu.Unlock()
	})
}

func (h *hookRecorder) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.types...)
}

func TestReloadWebhook(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	var a, b hookRecorder
	srvA := httptest.NewServer(a.handler(t, secret))
	defer srvA.Close()
	srvB := httptest.NewServer(b.handler(t, secret))
	defer srvB.Close()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(url string) string {
		return fmt.Sprintf("state_dir: %q\napi:\n  token_files: [%q]\nnotify:\n  webhook:\n    url: %q\n    secret: %q\n",
			filepath.Join(dir, "state"), tokens, url, secret)
	}
	path := WriteConfig(t, conf(srvA.URL))
	shareTokenFile(t, tokens)
	c := StartController(t, "--config", path)
	block := func(ip string) {
		t.Helper()
		if _, err := c.API(opToken).AddBlock(t.Context(), api.BlockRequest{IP: netip.MustParseAddr(ip), Duration: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	block("192.0.2.1")
	waitFor(t, 10*time.Second, "a blocked event at the first webhook", func() bool {
		return strings.Contains(strings.Join(a.got(), " "), "blocked")
	})

	if err := os.WriteFile(path, []byte(conf(srvB.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	opSignal(t, c, syscall.SIGHUP)
	var reloaded []api.Event
	waitFor(t, 10*time.Second, "a config_reloaded event", func() bool {
		reloaded = scanEvents(t, c, "config_reloaded")
		return len(reloaded) == 1
	})
	if m := reloaded[0].Message; !strings.Contains(m, "applied: notify.webhook.url") || strings.Contains(m, "restart") {
		t.Errorf("config_reloaded %q: want notify.webhook.url applied, nothing kept until a restart", m)
	}
	beforeA := len(a.got())
	block("192.0.2.2")
	waitFor(t, 10*time.Second, "the reload and the next block at the new webhook", func() bool {
		g := strings.Join(b.got(), " ")
		return strings.Contains(g, "config_reloaded") && strings.Contains(g, "blocked")
	})
	time.Sleep(500 * time.Millisecond)
	if after := a.got()[beforeA:]; len(after) != 0 {
		t.Errorf("the old webhook still got %q after the reload", after)
	}
}
