package controller

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"portcullis/internal/api"
	"portcullis/internal/config"
	"portcullis/internal/event"
	"portcullis/internal/policy"
)

// Reload applies a new configuration without dropping switches or blocks.
// config.ReloadTable says which keys apply at once (the allowlist,
// never-block list, block durations, scope, history, audit interval and
// noisy ports, the API's tokens, token files, hosts and stream cap, the
// notice key and port, forward.idle_timeout for the flows learned from now
// on) and which need a restart (listeners, TLS, the state directory,
// detection, meters, echo); the operator sinks (notify.jsonl, syslog,
// webhook, alert_rate) are restarted with their new settings. The notice
// key file is read again on every reload, so a key rotated in place is
// seen; a key that cannot be read refuses the reload. The log and the
// config_reloaded event name every changed key and which it was.
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
		cfgAllow[id] = api.AllowEntry{ID: id, CIDR: e.Prefix, Ports: e.Ports, Comment: "from config"}
	}
	// The notice key is read before any lock: a file read.
	ns, err := loadNotice(next.Notify.Notice)
	if err != nil {
		err = fmt.Errorf("notify.notice: %w", err)
		c.ReloadFailed(err)
		return err
	}
	// A new events file the controller cannot open (outside what the sandbox leaves writable, or
	// not its account's) refuses the reload: the old sinks keep writing, nothing is lost.
	c.mu.Lock()
	oldJSONL := c.cfg.Notify.JSONL
	c.mu.Unlock()
	if p := next.Notify.JSONL; p != oldJSONL && p != "" && p != "-" {
		j, err := event.OpenJSONLines(p)
		if err != nil {
			err = fmt.Errorf("notify.jsonl: %w", err)
			c.ReloadFailed(err)
			return err
		}
		j.Close()
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
	noisy := !reflect.DeepEqual(c.cfg.Block.NoisyPorts, next.Block.NoisyPorts)
	c.cfg.Block = next.Block
	// A key file rewritten in place changes no key of the configuration.
	if !ns.sameKey(c.notice.Load()) && !hasChange(changes, "notify.notice.key") && !hasChange(changes, "notify.notice.key_file") {
		changes = append(changes, config.Change{Key: "notify.notice.key_file", Effect: config.Live})
	}
	c.notice.Store(ns)
	c.cfg.Notify.Notice = next.Notify.Notice
	// Learned flows from now on; installed ones keep their timeout until
	// they expire (forward.Switch.SetIdleTimeout).
	c.cfg.Forward = next.Forward
	c.fwdIdle = next.ForwardConfig().IdleTimeout
	for _, sw := range c.switches {
		sw.mu.Lock() // lock order: mu before a switch's mu
		sw.fwd.SetIdleTimeout(c.fwdIdle)
		sw.mu.Unlock()
	}
	c.cfg.API.Tokens = next.API.Tokens
	c.cfg.API.OpenReadsOnLoopback = next.API.OpenReadsOnLoopback
	c.cfg.API.TokenFiles = next.API.TokenFiles
	c.cfg.API.AllowedHosts = next.API.AllowedHosts
	c.cfg.API.MaxStreams = next.API.MaxStreams
	// The sinks' settings.
	c.cfg.Notify.JSONL = next.Notify.JSONL
	c.cfg.Notify.Syslog = next.Notify.Syslog
	c.cfg.Notify.Webhook = next.Notify.Webhook
	c.cfg.Notify.AlertRate = next.Notify.AlertRate
	sinks := c.cfg.Notify
	c.mu.Unlock()
	if noisy {
		c.det.SetNoisyPorts(next.Block.NoisyPorts) // the detector's lock is taken alone
	}
	c.swapAPI()
	// Before the config_reloaded event, so it and every event after it go
	// to the new sinks (events published while the old ones close are lost
	// to the sinks; the API still has them).
	if c.restartSinks(sinks) {
		c.log.Info("reload: event sinks restarted with the new notify settings")
	}

	var applied, restart []string
	for _, ch := range changes {
		key := ch.Key
		if note := config.ReloadNotes[ch.Key]; note != "" {
			key += " (" + note + ")"
		}
		if ch.Effect == config.Live {
			applied = append(applied, key)
		} else {
			restart = append(restart, key)
		}
		c.log.Info("reload: configuration key changed", "key", ch.Key, "effect", ch.Effect.String(), "note", config.ReloadNotes[ch.Key])
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

// hasChange reports whether changes names key.
func hasChange(changes []config.Change, key string) bool {
	for _, ch := range changes {
		if ch.Key == key {
			return true
		}
	}
	return false
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
