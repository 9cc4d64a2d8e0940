// Package config holds Portcullis's one configuration struct, its defaults,
// its validation and its YAML loader.
//
// Load starts from Default() and applies the file on top: keys that are not
// in the file keep their defaults, lists in the file replace the default
// list. Unknown keys are errors. Every error names the file, the line and the
// dotted key, and says what is allowed:
//
//	config.yaml:12: detect.trw.alpha: must be in (0,1), got 1.5
//
// Durations are Go duration strings ("10m", "1h30m"). Config is a plain
// value: copy it freely; nothing in it is shared.
package config

import (
	"slices"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/internal/notice"
	"portcullis/internal/ofconn"
	"portcullis/internal/policy"
)

// Config is the whole configuration of `portcullis run`.
type Config struct {
	Listen   Listen  `yaml:"listen"`    // OpenFlow listener
	TLS      TLS     `yaml:"tls"`       // TLS for the OpenFlow listener (mutual: switches show certificates)
	API      API     `yaml:"api"`       // REST API, dashboard and /metrics
	Log      Log     `yaml:"log"`       // diagnostics on stderr
	StateDir string  `yaml:"state_dir"` // durable state (blocks, history, allowlist)
	Detect   Detect  `yaml:"detect"`    // scan detection
	Block    Block   `yaml:"block"`     // what a verdict does, and what is never blocked
	Meters   Meters  `yaml:"meters"`    // OpenFlow meter on packet-ins
	Forward  Forward `yaml:"forward"`   // L2 forwarding flows
	Notify   Notify  `yaml:"notify"`    // operator sinks and host notices
	Echo     Echo    `yaml:"echo"`      // OpenFlow echo keepalive
	Store    Store   `yaml:"store"`     // etcd instead of state_dir, shared by a cluster (cluster.go)
	Cluster  Cluster `yaml:"cluster"`   // this instance in a cluster on etcd (cluster.go)
}

// Listen is where switches connect.
type Listen struct {
	OpenFlow string `yaml:"openflow"` // host:port, default ofconn.DefaultListen
}

// TLS configures mutual TLS on the OpenFlow listener. All three files or
// none; the identity keys need TLS (see tls.go).
type TLS struct {
	Cert string `yaml:"cert"` // controller certificate (PEM)
	Key  string `yaml:"key"`  // its private key (PEM)
	CA   string `yaml:"ca"`   // CA that signed the switches' certificates (PEM)

	// SwitchIdentities maps a datapath id ("0000aabbccddeeff" or
	// "00:00:aa:bb:cc:dd:ee:ff") to the identity the certificate of the
	// switch claiming it must carry: its subject CN, a DNS name or a URI.
	SwitchIdentities map[string]string `yaml:"switch_identities"`
	// RequireIdentity refuses switches whose datapath id is not in
	// SwitchIdentities.
	RequireIdentity bool `yaml:"require_identity"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.Cert != "" }

// API configures the REST API listener.
type API struct {
	Listen string `yaml:"listen"` // host:port, default api.DefaultListen (loopback)
	TLS    APITLS `yaml:"tls"`    // HTTPS when set
	// AllowPlaintext lets Listen be a non-loopback address without TLS
	// (behind a TLS proxy or on a private link); the controller warns.
	AllowPlaintext bool     `yaml:"allow_plaintext"`
	Tokens         []string `yaml:"tokens"` // bearer tokens allowed to change things
	// TokenFiles are files of more tokens, one per line (# comments),
	// not readable by others; Load adds their tokens to Tokens (so SIGHUP
	// re-reads them).
	TokenFiles []string `yaml:"token_files"`
	// OpenReadsOnLoopback lets GETs from a loopback peer that name a
	// loopback host (Host: 127.0.0.1, [::1], localhost) go without a token;
	// default true.
	OpenReadsOnLoopback bool `yaml:"open_reads_on_loopback"`
	// AllowedHosts are the names, besides IP addresses and localhost, that
	// requests may carry in their Host header (the API's DNS name);
	// requests for any other name are refused (DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// MaxStreams caps concurrent event streams (GET /api/v1/events/stream);
	// default api.DefaultMaxStreams.
	MaxStreams int `yaml:"max_streams"`
}

// APITLS is the API's server certificate. Both or neither.
type APITLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether the API serves HTTPS.
func (t APITLS) Enabled() bool { return t.Cert != "" }

// Log configures diagnostics.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error; default info
	Format string `yaml:"format"` // text or json; default text
}

// Detect configures scan detection.
type Detect struct {
	TRW                 TRW           `yaml:"trw"`                   // Threshold Random Walk (Jung et al. 2004)
	FirstContactTimeout time.Duration `yaml:"first_contact_timeout"` // unanswered first contact counts as failed after this
	Stealth             Stealth       `yaml:"stealth"`               // single-packet evidence
	MaxSources          int           `yaml:"max_sources"`           // cap of tracked sources (oldest idle evicted)
	IdleExpiry          time.Duration `yaml:"idle_expiry"`           // forget a quiet source after this
	GracePeriod         time.Duration `yaml:"grace_period"`          // no blocking for this long after start-up
	Flood               Flood         `yaml:"flood"`                 // SYN floods, from the switch's per-port SYN counters
}

// Flood configures SYN-flood detection. The switch counts the TCP SYNs
// (without ACK) entering each port; the controller polls the counters every
// second. A port whose rate stays at or above SYNRate for Sustain has the
// station behind it blocked, like a scanner.
type Flood struct {
	SYNRate int           `yaml:"syn_rate"` // SYNs per second from one port that are a flood; 0 turns detection off
	Sustain time.Duration `yaml:"sustain"`  // how long the rate must hold before the station is blocked
}

// TRW holds the Threshold Random Walk parameters: alpha and beta are the
// target false-positive and detection probabilities, theta0 and theta1 the
// probabilities that a first contact by a benign host and by a scanner
// succeeds.
type TRW struct {
	Alpha  float64 `yaml:"alpha"`
	Beta   float64 `yaml:"beta"`
	Theta0 float64 `yaml:"theta0"`
	Theta1 float64 `yaml:"theta1"`
}

// Stealth configures single-packet scan evidence.
type Stealth struct {
	// MinPorts is how many distinct ports must get FIN, ACK or FIN|ACK probes
	// with no conversation before they count as a scan (such packets are
	// also normal after a controller restart). Impossible flag combinations
	// (SYN|FIN, NULL, ...) always decide on the first packet.
	MinPorts int `yaml:"min_ports"`
	// SignatureProbes is how many SYN first contacts shaped like nmap's raw
	// SYN scan (window 1024-4096, only an MSS option) decide at once.
	SignatureProbes int `yaml:"signature_probes"`
	// OSProbes is how many distinct nmap OS-detection probe shapes decide.
	OSProbes int `yaml:"os_probes"`
}

// Block configures what a verdict does and what is never blocked.
type Block struct {
	Durations     []time.Duration `yaml:"durations"`      // block length per offence: 1st, 2nd, ... (last repeats)
	HistoryExpiry time.Duration   `yaml:"history_expiry"` // forget past offences after this
	Scope         string          `yaml:"scope"`          // network (every switch) or ingress (the switch it entered)
	Allowlist     []string        `yaml:"allowlist"`      // CIDR[:port,port...] never counted or blocked
	NeverBlock    []string        `yaml:"never_block"`    // CIDRs never blocked (gateways, DNS servers, ...)
	NoisyPorts    []uint16        `yaml:"noisy_ports"`    // UDP services whose own exchanges never count (detect.Config.NoisyPorts)

	// AuditInterval is how often the controller reads every switch's block
	// flows (one flow-stats request per switch, by cookie) and repairs what
	// differs from the blocks in force: a drop flow deleted by hand comes
	// back, a stale one of ours goes. 0 turns the audit off (installs are
	// still retried until confirmed).
	AuditInterval time.Duration `yaml:"audit_interval"`
}

// Meters configures the OpenFlow meter that bounds packet-ins.
type Meters struct {
	PacketInRate  uint32 `yaml:"packet_in_rate"`  // packets per second to the controller, per switch
	PacketInBurst uint32 `yaml:"packet_in_burst"` // burst size in packets
	// FirstContactRate limits, in the switch, the TCP connection attempts
	// (SYNs no bypass flow covers) each switch port may send per second;
	// FirstContactBurst at once. It keeps a fast scanner's probes from
	// reaching anyone before its block is in place. 0 turns it off.
	FirstContactRate   uint32   `yaml:"first_contact_rate"`
	FirstContactBurst  uint32   `yaml:"first_contact_burst"`
	FirstContactExempt []string `yaml:"first_contact_exempt"` // switch port names never limited (uplinks)
	// ReplyRate limits the copies of answers (SYN-ACK, RST, ICMP replies
	// and errors, ARP replies, neighbour advertisements) each switch port
	// sends the controller per second, through a meter of its own;
	// ReplyBurst at once. Answers a meter drops are unknown to detection,
	// never silence. 0: policy.DefaultReplyRate and DefaultReplyBurst.
	ReplyRate  uint32 `yaml:"reply_rate"`
	ReplyBurst uint32 `yaml:"reply_burst"`
	// ProbeBudget are the other per-port budgets of first contacts (see
	// ProbeBudget); first_contact_exempt ports get none either.
	ProbeBudget ProbeBudget `yaml:"probe_budget"`
}

// ProbeBudget limits, in the switch and per switch port, the probes other
// than TCP SYNs that no bypass flow covers, in packets per second (Rate; 0
// turns the class off) and at once (Burst): ACK-shaped TCP segments outside
// a known conversation (pure ACK, FIN/ACK, URG/ACK: ACK, window and Maimon
// scans), UDP to unicast addresses, ICMP requests, and other IP protocols
// to unicast addresses (docs/pipeline.md "Probe budgets per port").
type ProbeBudget struct {
	StrayRate  uint32 `yaml:"stray_rate"`
	StrayBurst uint32 `yaml:"stray_burst"`
	UDPRate    uint32 `yaml:"udp_rate"`
	UDPBurst   uint32 `yaml:"udp_burst"`
	ICMPRate   uint32 `yaml:"icmp_rate"`
	ICMPBurst  uint32 `yaml:"icmp_burst"`
	OtherRate  uint32 `yaml:"other_rate"`
	OtherBurst uint32 `yaml:"other_burst"`
	// Refusals are the answers, not the probes: ICMP port and protocol
	// unreachable (ICMPv6 port unreachable, unrecognized next header)
	// leaving a port, each a closed port a scanner learns.
	RefusalRate  uint32 `yaml:"refusal_rate"`
	RefusalBurst uint32 `yaml:"refusal_burst"`
	// Resets likewise: TCP RSTs leaving a port outside a bypassed
	// conversation, each a closed port a SYN (or ACK) scanner learns.
	ResetRate  uint32 `yaml:"reset_rate"`
	ResetBurst uint32 `yaml:"reset_burst"`
}

// Forward configures learned forwarding flows.
type Forward struct {
	IdleTimeout time.Duration `yaml:"idle_timeout"` // whole seconds, 1s..65535s
}

// Notify configures the operator sinks and the host notices.
type Notify struct {
	JSONL     string  `yaml:"jsonl"`      // events as JSON lines: a file path (appended) or "-" for stdout; "" off
	Syslog    Syslog  `yaml:"syslog"`     // RFC 5424 syslog; off when address is ""
	Webhook   Webhook `yaml:"webhook"`    // HMAC-signed POSTs; off when url is ""
	Notice    Notice  `yaml:"notice"`     // signed notices to protected hosts; off without a key
	AlertRate int     `yaml:"alert_rate"` // events per minute per sink; 0 = unlimited
}

// Syslog is an RFC 5424 syslog receiver.
type Syslog struct {
	Network string `yaml:"network"`  // udp, tcp, unix or unixgram; default event.DefaultSyslogNetwork
	Address string `yaml:"address"`  // host:port or socket path
	AppName string `yaml:"app_name"` // default event.DefaultSyslogAppName
}

// Enabled reports whether syslog output is configured.
func (s Syslog) Enabled() bool { return s.Address != "" }

// Webhook is an HTTP endpoint receiving events.
type Webhook struct {
	URL     string        `yaml:"url"`
	Secret  string        `yaml:"secret"`  // HMAC-SHA256 key for X-Portcullis-Signature
	Timeout time.Duration `yaml:"timeout"` // per attempt
	Queue   int           `yaml:"queue"`   // events waiting while the hook is slow; more are dropped and counted
}

// Enabled reports whether the webhook is configured.
func (w Webhook) Enabled() bool { return w.URL != "" }

// Notice configures signed scan notices to protected hosts.
type Notice struct {
	KeyFile string `yaml:"key_file"` // file with the key (hex or raw, mode 0600)
	Key     string `yaml:"key"`      // or the key inline, hex, at least 64 digits
	Port    uint16 `yaml:"port"`     // UDP port the host agent listens on
}

// Enabled reports whether notices are configured.
func (n Notice) Enabled() bool { return n.KeyFile != "" || n.Key != "" }

// Echo configures the OpenFlow keepalive.
type Echo struct {
	Interval time.Duration `yaml:"interval"` // echo request after this much silence
	Timeout  time.Duration `yaml:"timeout"`  // drop the switch after this much silence
}

// Default returns the built-in configuration. It validates.
//
// A value that a package of the pipeline also uses when left unset is taken
// from that package (detect.DefaultConfig, policy.Default*, forward.Default*,
// ofconn.Default*, ...), so it is defined once; the translation back
// (DetectConfig, ForwardConfig, ...) gives each package its own defaults,
// which TestDefaultsAreThePackages' checks. The values only the
// configuration knows (grace period, flood, history expiry, audit, ...) are
// defined here.
func Default() Config {
	d := detect.DefaultConfig()
	return Config{
		Listen: Listen{OpenFlow: ofconn.DefaultListen},
		API:    API{Listen: api.DefaultListen, OpenReadsOnLoopback: true, MaxStreams: api.DefaultMaxStreams},
		Log:    Log{Level: "info", Format: "text"},

		StateDir: "/var/lib/portcullis",
		Detect: Detect{
			TRW:                 TRW{Alpha: d.Alpha, Beta: d.Beta, Theta0: d.Theta0, Theta1: d.Theta1},
			FirstContactTimeout: d.NoAnswerTimeout,
			Stealth:             Stealth{MinPorts: d.StealthMinProbes, SignatureProbes: d.SignatureProbes, OSProbes: d.OSProbeMin},
			MaxSources:          d.MaxActors,
			IdleExpiry:          d.IdleExpiry,
			GracePeriod:         10 * time.Second,
			Flood:               Flood{SYNRate: 2000, Sustain: 2 * time.Second},
		},
		Block: Block{
			Durations:     slices.Clone(policy.DefaultEscalation),
			HistoryExpiry: 30 * 24 * time.Hour,
			Scope:         policy.ScopeNetwork.String(),
			NoisyPorts:    d.NoisyPorts,

			AuditInterval: 15 * time.Second,
		},
		Meters: Meters{
			PacketInRate: forward.DefaultControllerMeterRate, PacketInBurst: forward.DefaultControllerMeterBurst,
			FirstContactRate: policy.DefaultFirstContactRate, FirstContactBurst: policy.DefaultFirstContactBurst,
			ReplyRate: policy.DefaultReplyRate, ReplyBurst: policy.DefaultReplyBurst,
			ProbeBudget: ProbeBudget{
				StrayRate: policy.DefaultBudgetStrayRate, StrayBurst: policy.DefaultBudgetStrayBurst,
				UDPRate: policy.DefaultBudgetUDPRate, UDPBurst: policy.DefaultBudgetUDPBurst,
				ICMPRate: policy.DefaultBudgetICMPRate, ICMPBurst: policy.DefaultBudgetICMPBurst,
				OtherRate: policy.DefaultBudgetOtherRate, OtherBurst: policy.DefaultBudgetOtherBurst,
				RefusalRate: policy.DefaultBudgetRefusalRate, RefusalBurst: policy.DefaultBudgetRefusalBurst,
				ResetRate: policy.DefaultBudgetResetRate, ResetBurst: policy.DefaultBudgetResetBurst,
			},
		},
		Forward: Forward{IdleTimeout: forward.DefaultIdleTimeout * time.Second},
		Notify: Notify{
			Syslog:    Syslog{Network: event.DefaultSyslogNetwork, AppName: event.DefaultSyslogAppName},
			Webhook:   Webhook{Timeout: event.DefaultWebhookTimeout, Queue: 256},
			Notice:    Notice{Port: notice.DefaultPort},
			AlertRate: 60,
		},
		Echo:    Echo{Interval: ofconn.DefaultEchoInterval, Timeout: ofconn.DefaultEchoTimeout},
		Store:   defaultStore(),
		Cluster: defaultCluster(),
	}
}
