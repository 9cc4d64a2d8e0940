package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The parts that need neither root nor Open vSwitch; the lab itself is
// tested end to end in test/e2e.

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value", Config{}, ""},
		{"full", Config{Name: "demo-1", RunDir: "/tmp/x", Bridge: "br1", Hosts: 250,
			Controllers: []string{"tcp:127.0.0.1:6653", "ssl:[::1]:6653"}, FailMode: FailStandalone}, ""},
		{"upper case name", Config{Name: "Lab"}, "bad name"},
		{"name with slash", Config{Name: "a/b"}, "bad name"},
		{"name too long", Config{Name: strings.Repeat("a", 33)}, "bad name"},
		{"relative run dir", Config{RunDir: "run"}, "absolute"},
		{"root run dir", Config{RunDir: "/"}, "absolute"},
		{"too many hosts", Config{Hosts: 251}, "out of range"},
		{"negative hosts", Config{Hosts: -1}, "out of range"},
		{"fail mode", Config{FailMode: "open"}, "fail mode"},
		{"unix target", Config{Controllers: []string{"unix:/x"}}, "want tcp:HOST:PORT"},
		{"no port", Config{Controllers: []string{"tcp:127.0.0.1"}}, "controller target"},
		{"port zero", Config{Controllers: []string{"tcp:127.0.0.1:0"}}, "bad port"},
		{"long bridge", Config{Bridge: "abcdefghijklmnop"}, "bridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "lab: ") {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Name != "lab" || c.RunDir != "/run/portcullis-lab/lab" || c.Bridge != "br0" || c.Hosts != 3 ||
		c.FailMode != FailSecure || c.MaxBackoff.Milliseconds() != 1000 {
		t.Errorf("defaults = %+v", c)
	}
	if got := c.SwitchNetns(); got != "pc-lab-sw" {
		t.Errorf("SwitchNetns = %q", got)
	}
	if got := (Config{Name: "x"}).HostNetns(12); got != "pc-x-h12" {
		t.Errorf("HostNetns = %q", got)
	}
}

func TestHostAddresses(t *testing.T) {
	tests := []struct {
		i                 int
		ip, ipv6, mac, ns string
	}{
		{1, "10.0.0.1", "fd00::1", "02:00:00:00:00:01", "pc-t-h1"},
		{10, "10.0.0.10", "fd00::a", "02:00:00:00:00:0a", "pc-t-h10"},
		{250, "10.0.0.250", "fd00::fa", "02:00:00:00:00:fa", "pc-t-h250"},
	}
	for _, tt := range tests {
		h := hostFor(Config{Name: "t"}, tt.i, uint32(tt.i))
		if h.IP.String() != tt.ip || h.IPv6.String() != tt.ipv6 || h.MAC.String() != tt.mac || h.Netns != tt.ns {
			t.Errorf("host %d = %s %s %s %s, want %s %s %s %s", tt.i, h.IP, h.IPv6, h.MAC, h.Netns, tt.ip, tt.ipv6, tt.mac, tt.ns)
		}
		if len(h.Name) > 15 || len(h.Iface) > 15 {
			t.Errorf("host %d: interface names %q %q longer than 15", tt.i, h.Name, h.Iface)
		}
	}
}

func TestHostIndex(t *testing.T) {
	tests := []struct {
		ns   string
		want int
		ok   bool
	}{
		{"pc-a-h1", 1, true},
		{"pc-a-h42", 42, true},
		{"pc-a-sw", 0, false},
		{"pc-a-b-h1", 0, false}, // lab "a-b", not "a"
		{"pc-a-h", 0, false},
		{"pc-a-h01", 0, false},
		{"pc-a-h0", 0, false},
		{"pc-ab-h1", 0, false},
	}
	for _, tt := range tests {
		got, ok := hostIndex("a", tt.ns)
		if got != tt.want || ok != tt.ok {
			t.Errorf("hostIndex(a, %q) = %d, %v; want %d, %v", tt.ns, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIsLabProcess(t *testing.T) {
	dir := "/run/portcullis-lab/a"
	tests := []struct {
		cmd  string
		want bool
	}{
		{"ovsdb-server /run/portcullis-lab/a/conf.db --remote=punix:/run/portcullis-lab/a/db.sock --pidfile=/run/portcullis-lab/a/ovsdb-server.pid", true},
		{"ovs-vswitchd unix:/run/portcullis-lab/a/db.sock --pidfile=/run/portcullis-lab/a/ovs-vswitchd.pid --detach", true},
		{"/usr/bin/portcullis lab-relay --name=a --run-dir=/run/portcullis-lab/a", true},
		// Another lab whose directory shares the prefix.
		{"ovs-vswitchd --pidfile=/run/portcullis-lab/ab/ovs-vswitchd.pid", false},
		{"/usr/bin/portcullis lab-relay --run-dir=/run/portcullis-lab/ab", false},
		// The operator's own command mentioning the directory.
		{"portcullis lab down --run-dir=/run/portcullis-lab/a", false},
		{"bash -c ls /run/portcullis-lab/a", false},
	}
	for _, tt := range tests {
		if got := isLabProcess(tt.cmd, dir); got != tt.want {
			t.Errorf("isLabProcess(%q) = %v, want %v", tt.cmd, got, tt.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, scheme, hostport string
	}{
		{"tcp:127.0.0.1:6653", "tcp", "127.0.0.1:6653"},
		{"ssl:[::1]:6653", "ssl", "[::1]:6653"},
		{"tcp::6653", "tcp", "127.0.0.1:6653"},
	}
	for _, tt := range tests {
		s, hp, err := parseTarget(tt.in)
		if err != nil || s != tt.scheme || hp != tt.hostport {
			t.Errorf("parseTarget(%q) = %q, %q, %v; want %q, %q", tt.in, s, hp, err, tt.scheme, tt.hostport)
		}
	}
}

func TestRemoveRunDir(t *testing.T) {
	ours := []string{"conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.pid", "ovs-vswitchd.log",
		"ovs-vswitchd.ctl", "relay.addrs", "relay.log", "br0.mgmt", "br0.snoop"}
	mk := func(t *testing.T, extra ...string) string {
		dir := t.TempDir()
		for _, f := range append(ours, extra...) {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("only ours", func(t *testing.T) {
		dir := mk(t)
		if err := removeRunDir(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run dir still there: %v", err)
		}
	})
	t.Run("shared directory", func(t *testing.T) {
		dir := mk(t, "notes.txt")
		if err := removeRunDir(dir); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != "notes.txt" {
			t.Errorf("left %v, want only notes.txt", ents)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if err := removeRunDir(filepath.Join(t.TempDir(), "nope")); err != nil {
			t.Errorf("removeRunDir(missing) = %v", err)
		}
	})
}
