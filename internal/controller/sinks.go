package controller

import (
	"context"
	"os"
	"reflect"
	"sync"

	"portcullis/internal/config"
	"portcullis/internal/event"
)

// sinkSet is the running generation of operator sinks (notify.jsonl,
// notify.syslog, notify.webhook, notify.alert_rate). Reload replaces it when
// those settings change, so the next event goes where the new file says.
type sinkSet struct {
	ctx context.Context // Run's: sinks end with it
	wg  *sync.WaitGroup // Run's: it waits for every generation

	mu     sync.Mutex         // held while starting or stopping a generation
	cancel context.CancelFunc // Must hold mu. Ends this generation.
	done   sync.WaitGroup     // this generation's goroutines
	notify config.Notify      // Must hold mu. What this generation runs with.
}

// sinkSettings is the part of Notify the sinks are built from (the notice
// key and port are not: Reload swaps them, notice.go).
func sinkSettings(n config.Notify) config.Notify {
	n.Notice = config.Notice{}
	return n
}

// startSinks subscribes the operator sinks configured under notify: JSON
// lines, RFC 5424 syslog and the webhook. Each runs on its own goroutine with
// its own bounded feed, so a slow sink loses events (counted) and never slows
// detection.
func (c *Controller) startSinks(ctx context.Context, wg *sync.WaitGroup) {
	s := &sinkSet{ctx: ctx, wg: wg}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	n := c.cfg.Notify
	c.mu.Unlock()
	s.start(c, n)
	c.sinks.Store(s)
}

// restartSinks starts sinks with n's settings if they differ from the
// running ones, after closing the old ones (each Close flushes what its
// sink holds). It reports whether it did; before Run starts the sinks there
// is nothing to restart (Run reads c.cfg.Notify then).
func (c *Controller) restartSinks(n config.Notify) bool {
	s := c.sinks.Load()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reflect.DeepEqual(sinkSettings(s.notify), sinkSettings(n)) {
		return false
	}
	s.cancel()
	s.done.Wait()
	s.start(c, n)
	return true
}

// start starts a generation of sinks for n. Must hold s.mu.
func (s *sinkSet) start(c *Controller, n config.Notify) {
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel, s.notify = cancel, n
	start := func(name string, sink event.Sink, buf int) {
		sub := c.bus.Sub(name, buf)
		opt := event.RunOptions{OnError: func(err error) { c.log.Warn("event sink failed", "sink", name, "err", err) }}
		if n.AlertRate > 0 {
			opt.Limiter = event.NewLimiter(n.AlertRate, n.AlertRate)
		}
		s.wg.Add(1)
		s.done.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.done.Done()
			defer sub.Close()
			event.Run(ctx, sub.C, sink, opt)
		}()
	}
	switch n.JSONL {
	case "":
	case "-":
		start("jsonl", event.NewJSONLines(os.Stdout), 1024)
	default:
		j, err := event.OpenJSONLines(n.JSONL)
		if err != nil {
			c.log.Error("events file", "err", err)
		} else {
			start("jsonl", j, 1024)
		}
	}
	if n.Syslog.Enabled() {
		sl, err := event.DialSyslog(event.SyslogConfig{Network: n.Syslog.Network, Address: n.Syslog.Address, AppName: n.Syslog.AppName})
		if err != nil {
			c.log.Error("syslog", "err", err)
		} else {
			start("syslog", sl, 1024)
		}
	}
	if n.Webhook.Enabled() {
		start("webhook", event.NewWebhook(event.WebhookConfig{URL: n.Webhook.URL, Secret: []byte(n.Webhook.Secret),
			Timeout: n.Webhook.Timeout}), max(n.Webhook.Queue, 1))
	}
}
