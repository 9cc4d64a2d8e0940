package event

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)).
const SignatureHeader = "X-Portcullis-Signature"

// Sign returns the SignatureHeader value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of body under secret
// (constant-time); for receivers and tests.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// WebhookConfig configures a Webhook. Zero fields take the defaults shown.
type WebhookConfig struct {
	URL            string
	Secret         []byte
	Timeout        time.Duration // per attempt; 5s
	MaxAttempts    int           // 6
	InitialBackoff time.Duration // 1s, doubled after each failed attempt
	MaxBackoff     time.Duration // 1m
	Client         *http.Client  // http.DefaultClient's transport with Timeout
}

// Webhook is a Sink that POSTs each event as JSON to a URL, signed with
// SignatureHeader, also sending X-Portcullis-Event (the type) and
// X-Portcullis-Delivery (the event ID). Network errors, 429 and 5xx answers
// are retried with exponential backoff; other answers are final. Its queue is
// the Subscription feeding it (see Run): while it retries, new events wait
// there, and when that is full the bus drops and counts them, so the webhook
// never slows detection.
type Webhook struct {
	cfg WebhookConfig

	sent    atomic.Uint64
	failed  atomic.Uint64
	retries atomic.Uint64
}

var _ Sink = (*Webhook)(nil)

// DefaultWebhookTimeout bounds one webhook attempt when WebhookConfig.Timeout is zero.
const DefaultWebhookTimeout = 5 * time.Second

// NewWebhook returns a webhook sink.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Webhook{cfg: cfg}
}

// WebhookStats are a webhook's counters.
type WebhookStats struct {
	Sent    uint64 // events delivered (2xx)
	Failed  uint64 // events given up on
	Retries uint64 // attempts after the first
}

// Stats returns the webhook's counters.
func (w *Webhook) Stats() WebhookStats {
	return WebhookStats{Sent: w.sent.Load(), Failed: w.failed.Load(), Retries: w.retries.Load()}
}

// errPermanent marks an answer that retrying will not fix.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// Write delivers e, retrying as configured; it returns early when ctx is done.
func (w *Webhook) Write(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		w.failed.Add(1)
		return fmt.Errorf("event: webhook encode: %w", err)
	}
	sig := Sign(w.cfg.Secret, body)
	backoff := w.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		err = w.post(ctx, body, sig, &e)
		if err == nil {
			w.sent.Add(1)
			return nil
		}
		var perm errPermanent
		if errors.As(err, &perm) || attempt >= w.cfg.MaxAttempts || ctx.Err() != nil {
			w.failed.Add(1)
			return fmt.Errorf("event: webhook gave up on event %d after %d attempts: %w", e.ID, attempt, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			w.failed.Add(1)
			return fmt.Errorf("event: webhook gave up on event %d: %w", e.ID, ctx.Err())
		case <-t.C:
		}
		w.retries.Add(1)
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
}

func (w *Webhook) post(ctx context.Context, body []byte, sig string, e *Event) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return errPermanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portcullis")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set("X-Portcullis-Event", string(e.Type))
	req.Header.Set("X-Portcullis-Delivery", strconv.FormatUint(e.ID, 10))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return errPermanent{fmt.Errorf("webhook answered %s", resp.Status)}
	}
}

// Close does nothing; it exists to satisfy Sink.
func (w *Webhook) Close() error { return nil }
