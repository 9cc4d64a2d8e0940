package controller

import (
	"fmt"
	"net/http"
	"strings"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/event"
	"portcullis/internal/policy"
)

// Reload applies a new configuration without dropping switches or blocks.
// config.ReloadTable says which keys apply at once (the allowlist,
// never-block list, block durations, scope, history and audit interval, the
// API's tokens, token files, hosts and stream cap) and which need a restart
// (listeners, TLS, the state directory, detection, meters, forwarding,
// notify.notice, echo, block.noisy_ports); the operator sinks (notify.jsonl,
// syslog, webhook, alert_rate) are restarted with their new settings. The
// log and the config_reloaded event name every changed key and which it was.
func (c *Controller) Reload(next config.Config) error {
	if err := next.Validate(); err != nil {
		c.ReloadFailed(err)
		return err
	}
	scope, err := policy.ParseScope(next.Block.Scope)
	if err != nil {
		c.ReloadFailed(err)
		return err
	}
	never, err := policy.ParseAllowlist(next.Block.NeverBlock)
	if err != nil {
		c.ReloadFailed(err)
		return err
	}
	cfgAllow := map[string]api.AllowEntry{}
	for _, spec := range next.Block.Allowlist {
		e, err := policy.ParseAllowEntry(spec)
		if err != nil {
			err = fmt.Errorf("block.allowlist %q: %w", spec, err)
			c.ReloadFailed(err)
			return err
		}
		id := "cfg-" + shortHash(spec)
		cfgAllow[id] = api.AllowEntry{ID: id, CIDR: e.Prefix, Ports: portsOf(e), Comment: "from config"}
	}
	// What changed, and what this reload does with each key
	// (config.ReloadTable is the truth; the code below applies the Live
	// keys).
	c.mu.Lock()
	changes := config.Diff(c.cfg, next)
	for id := range c.allow {
		if strings.HasPrefix(id, "cfg-") {
			delete(c.allow, id)
		}
	}
	for id, e := range cfgAllow {
		c.allow[id] = e
	}
	c.rebuildAllow()
	c.never.Store(never)
	c.scope = scope
	c.durs = next.Block.Durations
	noisy := c.cfg.Block.NoisyPorts
	c.cfg.Block = next.Block
	c.cfg.Block.NoisyPorts = noisy // detection was built with them: a restart applies them
	c.cfg.API.Tokens = next.API.Tokens
	c.cfg.API.OpenReadsOnLoopback = next.API.OpenReadsOnLoopback
	c.cfg.API.TokenFiles = next.API.TokenFiles
	c.cfg.API.AllowedHosts = next.API.AllowedHosts
	c.cfg.API.MaxStreams = next.API.MaxStreams
	// The sinks' settings (not notify.notice: its key is loaded at start).
	c.cfg.Notify.JSONL = next.Notify.JSONL
	c.cfg.Notify.Syslog = next.Notify.Syslog
	c.cfg.Notify.Webhook = next.Notify.Webhook
	c.cfg.Notify.AlertRate = next.Notify.AlertRate
	sinks := c.cfg.Notify
	c.mu.Unlock()
	c.swapAPI()
	// Before the config_reloaded event, so it and every event after it go
	// to the new sinks (events published while the old ones close are lost
	// to the sinks; the API still has them).
	if c.restartSinks(sinks) {
		c.log.Info("reload: event sinks restarted with the new notify settings")
	}

	var applied, restart []string
	for _, ch := range changes {
		if ch.Effect == config.Live {
			applied = append(applied, ch.Key)
		} else {
			restart = append(restart, ch.Key)
		}
		c.log.Info("reload: configuration key changed", "key", ch.Key, "effect", ch.Effect.String())
	}
	msg := "configuration reloaded"
	switch {
	case len(changes) == 0:
		msg += ": nothing changed"
	case len(applied) > 0:
		msg += "; applied: " + strings.Join(applied, ", ")
	}
	if len(restart) > 0 {
		msg += "; kept until a restart: " + strings.Join(restart, ", ")
	}
	c.log.Info(msg)
	c.bus.Publish(event.Event{Type: event.ConfigReloaded, Message: msg})
	return nil
}

// ReloadFailed records a reload that was refused.
func (c *Controller) ReloadFailed(err error) {
	c.bus.Publish(event.Event{Type: event.ConfigReloadFailed, Message: "reload refused, running configuration kept: " + err.Error()})
}

// apiHandler serves the current API handler; swapAPI replaces it on reload.
type apiHandler struct{ c *Controller }

// liveAPI is what c.apiH holds: the handler, and the event-stream limit
// every handler of this controller shares, so a reload keeps the count.
type liveAPI struct {
	http.Handler
	streams *api.StreamLimit
}

func (h apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*h.c.apiH.Load()).ServeHTTP(w, r)
}

func (c *Controller) swapAPI() {
	var streams *api.StreamLimit
	if old := c.apiH.Load(); old != nil {
		if l, ok := (*old).(*liveAPI); ok {
			streams = l.streams
		}
	}
	c.mu.Lock()
	if streams == nil {
		streams = api.NewStreamLimit(c.cfg.API.MaxStreams)
	}
	streams.SetMax(c.cfg.API.MaxStreams)
	opts := api.Options{
		Tokens:              append([]string(nil), c.cfg.API.Tokens...),
		OpenReadsOnLoopback: c.cfg.API.OpenReadsOnLoopback,
		AllowedHosts:        append([]string(nil), c.cfg.API.AllowedHosts...),
		Streams:             streams,
		MetricsHandler:      c.m.handler(),
		Dashboard:           dashboard(),
		Version:             c.version,
		Logger:              c.log,
	}
	c.mu.Unlock()
	var h http.Handler = &liveAPI{Handler: c.m.InstrumentAPI(api.New(c, opts)), streams: streams}
	c.apiH.Store(&h)
}
