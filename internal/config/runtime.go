package config

import (
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/forward"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
)

// The translations from the configuration to the configurations of the
// packages that do the work. The controller builds them with these, and
// TestDefaultsAreThePackages checks that Default() translates to each
// package's own defaults: a default is defined once, in the package that
// uses it, and cannot drift here.

// DetectConfig is the detector's configuration: detect.DefaultConfig() with
// the keys of detect and block.noisy_ports applied.
func (c Config) DetectConfig() detect.Config {
	dc := detect.DefaultConfig()
	d := c.Detect
	dc.Alpha, dc.Beta = d.TRW.Alpha, d.TRW.Beta
	dc.Theta0, dc.Theta1 = d.TRW.Theta0, d.TRW.Theta1
	if d.FirstContactTimeout > 0 {
		dc.NoAnswerTimeout = d.FirstContactTimeout
	}
	if d.IdleExpiry > 0 {
		dc.IdleExpiry = d.IdleExpiry
	}
	if d.MaxSources > 0 {
		dc.MaxActors = d.MaxSources
	}
	if d.Stealth.MinPorts > 0 {
		dc.StealthMinProbes = d.Stealth.MinPorts
	}
	if d.Stealth.SignatureProbes > 0 {
		dc.SignatureProbes = d.Stealth.SignatureProbes
	}
	if d.Stealth.OSProbes > 0 {
		dc.OSProbeMin = d.Stealth.OSProbes
	}
	if c.Block.NoisyPorts != nil {
		dc.NoisyPorts = c.Block.NoisyPorts
	}
	return dc
}

// FloodConfig is the SYN-flood detector's configuration.
func (d Detect) FloodConfig() detect.FloodConfig {
	return detect.FloodConfig{SYNRate: float64(d.Flood.SYNRate), Sustain: d.Flood.Sustain}
}

// ForwardConfig is the forwarding pipeline's configuration of every switch.
func (c Config) ForwardConfig() forward.Config {
	return forward.Config{
		IdleTimeout:          uint16(c.Forward.IdleTimeout / time.Second),
		ControllerMeterRate:  c.Meters.PacketInRate,
		ControllerMeterBurst: c.Meters.PacketInBurst,
	}
}

// OpenFlowConfig is the OpenFlow listener's configuration, without its TLS
// (which needs the files read: ofconn.ServerTLSConfig).
func (c Config) OpenFlowConfig() ofconn.Config {
	return ofconn.Config{
		Listen:          c.Listen.OpenFlow,
		EchoInterval:    c.Echo.Interval,
		EchoTimeout:     c.Echo.Timeout,
		Identities:      c.TLS.Identities(),
		RequireIdentity: c.TLS.RequireIdentity,
	}
}

// FirstContact is the per-port first-contact meter (Rate 0: the caller
// installs none; policy would read 0 as its default).
func (m Meters) FirstContact() policy.FirstContactConfig {
	return policy.FirstContactConfig{Rate: m.FirstContactRate, Burst: m.FirstContactBurst}
}

// Budget is the per-port probe budgets.
func (m Meters) Budget() policy.BudgetConfig {
	pb := m.ProbeBudget
	var b policy.BudgetConfig
	for _, c := range []struct {
		class       policy.BudgetClass
		rate, burst uint32
	}{
		{policy.BudgetStray, pb.StrayRate, pb.StrayBurst},
		{policy.BudgetUDP, pb.UDPRate, pb.UDPBurst},
		{policy.BudgetICMP, pb.ICMPRate, pb.ICMPBurst},
		{policy.BudgetOther, pb.OtherRate, pb.OtherBurst},
		{policy.BudgetRefusal, pb.RefusalRate, pb.RefusalBurst},
		{policy.BudgetReset, pb.ResetRate, pb.ResetBurst},
	} {
		b.Rate[c.class], b.Burst[c.class] = c.rate, c.burst
	}
	return b
}

// Reply is the per-port answer meters.
func (m Meters) Reply() policy.ReplyConfig {
	return policy.ReplyConfig{Rate: m.ReplyRate, Burst: m.ReplyBurst}
}
