package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestIsLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6680": true, "127.0.0.9:1": true, "[::1]:6680": true, "localhost:6680": true,
		":6680": false, "0.0.0.0:6680": false, "[::]:6680": false, "10.0.0.1:6680": false,
		"portcullis.example.com:6680": false, "127.0.0.1": false,
	} {
		if got := IsLoopbackListen(addr); got != want {
			t.Errorf("IsLoopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A non-loopback API listener without TLS is refused unless plaintext is
// allowed explicitly, and then warned about.
func TestAPIListenNeedsTLS(t *testing.T) {
	_, err := Parse("c.yaml", []byte("api:\n  listen: \"0.0.0.0:6680\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2: api.listen") || !strings.Contains(err.Error(), "api.allow_plaintext") {
		t.Fatalf("0.0.0.0 without TLS: %v, want refused at line 2 naming api.allow_plaintext", err)
	}
	c, err := Parse("c.yaml", []byte("api:\n  listen: \"0.0.0.0:6680\"\n  allow_plaintext: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "without TLS") {
		t.Errorf("Warnings() = %q, want one about plaintext", w)
	}
	c, err = Parse("c.yaml", []byte("api:\n  listen: \":6680\"\n  tls:\n    cert: c.pem\n    key: k.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() with TLS = %q, want none", w)
	}
	d := Default()
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("Default().Warnings() = %q", w)
	}
	d.API.Listen = "10.0.0.1:6680"
	if d.Validate() == nil {
		t.Error("Validate accepts a non-loopback listener without TLS (flags go through Validate too)")
	}
}

func TestAPIAllowedHostsAndStreams(t *testing.T) {
	for _, bad := range []string{`[""]`, `["ctl:6680"]`, `["http://ctl"]`, `["a b"]`} {
		if _, err := Parse("c.yaml", []byte("api:\n  allowed_hosts: "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "api.allowed_hosts[0]") {
			t.Errorf("allowed_hosts %s: %v", bad, err)
		}
	}
	if _, err := Parse("c.yaml", []byte("api:\n  allowed_hosts: [portcullis.example.com]\n")); err != nil {
		t.Error(err)
	}
	if _, err := Parse("c.yaml", []byte("api:\n  max_streams: 0\n")); err == nil || !strings.Contains(err.Error(), "api.max_streams") {
		t.Errorf("max_streams 0: %v", err)
	}
}

func TestTokenFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# operators\nAAAAAAAAAAAAAAAAAAAA\n\n  BBBBBBBBBBBBBBBBBBBB  \n", 0o600)
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("api:\n  tokens: [CCCCCCCCCCCCCCCCCCCC]\n  token_files: ["+good+"]\n"), 0o600)
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CCCCCCCCCCCCCCCCCCCC", "AAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBB"}; !slices.Equal(c.API.Tokens, want) {
		t.Errorf("tokens %q, want %q", c.API.Tokens, want)
	}
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"world":   {"AAAAAAAAAAAAAAAAAAAA\n", 0o604, "readable by others"},
		"short":   {"# x\nshort\n", 0o600, ":2: the token must be at least 16"},
		"empty":   {"# nothing\n", 0o600, "no token"},
		"missing": {"", 0, "no such file"},
	} {
		p := filepath.Join(dir, name)
		if tc.mode != 0 {
			p = write(name, tc.body, tc.mode)
		}
		os.WriteFile(cfg, []byte("api:\n  token_files: ["+p+"]\n"), 0o600)
		_, err := Load(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "api.token_files[0]") {
			t.Errorf("%s: %v, want an error naming api.token_files[0] and %q", name, err, tc.want)
		}
	}
}
