package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors returned when the machine cannot run a lab.
var (
	ErrNotRoot    = errors.New("lab: must run as root (network namespaces and Open vSwitch need it)")
	ErrOVSMissing = errors.New("lab: Open vSwitch not found: install openvswitch-switch: apt-get install openvswitch-switch")
	ErrNotRunning = errors.New("lab: not running")
)

// Defaults used by Config fields left zero.
const (
	DefaultName    = "lab"
	DefaultBridge  = "br0"
	DefaultBridge2 = "br1"
	// PatchPort is the OpenFlow port number of the patch port that joins the two bridges of a
	// split lab, on each of them.
	PatchPort         uint32 = 300
	DefaultHosts             = 3
	DefaultRunDirBase        = "/run/portcullis-lab"
	DefaultMaxBackoff        = time.Second
	MaxHosts                 = 250
)

// Fail modes of the bridge (OVS Bridge fail_mode).
const (
	FailSecure     = "secure"     // no controller: no forwarding
	FailStandalone = "standalone" // no controller: OVS acts as a learning switch
)

// Config describes a lab. The zero value is a 3-host lab named "lab" with no
// controller and fail_mode=secure.
type Config struct {
	Name   string // lab name: [a-z0-9][a-z0-9-]*, at most 32 characters
	RunDir string // default /run/portcullis-lab/NAME
	Bridge string // default br0 (lives in the lab's switch namespace)
	Hosts  int    // number of hosts, 1..250; default 3

	// Controllers are OVS controller targets as the host sees them:
	// "tcp:127.0.0.1:6653", "ssl:10.1.2.3:6653". Empty: no controller.
	Controllers []string
	// FailMode is FailSecure (default) or FailStandalone.
	FailMode string
	// MaxBackoff is the controller reconnect backoff cap (default 1 s).
	MaxBackoff time.Duration
	// InactivityProbe is the controller inactivity probe; 0 keeps OVS's
	// default (5 s).
	InactivityProbe time.Duration
	// SSL, when set, is the switch's key, certificate and the CA that signs
	// controller certificates, for ssl: targets.
	SSL *SSL
	// DatapathID, when set, fixes the bridge's datapath id (16 hex digits).
	DatapathID string
	// Split, when set, makes a lab of two switches: hosts 1..Split on Bridge, the others on
	// Bridge2, a second bridge in the same Open vSwitch (its own datapath id, the same
	// controllers), the two joined by a patch port pair (PatchPort on each). 0: one bridge.
	Split int
	// Bridge2 is the second bridge of a split lab (default br1).
	Bridge2 string
}

// SSL holds the PEM files the switch uses for ssl: controller targets.
type SSL struct {
	Key, Cert, CA string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.RunDir == "" {
		c.RunDir = filepath.Join(DefaultRunDirBase, c.Name)
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Bridge2 == "" {
		c.Bridge2 = DefaultBridge2
	}
	if c.Hosts == 0 {
		c.Hosts = DefaultHosts
	}
	if c.FailMode == "" {
		c.FailMode = FailSecure
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	return c
}

// Validate reports the first problem with c (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("lab: bad name %q: want [a-z0-9][a-z0-9-]*, at most 32 characters", c.Name)
	}
	if !filepath.IsAbs(c.RunDir) || filepath.Clean(c.RunDir) == "/" {
		return fmt.Errorf("lab: run dir %q must be an absolute path other than /", c.RunDir)
	}
	if !nameRE.MatchString(c.Bridge) || len(c.Bridge) > 15 {
		return fmt.Errorf("lab: bad bridge name %q", c.Bridge)
	}
	if c.Hosts < 1 || c.Hosts > MaxHosts {
		return fmt.Errorf("lab: hosts %d out of range 1..%d", c.Hosts, MaxHosts)
	}
	if c.Split < 0 || c.Split >= c.Hosts && c.Split != 0 {
		return fmt.Errorf("lab: split %d: want 1..%d hosts on the first bridge (0: one bridge)", c.Split, c.Hosts-1)
	}
	if c.Split > 0 && (!nameRE.MatchString(c.Bridge2) || len(c.Bridge2) > 12 || c.Bridge2 == c.Bridge) {
		return fmt.Errorf("lab: bad second bridge name %q", c.Bridge2)
	}
	if c.FailMode != FailSecure && c.FailMode != FailStandalone {
		return fmt.Errorf("lab: fail mode %q: want %s or %s", c.FailMode, FailSecure, FailStandalone)
	}
	for _, t := range c.Controllers {
		if _, _, err := parseTarget(t); err != nil {
			return err
		}
	}
	return nil
}

// SwitchNetns is the name of the namespace holding the lab's switch.
func (c Config) SwitchNetns() string { return "pc-" + c.withDefaults().Name + "-sw" }

// HostNetns is the name of host i's namespace (1-based).
func (c Config) HostNetns(i int) string {
	return fmt.Sprintf("pc-%s-h%d", c.withDefaults().Name, i)
}

// Host is one host of a lab.
type Host struct {
	Index  int              // 1-based
	Name   string           // "h1"; also the switch-side interface (port) name
	Netns  string           // "pc-NAME-h1"
	Iface  string           // the host's interface: "eth0"
	IP     netip.Addr       // 10.0.0.i
	IPv6   netip.Addr       // fd00::i
	MAC    net.HardwareAddr // 02:00:00:00:00:i (i in hex)
	Port   uint32           // OpenFlow port number on the bridge (= i)
	Prefix netip.Prefix     // 10.0.0.0/24
	Bridge string           // the bridge the host is attached to (Config.Bridge or, in a split lab, Bridge2)
}

func hostFor(c Config, i int, port uint32) Host {
	var v6 [16]byte
	v6[0], v6[1] = 0xfd, 0x00
	v6[14], v6[15] = byte(i>>8), byte(i)
	return Host{
		Index:  i,
		Name:   fmt.Sprintf("h%d", i),
		Netns:  c.HostNetns(i),
		Iface:  "eth0",
		IP:     netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}),
		IPv6:   netip.AddrFrom16(v6),
		MAC:    net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)},
		Port:   port,
		Prefix: netip.MustParsePrefix("10.0.0.0/24"),
		Bridge: c.bridgeOf(i),
	}
}

// bridgeOf is the bridge host i is attached to.
func (c Config) bridgeOf(i int) string {
	if c.Split > 0 && i > c.Split {
		return c.Bridge2
	}
	return c.Bridge
}

// bridges are the lab's bridges, the first one first.
func (c Config) bridges() []string {
	if c.Split > 0 {
		return []string{c.Bridge, c.Bridge2}
	}
	return []string{c.Bridge}
}

// patchName is the patch port of bridge br.
func patchName(br string) string { return br + "-patch" }

// Lab is a running lab. Obtain one with Up or Open.
type Lab struct {
	cfg Config

	mu    sync.Mutex
	hosts []Host // index i-1
}

// Config returns the lab's configuration (defaults filled in).
func (l *Lab) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cfg
	c.Controllers = slices.Clone(c.Controllers)
	return c
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.cfg.Name }

// RunDir returns the lab's run directory.
func (l *Lab) RunDir() string { return l.cfg.RunDir }

// Bridge returns the bridge name.
func (l *Lab) Bridge() string { return l.cfg.Bridge }

// Bridges returns the lab's bridges: one, or two in a split lab (Config.Split).
func (l *Lab) Bridges() []string { return l.cfg.bridges() }

// DatapathID returns the datapath id of bridge br.
func (l *Lab) DatapathID(br string) (uint64, error) {
	out, err := l.Vsctl("get", "Bridge", br, "datapath_id")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.Trim(strings.TrimSpace(out), `"`), 16, 64)
}

// Hosts returns all hosts, in order.
func (l *Lab) Hosts() []Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hosts)
}

// Host returns host i (1-based). It panics if i is out of range.
func (l *Lab) Host(i int) Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 1 || i > len(l.hosts) {
		panic(fmt.Sprintf("lab: host %d out of range 1..%d", i, len(l.hosts)))
	}
	return l.hosts[i-1]
}

func (l *Lab) path(name string) string { return filepath.Join(l.cfg.RunDir, name) }

func (l *Lab) dbSock() string { return l.path("db.sock") }

// MgmtSocket is the bridge's OpenFlow management socket (for ovs-ofctl).
func (l *Lab) MgmtSocket() string { return l.path(l.cfg.Bridge + ".mgmt") }

func (l *Lab) env() []string {
	return append(os.Environ(),
		"OVS_RUNDIR="+l.cfg.RunDir, "OVS_DBDIR="+l.cfg.RunDir, "OVS_LOGDIR="+l.cfg.RunDir)
}

// CheckHost reports whether this machine can run a lab: root, and the Open
// vSwitch, iproute2 and ethtool binaries.
func CheckHost() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	for _, b := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w (%s not in PATH)", ErrOVSMissing, b)
		}
	}
	if _, err := os.Stat(schemaPath); err != nil {
		return fmt.Errorf("%w (%s missing)", ErrOVSMissing, schemaPath)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("lab: ip not found: install iproute2: apt-get install iproute2")
	}
	if _, err := exec.LookPath("ethtool"); err != nil {
		return errors.New("lab: ethtool not found: install ethtool: apt-get install ethtool")
	}
	return nil
}

const schemaPath = "/usr/share/openvswitch/vswitch.ovsschema"

// run runs a command and returns its stdout; on failure the error carries
// the command line and its stderr.
func run(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("lab: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Up creates the lab described by cfg, or adjusts an existing healthy one to
// match it (hosts added or removed, bridge settings and controllers
// re-applied). A broken lab of the same name (say, after a crash) is torn down
// and rebuilt.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg}
	if !l.healthy(ctx) {
		if err := Down(ctx, cfg); err != nil {
			return nil, err
		}
		if err := l.startSwitch(ctx); err != nil {
			return nil, errors.Join(err, Down(context.WithoutCancel(ctx), cfg))
		}
	}
	if err := l.configure(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Open attaches to a running lab without changing it.
func Open(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg}
	if !l.healthy(ctx) {
		return nil, fmt.Errorf("%w: %s (run dir %s)", ErrNotRunning, cfg.Name, cfg.RunDir)
	}
	n := 0
	for _, ns := range labNamespaces(cfg.Name) {
		if i, ok := hostIndex(cfg.Name, ns); ok && i > n {
			n = i
		}
	}
	for i := 1; i <= n; i++ {
		port, _ := l.ofport(ctx, fmt.Sprintf("h%d", i))
		h := hostFor(cfg, i, port)
		if br, err := l.vsctl(ctx, "port-to-br", h.Name); err == nil {
			h.Bridge = strings.TrimSpace(br)
			if h.Bridge != cfg.Bridge {
				l.cfg.Split, l.cfg.Bridge2 = max(l.cfg.Split, i-1), h.Bridge
			}
		}
		l.hosts = append(l.hosts, h)
	}
	if l.cfg.Split > 0 {
		l.cfg.Split = 0
		for _, h := range l.hosts {
			if h.Bridge == cfg.Bridge {
				l.cfg.Split = max(l.cfg.Split, h.Index)
			}
		}
	}
	return l, nil
}

// healthy reports whether both daemons of this lab run and answer.
func (l *Lab) healthy(ctx context.Context) bool {
	for _, d := range []string{"ovsdb-server", "ovs-vswitchd"} {
		if pid := readPid(l.path(d + ".pid")); pid == 0 || !ours(pid, l.cfg.RunDir) {
			return false
		}
	}
	if !nsExists(l.cfg.SwitchNetns()) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := run(ctx, l.env(), "ovs-vsctl", "--db=unix:"+l.dbSock(), "--timeout=3", "show")
	return err == nil
}

// startSwitch creates the switch namespace, the database and both daemons.
func (l *Lab) startSwitch(ctx context.Context) error {
	if err := os.MkdirAll(l.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	sw := l.cfg.SwitchNetns()
	if err := addNetns(ctx, sw); err != nil {
		return err
	}
	env := l.env()
	os.Remove(l.path("conf.db"))
	if _, err := run(ctx, env, "ovsdb-tool", "create", l.path("conf.db"), schemaPath); err != nil {
		return err
	}
	common := func(d string) []string {
		return []string{"--pidfile=" + l.path(d+".pid"), "--unixctl=" + l.path(d+".ctl"),
			"--log-file=" + l.path(d+".log"), "--detach", "-vconsole:off"}
	}
	args := append([]string{"ip", "netns", "exec", sw, "ovsdb-server", l.path("conf.db"),
		"--remote=punix:" + l.dbSock()}, common("ovsdb-server")...)
	if _, err := run(ctx, env, args...); err != nil {
		return err
	}
	if _, err := run(ctx, env, "ovs-vsctl", "--db=unix:"+l.dbSock(), "--no-wait", "--timeout=10", "init"); err != nil {
		return err
	}
	args = append([]string{"ip", "netns", "exec", sw, "ovs-vswitchd", "unix:" + l.dbSock()}, common("ovs-vswitchd")...)
	if _, err := run(ctx, env, args...); err != nil {
		return err
	}
	return nil
}

// configure applies bridge settings, hosts and controllers.
func (l *Lab) configure(ctx context.Context) error {
	c := l.cfg
	for i, br := range c.bridges() {
		args := []string{"--may-exist", "add-br", br, "--", "set", "Bridge", br,
			"datapath_type=netdev", "protocols=OpenFlow13", "fail_mode=" + c.FailMode,
			"other-config:disable-in-band=true"}
		if c.DatapathID != "" && i == 0 {
			args = append(args, "other-config:datapath-id="+c.DatapathID)
		}
		if _, err := l.vsctl(ctx, args...); err != nil {
			return err
		}
	}
	if err := l.patch(ctx); err != nil {
		return err
	}
	if c.SSL != nil {
		if _, err := l.vsctl(ctx, "set-ssl", c.SSL.Key, c.SSL.Cert, c.SSL.CA); err != nil {
			return err
		}
	}
	// Hosts beyond the wanted count (an earlier, bigger lab) go away.
	for _, ns := range labNamespaces(c.Name) {
		if i, ok := hostIndex(c.Name, ns); ok && i > c.Hosts {
			if err := l.removeHost(ctx, i); err != nil {
				return err
			}
		}
	}
	hosts := make([]Host, 0, c.Hosts)
	for i := 1; i <= c.Hosts; i++ {
		h, err := l.ensureHost(ctx, i)
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
	}
	l.mu.Lock()
	l.hosts = hosts
	l.mu.Unlock()
	return l.setController(ctx, c.Controllers)
}

// ensureHost makes host i exist and be attached; an intact host is left alone.
func (l *Lab) ensureHost(ctx context.Context, i int) (Host, error) {
	h := hostFor(l.cfg, i, 0)
	sw := l.cfg.SwitchNetns()
	if nsExists(h.Netns) {
		if _, err := run(ctx, nil, "ip", "-n", sw, "link", "show", h.Name); err == nil {
			if port, err := l.ofport(ctx, h.Name); err == nil && port > 0 {
				h.Port = port
				return h, nil
			}
		}
		if err := l.removeHost(ctx, i); err != nil {
			return h, err
		}
	}
	if err := addNetns(ctx, h.Netns); err != nil {
		return h, err
	}
	steps := [][]string{
		{"ip", "-n", sw, "link", "add", h.Name, "type", "veth", "peer", "name", h.Iface, "netns", h.Netns},
		{"ip", "-n", h.Netns, "link", "set", h.Iface, "address", h.MAC.String()},
		{"ip", "-n", h.Netns, "addr", "add", h.IP.String() + "/24", "dev", h.Iface},
		{"ip", "-n", h.Netns, "addr", "add", h.IPv6.String() + "/64", "dev", h.Iface, "nodad"},
		{"ip", "-n", h.Netns, "link", "set", h.Iface, "up"},
		{"ip", "-n", sw, "link", "set", h.Name, "up"},
		// The userspace datapath does not fill in checksums that the
		// kernel left to the NIC: without this TCP fails.
		{"ip", "netns", "exec", h.Netns, "ethtool", "-K", h.Iface, "tx", "off"},
		{"ip", "netns", "exec", sw, "ethtool", "-K", h.Name, "tx", "off"},
	}
	for _, s := range steps {
		if _, err := run(ctx, nil, s...); err != nil {
			return h, err
		}
	}
	if _, err := l.vsctl(ctx, "--may-exist", "add-port", h.Bridge, h.Name,
		"--", "set", "Interface", h.Name, fmt.Sprintf("ofport_request=%d", i)); err != nil {
		return h, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		port, err := l.ofport(ctx, h.Name)
		if err == nil && port > 0 {
			h.Port = port
			return h, nil
		}
		if time.Now().After(deadline) {
			return h, fmt.Errorf("lab: port %s got no OpenFlow port number (see %s)", h.Name, l.path("ovs-vswitchd.log"))
		}
		select {
		case <-ctx.Done():
			return h, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *Lab) removeHost(ctx context.Context, i int) error {
	name := fmt.Sprintf("h%d", i)
	if _, err := l.vsctl(ctx, "--if-exists", "del-port", name); err != nil {
		return err
	}
	run(ctx, nil, "ip", "-n", l.cfg.SwitchNetns(), "link", "del", name) // gone with the peer's namespace anyway
	killInNetns(l.cfg.HostNetns(i))
	return delNetns(ctx, l.cfg.HostNetns(i))
}

// patch joins the two bridges of a split lab with a patch port pair, or
// removes the second bridge of an earlier split lab.
func (l *Lab) patch(ctx context.Context) error {
	c := l.cfg
	if c.Split == 0 {
		_, err := l.vsctl(ctx, "--if-exists", "del-port", patchName(c.Bridge), "--", "--if-exists", "del-br", c.Bridge2)
		return err
	}
	a, b := c.Bridge, c.Bridge2
	_, err := l.vsctl(ctx,
		"--may-exist", "add-port", a, patchName(a), "--", "set", "Interface", patchName(a), "type=patch",
		"options:peer="+patchName(b), fmt.Sprintf("ofport_request=%d", PatchPort), "--",
		"--may-exist", "add-port", b, patchName(b), "--", "set", "Interface", patchName(b), "type=patch",
		"options:peer="+patchName(a), fmt.Sprintf("ofport_request=%d", PatchPort))
	return err
}

// ofport returns the OpenFlow port number of interface name (0 or -1 while
// OVS has not attached it yet).
func (l *Lab) ofport(ctx context.Context, name string) (uint32, error) {
	out, err := l.vsctl(ctx, "get", "Interface", name, "ofport")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("lab: interface %s has ofport %q", name, strings.TrimSpace(out))
	}
	return uint32(n), nil
}

func (l *Lab) vsctl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, l.env(), append([]string{"ovs-vsctl", "--db=unix:" + l.dbSock(), "--timeout=10"}, args...)...)
}

// Vsctl runs ovs-vsctl against the lab's database and returns its stdout.
func (l *Lab) Vsctl(args ...string) (string, error) {
	return l.vsctl(context.Background(), args...)
}

// Ofctl runs `ovs-ofctl -O OpenFlow13 COMMAND unix:MGMT ARGS...` against the
// lab's bridge: args is COMMAND and its arguments (options before COMMAND are
// kept in front), e.g. Ofctl("add-flow", "priority=0,actions=NORMAL").
func (l *Lab) Ofctl(args ...string) (string, error) {
	return l.OfctlOn(l.cfg.Bridge, args...)
}

// OfctlOn is Ofctl against bridge br (in a split lab, either bridge).
func (l *Lab) OfctlOn(br string, args ...string) (string, error) {
	argv := []string{"ovs-ofctl", "-O", "OpenFlow13"}
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++
	}
	if i == len(args) {
		return "", errors.New("lab: ofctl: no command")
	}
	argv = append(argv, args[:i+1]...)
	argv = append(argv, "unix:"+l.path(br+".mgmt"))
	argv = append(argv, args[i+1:]...)
	return run(context.Background(), l.env(), argv...)
}

// DumpFlows returns the bridge's flows, one per line, without statistics
// (durations, packet and byte counts), in ovs-ofctl's text form.
func (l *Lab) DumpFlows() ([]string, error) {
	return l.DumpFlowsOn(l.cfg.Bridge)
}

// DumpFlowsOn is DumpFlows of bridge br.
func (l *Lab) DumpFlowsOn(br string) ([]string, error) {
	out, err := l.OfctlOn(br, "--no-stats", "dump-flows")
	if err != nil {
		return nil, err
	}
	var flows []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "OFPST_") {
			continue
		}
		flows = append(flows, line)
	}
	return flows, nil
}

// SetFailMode sets the bridge's fail_mode (FailSecure or FailStandalone).
func (l *Lab) SetFailMode(mode string) error {
	if mode != FailSecure && mode != FailStandalone {
		return fmt.Errorf("lab: fail mode %q: want %s or %s", mode, FailSecure, FailStandalone)
	}
	for _, br := range l.cfg.bridges() {
		if _, err := l.Vsctl("set", "Bridge", br, "fail_mode="+mode); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.cfg.FailMode = mode
	l.mu.Unlock()
	return nil
}

// SetController points the bridge at targets (as the host sees them, e.g.
// "tcp:127.0.0.1:6653"); no targets removes the controllers.
func (l *Lab) SetController(targets ...string) error {
	for _, t := range targets {
		if _, _, err := parseTarget(t); err != nil {
			return err
		}
	}
	return l.setController(context.Background(), targets)
}

// Exec returns a command that runs argv inside host's namespace. host is a
// host name ("h1"), its index ("1") or its namespace ("pc-NAME-h1"); "sw"
// names the switch namespace.
func (l *Lab) Exec(ctx context.Context, host string, argv ...string) *exec.Cmd {
	ns := l.resolveNetns(host)
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}

func (l *Lab) resolveNetns(host string) string {
	if host == "sw" {
		return l.cfg.SwitchNetns()
	}
	if n, err := strconv.Atoi(host); err == nil {
		return l.cfg.HostNetns(n)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(host, "h")); err == nil && strings.HasPrefix(host, "h") {
		return l.cfg.HostNetns(n)
	}
	return host
}

// Daemon is one process of the lab.
type Daemon struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Alive bool   `json:"alive"`
}

// ControllerStatus is one controller target of the bridge.
type ControllerStatus struct {
	Target    string `json:"target"` // as configured (host's view)
	Via       string `json:"via"`    // what OVS connects to (through the relay)
	Connected bool   `json:"connected"`
	Role      string `json:"role,omitempty"`
}

// HostStatus is one host as `portcullis lab status` shows it.
type HostStatus struct {
	Name  string `json:"name"`
	Netns string `json:"netns"`
	IP    string `json:"ip"`
	IPv6  string `json:"ipv6"`
	MAC   string `json:"mac"`
	Port  uint32 `json:"port"`
	// Bridge is the host's switch (in a split lab, one of two).
	Bridge string `json:"bridge,omitempty"`
}

// Status is a snapshot of a lab.
type Status struct {
	Name        string             `json:"name"`
	RunDir      string             `json:"run_dir"`
	Bridge      string             `json:"bridge"`
	Netns       string             `json:"switch_netns"`
	FailMode    string             `json:"fail_mode"`
	DatapathID  string             `json:"datapath_id"`
	Daemons     []Daemon           `json:"daemons"`
	Controllers []ControllerStatus `json:"controllers"`
	Hosts       []HostStatus       `json:"hosts"`
}

// Status reads the lab's current state from its daemons.
func (l *Lab) Status() (Status, error) {
	ctx := context.Background()
	s := Status{Name: l.cfg.Name, RunDir: l.cfg.RunDir, Bridge: l.cfg.Bridge, Netns: l.cfg.SwitchNetns()}
	for _, d := range []string{"ovsdb-server", "ovs-vswitchd", "relay"} {
		pid := readPid(l.path(d + ".pid"))
		if pid == 0 {
			continue
		}
		s.Daemons = append(s.Daemons, Daemon{Name: d, PID: pid, Alive: ours(pid, l.cfg.RunDir)})
	}
	out, err := l.vsctl(ctx, "get", "Bridge", l.cfg.Bridge, "fail_mode")
	if err != nil {
		return s, err
	}
	s.FailMode = strings.Trim(strings.TrimSpace(out), `"`)
	if out, err := l.vsctl(ctx, "get", "Bridge", l.cfg.Bridge, "datapath_id"); err == nil {
		s.DatapathID = strings.Trim(strings.TrimSpace(out), `"`)
	}
	out, err = l.vsctl(ctx, "--format=csv", "--data=bare", "--no-headings",
		"--columns=target,is_connected,role,external_ids", "list", "Controller")
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 4 {
			continue
		}
		cs := ControllerStatus{Via: f[0], Target: f[0], Connected: f[1] == "true", Role: f[2]}
		if v, ok := strings.CutPrefix(f[3], "portcullis-target="); ok {
			cs.Target = v
		}
		s.Controllers = append(s.Controllers, cs)
	}
	for _, h := range l.Hosts() {
		s.Hosts = append(s.Hosts, HostStatus{Name: h.Name, Netns: h.Netns, IP: h.IP.String(),
			IPv6: h.IPv6.String(), MAC: h.MAC.String(), Port: h.Port, Bridge: h.Bridge})
	}
	return s, nil
}

// Down removes everything the lab named cfg.Name made: processes (daemons,
// relay, anything still running in its namespaces), namespaces with their
// veths, and the run directory. It finds them by name and pid file, so it
// works after a crash and when nothing is left (then it does nothing).
func Down(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	var errs []error
	nss := labNamespaces(cfg.Name)
	// The run directories in use: the configured one and whatever the
	// switch's daemons say (a lab brought up with another --run-dir).
	dirs := []string{cfg.RunDir}
	for _, pid := range pidsInNetns(cfg.SwitchNetns()) {
		if d := pidfileDir(cmdline(pid)); d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		for _, d := range []string{"relay", "ovs-vswitchd", "ovsdb-server"} {
			if pid := readPid(filepath.Join(dir, d+".pid")); pid != 0 && ours(pid, dir) {
				terminate([]int{pid})
			}
		}
		// Leftovers without (valid) pid files.
		terminate(findByRunDir(dir))
	}
	terminate(findRelays(cfg.Name))
	for _, ns := range nss {
		killInNetns(ns)
	}
	for _, ns := range nss {
		if err := delNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, dir := range dirs {
		if err := removeRunDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runDirFile matches the files a lab creates in its run directory.
var runDirFile = regexp.MustCompile(`^(conf\.db|\.conf\.db\.~lock~|db\.sock|(ovsdb-server|ovs-vswitchd|relay)\.(pid|log|ctl|addrs|addrs\.tmp|spec)|[a-z0-9-]+\.(mgmt|snoop)|vm-[a-z0-9]+\.(pid|console|initramfs))$`)

// removeRunDir removes the files a lab makes, then the directory if that
// left it empty: a --run-dir pointing at a shared directory loses nothing else.
func removeRunDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, e := range ents {
		if runDirFile.MatchString(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			return nil // not ours alone: keep it
		}
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Leftovers lists what of lab cfg still exists (namespaces, processes, run
// directory); empty after a successful Down.
func Leftovers(cfg Config) []string {
	cfg = cfg.withDefaults()
	var left []string
	for _, ns := range labNamespaces(cfg.Name) {
		left = append(left, "netns "+ns)
	}
	for _, pid := range findByRunDir(cfg.RunDir) {
		left = append(left, fmt.Sprintf("process %d (%s)", pid, cmdline(pid)))
	}
	if _, err := os.Stat(cfg.RunDir); err == nil {
		left = append(left, "run dir "+cfg.RunDir)
	}
	return left
}
