package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"portcullis/internal/config"
	"portcullis/internal/controller"
	"portcullis/internal/sandbox"
)

const runUsage = `usage: portcullis run [flags]

Runs the controller: listens for Open vSwitch bridges (OpenFlow 1.3), keeps
benign traffic forwarding in the switch, detects port scans, host sweeps and
OS fingerprinting, and blocks scanners with drop flows.

Flags override the configuration file (--config).

Flags:
`

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	def := config.Default() // the defaults the help text names
	var (
		cfgPath   = fs.String("config", "", "YAML configuration file")
		listen    = fs.String("listen", "", fmt.Sprintf("OpenFlow listen address (default %q)", def.Listen.OpenFlow))
		apiListen = fs.String("api-listen", "", fmt.Sprintf("REST API and dashboard listen address (default %q)", def.API.Listen))
		tlsCert   = fs.String("tls-cert", "", "controller certificate (PEM): enables TLS on the OpenFlow listener")
		tlsKey    = fs.String("tls-key", "", "controller private key (PEM)")
		tlsCA     = fs.String("tls-ca", "", "CA certificate (PEM) that signed the switches' certificates (mutual TLS)")
		stateDir  = fs.String("state-dir", "", "directory for durable state (default "+def.StateDir+")")
		logFormat = fs.String("log-format", "", "log format: text or json (default "+def.Log.Format+")")
		logLevel  = fs.String("log-level", "", "log level: debug, info, warn or error (default "+def.Log.Level+")")
		grace     = fs.Duration("grace", def.Detect.GracePeriod, "start-up grace period during which no source is blocked")
		scope     = fs.String("block-scope", "", "where blocks apply: network (every switch) or ingress")
		events    = fs.String("events", "", "write events as JSON lines to this file, or - for stdout")
		noticeKey = fs.String("notice-key-file", "", "key file for signed notices to protected hosts")
		requireID = fs.Bool("tls-require-identity", false, "refuse switches whose datapath id has no --tls-identity (or tls.switch_identities entry)")
		runUser   = fs.String("user", "", "account to run as once the sockets are bound, when started as root (default \""+sandbox.DefaultUser+"\" if it exists, else \""+sandbox.FallbackUser+"\")")
		etcdEPs   = fs.String("etcd-endpoints", "", "URL,...: keep state in etcd at these client URLs instead of --state-dir, shared with the other instances of a cluster (store.etcd.endpoints)")
		etcdPfx   = fs.String("etcd-prefix", "", "etcd key prefix the instances of one network share (default \""+config.DefaultPrefix+"\")")
		etcdCert  = fs.String("etcd-cert", "", "client certificate (PEM) to present to etcd, with --etcd-key (store.etcd.cert)")
		etcdKey   = fs.String("etcd-key", "", "its private key (PEM) (store.etcd.key)")
		etcdCA    = fs.String("etcd-ca", "", "CA certificate (PEM) that signed etcd's server certificate (store.etcd.ca)")
		clName    = fs.String("cluster-name", "", "this instance's name in the cluster (default the host name)")
		noSandbox = fs.Bool("no-sandbox", false, "debugging only: keep every privilege the controller was started with (no user switch, capabilities, Landlock or seccomp)")
		plaintext = fs.Bool("api-allow-plaintext", false, "let --api-listen be a non-loopback address without api.tls (api.allow_plaintext)")
		tokens    stringList
		ids       = identityFlag{}
	)
	fs.Var(ids, "tls-identity", "DPID=IDENTITY: the switch claiming datapath id DPID (16 hex digits or colon form) must present a certificate whose CN, DNS name or URI is IDENTITY (repeatable; added to tls.switch_identities)")
	fs.Var(&tokens, "api-token", "bearer token allowed to change state through the API (repeatable; it shows in ps: prefer api.token_files or PORTCULLIS_API_TOKENS, comma-separated)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portcullis run: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	load := func() (config.Config, error) {
		cfg := config.Default()
		if *cfgPath != "" {
			var err error
			if cfg, err = config.Load(*cfgPath); err != nil {
				return cfg, err
			}
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["listen"] {
			cfg.Listen.OpenFlow = *listen
		}
		if set["api-listen"] {
			cfg.API.Listen = *apiListen
		}
		if set["api-allow-plaintext"] {
			cfg.API.AllowPlaintext = *plaintext
		}
		// Each file flag replaces its own key: --tls-ca alone keeps the file's cert and key.
		setIf(set["tls-cert"], &cfg.TLS.Cert, *tlsCert)
		setIf(set["tls-key"], &cfg.TLS.Key, *tlsKey)
		setIf(set["tls-ca"], &cfg.TLS.CA, *tlsCA)
		if len(ids) > 0 {
			merged := maps.Clone(cfg.TLS.SwitchIdentities)
			if merged == nil {
				merged = map[string]string{}
			}
			maps.Copy(merged, ids)
			cfg.TLS.SwitchIdentities = merged
		}
		if set["tls-require-identity"] {
			cfg.TLS.RequireIdentity = *requireID
		}
		if set["state-dir"] {
			cfg.StateDir = *stateDir
		}
		if set["etcd-endpoints"] {
			cfg.Store.Etcd.Endpoints = nil
			for _, u := range strings.Split(*etcdEPs, ",") {
				if u = strings.TrimSpace(u); u != "" {
					cfg.Store.Etcd.Endpoints = append(cfg.Store.Etcd.Endpoints, u)
				}
			}
		}
		if set["etcd-prefix"] {
			cfg.Store.Etcd.Prefix = *etcdPfx
		}
		setIf(set["etcd-cert"], &cfg.Store.Etcd.Cert, *etcdCert)
		setIf(set["etcd-key"], &cfg.Store.Etcd.Key, *etcdKey)
		setIf(set["etcd-ca"], &cfg.Store.Etcd.CA, *etcdCA)
		if set["cluster-name"] {
			cfg.Cluster.Name = *clName
		}
		if set["log-format"] {
			cfg.Log.Format = *logFormat
		}
		if set["log-level"] {
			cfg.Log.Level = *logLevel
		}
		if set["grace"] {
			cfg.Detect.GracePeriod = *grace
		}
		if set["block-scope"] {
			cfg.Block.Scope = *scope
		}
		if set["events"] {
			cfg.Notify.JSONL = *events
		}
		if set["notice-key-file"] {
			cfg.Notify.Notice.KeyFile = *noticeKey
		}
		cfg.API.Tokens = append(cfg.API.Tokens, tokens...)
		if env := os.Getenv("PORTCULLIS_API_TOKENS"); env != "" {
			for _, t := range strings.Split(env, ",") {
				if t = strings.TrimSpace(t); t != "" {
					cfg.API.Tokens = append(cfg.API.Tokens, t)
				}
			}
		}
		return cfg, cfg.Validate()
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "portcullis run: %v\n", err)
		return 1
	}
	logger, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis run: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	raiseFileLimit(logger)
	confine := func() error { return confineRun(logger, cfg, *cfgPath, *runUser, *noSandbox) }
	ctl, err := controller.New(controller.Options{Config: cfg, Logger: logger, Version: version, Confine: confine})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			next, err := load()
			if err != nil {
				logger.Error("reload failed: keeping the running configuration", "err", err)
				ctl.ReloadFailed(err)
				continue
			}
			if err := ctl.Reload(next); err != nil {
				logger.Error("reload failed: keeping the running configuration", "err", err)
				continue
			}
		}
	}()
	if err := ctl.Run(ctx); err != nil {
		logger.Error("stopped", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// confineRun confines the controller once its sockets and files are open
// (controller.Options.Confine): what stays reachable is the configuration's
// directory (read-only, for SIGHUP reloads, so that an editor's
// write-and-rename is seen), the directories of api.token_files and
// notify.notice.key_file (read-only, re-read on reload), the state
// directory and the events file.
func confineRun(logger *slog.Logger, cfg config.Config, cfgPath, runUser string, off bool) error {
	if off {
		logger.Warn("sandbox: off (--no-sandbox): the controller keeps every privilege it was started with")
		return nil
	}
	var pol sandbox.Policy
	pol.User = runUser
	if cfgPath != "" {
		if abs, err := filepath.Abs(cfgPath); err == nil {
			dir := filepath.Dir(abs)
			if dir == "/" || dir == "/etc" {
				dir = abs // not the whole of /etc: the file alone
			}
			pol.ReadOnly = append(pol.ReadOnly, dir)
		}
	}
	// api.token_files are re-read on SIGHUP, like the configuration (their
	// directory, so that a rotation by rename is seen).
	for _, f := range cfg.API.TokenFiles {
		if abs, err := filepath.Abs(f); err == nil {
			if dir := filepath.Dir(abs); dir != "/" && dir != "/etc" {
				abs = dir
			}
			pol.ReadOnly = append(pol.ReadOnly, abs)
		}
	}
	// notify.notice.key_file is re-read on SIGHUP too (a key rotated in
	// place or by rename). A key file moved by a reload to a directory
	// outside these stays unreadable: the reload is refused, the running
	// key kept, until a restart.
	if f := cfg.Notify.Notice.KeyFile; f != "" {
		if abs, err := filepath.Abs(f); err == nil {
			if dir := filepath.Dir(abs); dir != "/" && dir != "/etc" {
				abs = dir
			}
			pol.ReadOnly = append(pol.ReadOnly, abs)
		}
	}
	if cfg.StateDir != "" && !cfg.Store.Etcd.Enabled() { // with etcd, no state file (its TLS files are read in controller.New)
		pol.ReadWrite = append(pol.ReadWrite, cfg.StateDir)
	}
	if j := cfg.Notify.JSONL; j != "" && j != "-" {
		pol.ReadWrite = append(pol.ReadWrite, j)
		pol.Own = append(pol.Own, j) // reopened when a reload restarts the sinks
	}
	if s := cfg.Notify.Syslog; s.Enabled() && strings.HasPrefix(s.Network, "unix") {
		pol.UnixSockets = append(pol.UnixSockets, s.Address)
	}
	rep, err := sandbox.Apply(pol)
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		logger.Warn("sandbox: " + w)
	}
	logger.Info("sandbox: confined: "+rep.String(), "user", rep.User, "uid", rep.UID, "capabilities", capsWord(rep.Caps),
		"no_new_privs", rep.NoNewPrivs, "landlock", rep.Landlock, "seccomp", rep.Seccomp > 0)
	if os.Getenv(sandbox.ProbeEnv) != "" {
		cfgAbs := ""
		if cfgPath != "" {
			cfgAbs, _ = filepath.Abs(cfgPath)
		}
		for _, p := range sandbox.Probes(sandbox.ProbeTargetsFromEnv(cfgAbs)) {
			logger.Info("sandbox probe", "attempt", p.Name, "refused", p.Refused, "err", p.Err)
		}
	}
	return nil
}

// identityFlag collects --tls-identity DPID=IDENTITY; the identity may
// hold commas and spaces, so values are not split.
type identityFlag map[string]string

func (f identityFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, k+"="+f[k])
	}
	return strings.Join(parts, " ")
}

func (f identityFlag) Set(v string) error {
	dpid, id, ok := strings.Cut(v, "=")
	if !ok || dpid == "" || id == "" {
		return fmt.Errorf("want DPID=IDENTITY, like 0000aabbccddeeff=br0.hv1.example, got %q", v)
	}
	f[dpid] = id
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q (debug, info, warn, error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad log format %q (text, json)", format)
}

var _ = time.Second

func capsWord(none bool) string {
	if none {
		return "none"
	}
	return "kept"
}

// setIf sets *dst to v when the flag was given.
func setIf(given bool, dst *string, v string) {
	if given {
		*dst = v
	}
}
