package config

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/client"
	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/notice"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
)

// Issue 12, item 2: defaults live in one place. Default(), translated the
// way the controller translates it (runtime.go), gives every package the
// defaults that package itself uses for a zero setting; a literal in
// Default() that differs from its package's fails here.
func TestDefaultsAreThePackages(t *testing.T) {
	c := Default()
	if got, want := c.DetectConfig(), detect.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("DetectConfig() of Default()\n = %+v\nwant detect.DefaultConfig()\n = %+v", got, want)
	}
	if got, want := c.ForwardConfig(), (forward.Config{IdleTimeout: forward.DefaultIdleTimeout,
		ControllerMeterRate: forward.DefaultControllerMeterRate, ControllerMeterBurst: forward.DefaultControllerMeterBurst}); got != want {
		t.Errorf("ForwardConfig() = %+v, want forward's defaults %+v", got, want)
	}
	of := c.OpenFlowConfig()
	if of.Listen != ofconn.DefaultListen || of.EchoInterval != ofconn.DefaultEchoInterval || of.EchoTimeout != ofconn.DefaultEchoTimeout {
		t.Errorf("OpenFlowConfig() = listen %q, echo %v/%v; want ofconn's %q, %v/%v", of.Listen, of.EchoInterval, of.EchoTimeout,
			ofconn.DefaultListen, ofconn.DefaultEchoInterval, ofconn.DefaultEchoTimeout)
	}
	if got := c.Meters.FirstContact(); got.Rate != policy.DefaultFirstContactRate || got.Burst != policy.DefaultFirstContactBurst {
		t.Errorf("Meters.FirstContact() = %+v, want policy's %d, burst %d", got, policy.DefaultFirstContactRate, policy.DefaultFirstContactBurst)
	}
	if got, want := c.Meters.Budget(), policy.DefaultBudgetConfig(); got != want {
		t.Errorf("Meters.Budget() = %+v, want policy.DefaultBudgetConfig() %+v", got, want)
	}
	if got := c.Meters.Reply(); got.Rate != policy.DefaultReplyRate || got.Burst != policy.DefaultReplyBurst {
		t.Errorf("Meters.Reply() = %+v, want policy's %d, burst %d", got, policy.DefaultReplyRate, policy.DefaultReplyBurst)
	}
	if !slices.Equal(c.Block.Durations, policy.DefaultEscalation) {
		t.Errorf("block.durations = %v, want policy.DefaultEscalation %v", c.Block.Durations, policy.DefaultEscalation)
	}
	if s, err := policy.ParseScope(c.Block.Scope); err != nil || s != policy.ScopeNetwork {
		t.Errorf("block.scope %q = %v, %v; want network", c.Block.Scope, s, err)
	}
	if c.Notify.Notice.Port != notice.DefaultPort {
		t.Errorf("notify.notice.port = %d, want notice.DefaultPort %d", c.Notify.Notice.Port, notice.DefaultPort)
	}
	if w, s := c.Notify.Webhook, c.Notify.Syslog; w.Timeout != event.DefaultWebhookTimeout ||
		s.Network != event.DefaultSyslogNetwork || s.AppName != event.DefaultSyslogAppName {
		t.Errorf("notify: webhook timeout %v, syslog %q %q; want event's %v, %q %q", w.Timeout, s.Network, s.AppName,
			event.DefaultWebhookTimeout, event.DefaultSyslogNetwork, event.DefaultSyslogAppName)
	}
	if c.API.Listen != api.DefaultListen || client.DefaultURL != "http://"+c.API.Listen || c.API.MaxStreams != api.DefaultMaxStreams {
		t.Errorf("api.listen %q (client %q), max_streams %d; want api's %q, %d", c.API.Listen, client.DefaultURL, c.API.MaxStreams,
			api.DefaultListen, api.DefaultMaxStreams)
	}
}

// The translations carry every key they read: a configuration with no
// default value arrives whole.
func TestTranslationsCarryTheKeys(t *testing.T) {
	c := Default()
	c.Detect.TRW = TRW{Alpha: 0.02, Beta: 0.98, Theta0: 0.7, Theta1: 0.3}
	c.Detect.FirstContactTimeout = 4 * time.Second
	c.Detect.IdleExpiry = 5 * time.Hour
	c.Detect.MaxSources = 1000
	c.Detect.Stealth = Stealth{MinPorts: 5, SignatureProbes: 6, OSProbes: 7}
	c.Detect.Flood = Flood{SYNRate: 3000, Sustain: 3 * time.Second}
	c.Block.NoisyPorts = []uint16{1900}
	c.Forward.IdleTimeout = 77 * time.Second
	c.Meters.PacketInRate, c.Meters.PacketInBurst = 11, 12
	c.Meters.FirstContactRate, c.Meters.FirstContactBurst = 13, 14
	c.Meters.ReplyRate, c.Meters.ReplyBurst = 15, 16
	c.Meters.ProbeBudget = ProbeBudget{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	c.Listen.OpenFlow = "127.0.0.1:16653"
	c.Echo = Echo{Interval: 2 * time.Second, Timeout: 9 * time.Second}

	want := detect.DefaultConfig()
	want.Alpha, want.Beta, want.Theta0, want.Theta1 = 0.02, 0.98, 0.7, 0.3
	want.NoAnswerTimeout, want.IdleExpiry, want.MaxActors = 4*time.Second, 5*time.Hour, 1000
	want.StealthMinProbes, want.SignatureProbes, want.OSProbeMin = 5, 6, 7
	want.NoisyPorts = []uint16{1900}
	if got := c.DetectConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("DetectConfig() = %+v\nwant %+v", got, want)
	}
	if got := c.Detect.FloodConfig(); got != (detect.FloodConfig{SYNRate: 3000, Sustain: 3 * time.Second}) {
		t.Errorf("FloodConfig() = %+v", got)
	}
	if got := c.ForwardConfig(); got != (forward.Config{IdleTimeout: 77, ControllerMeterRate: 11, ControllerMeterBurst: 12}) {
		t.Errorf("ForwardConfig() = %+v", got)
	}
	if got := c.Meters.FirstContact(); got.Rate != 13 || got.Burst != 14 {
		t.Errorf("FirstContact() = %+v", got)
	}
	if got := c.Meters.Reply(); got.Rate != 15 || got.Burst != 16 {
		t.Errorf("Reply() = %+v", got)
	}
	b := c.Meters.Budget()
	for i, cl := range []policy.BudgetClass{policy.BudgetStray, policy.BudgetUDP, policy.BudgetICMP, policy.BudgetOther, policy.BudgetRefusal, policy.BudgetReset} {
		if b.Rate[cl] != uint32(2*i+1) || b.Burst[cl] != uint32(2*i+2) {
			t.Errorf("Budget() class %v = %d/%d, want %d/%d", cl, b.Rate[cl], b.Burst[cl], 2*i+1, 2*i+2)
		}
	}
	if of := c.OpenFlowConfig(); of.Listen != "127.0.0.1:16653" || of.EchoInterval != 2*time.Second || of.EchoTimeout != 9*time.Second {
		t.Errorf("OpenFlowConfig() = %+v", of)
	}
}
