package controller

import (
	"context"
	"os"
	"sync"

	"portcullis/internal/event"
)

// startSinks subscribes the operator sinks configured under notify: JSON
// lines, RFC 5424 syslog and the webhook. Each runs on its own goroutine with
// its own bounded feed, so a slow sink loses events (counted) and never slows
// detection.
func (c *Controller) startSinks(ctx context.Context, wg *sync.WaitGroup) {
	n := c.cfg.Notify
	start := func(name string, sink event.Sink, buf int) {
		sub := c.bus.Sub(name, buf)
		opt := event.RunOptions{OnError: func(err error) { c.log.Warn("event sink failed", "sink", name, "err", err) }}
		if n.AlertRate > 0 {
			opt.Limiter = event.NewLimiter(n.AlertRate, n.AlertRate)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		s, err := event.DialSyslog(event.SyslogConfig{Network: n.Syslog.Network, Address: n.Syslog.Address, AppName: n.Syslog.AppName})
		if err != nil {
			c.log.Error("syslog", "err", err)
		} else {
			start("syslog", s, 1024)
		}
	}
	if n.Webhook.Enabled() {
		start("webhook", event.NewWebhook(event.WebhookConfig{URL: n.Webhook.URL, Secret: []byte(n.Webhook.Secret),
			Timeout: n.Webhook.Timeout}), max(n.Webhook.Queue, 1))
	}
}
