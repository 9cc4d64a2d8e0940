package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// This file: the API's safe defaults. A non-loopback listener needs TLS
// (or api.allow_plaintext), tokens may come from files, and the names the
// API answers to are checked here; internal/api enforces them per request.

// MaxTokenFileSize bounds one api.token_files file.
const MaxTokenFileSize = 64 << 10

// checkToken says what is wrong with a bearer token ("" if nothing).
func checkToken(tok string) string {
	if len(tok) < 16 {
		return fmt.Sprintf("must be at least 16 characters (make one with: head -c 24 /dev/urandom | base64), got %d", len(tok))
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

// IsLoopbackListen reports whether a host:port listen address accepts only
// loopback connections: a loopback IP or "localhost". ":6680", "0.0.0.0"
// and any other name listen beyond the host.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (v *v) validateAPI(a API) {
	if a.Listen != "" && !IsLoopbackListen(a.Listen) && !a.TLS.Enabled() && !a.AllowPlaintext {
		v.add("api.listen", "%q listens beyond this host without TLS: tokens and state would cross the network in clear text; "+
			"set api.tls.cert and api.tls.key, listen on 127.0.0.1, or set api.allow_plaintext: true (--api-allow-plaintext) "+
			"if a TLS proxy or a private link protects it", a.Listen)
	}
	for i, h := range a.AllowedHosts {
		if h == "" || strings.ContainsAny(h, " /:[]") || strings.Contains(h, "..") {
			v.add(fmt.Sprintf("api.allowed_hosts[%d]", i), "must be a host name such as portcullis.example.com (no port, no scheme), got %q", h)
		}
	}
	for i, f := range a.TokenFiles {
		if strings.TrimSpace(f) == "" {
			v.add(fmt.Sprintf("api.token_files[%d]", i), "must be a file path, got an empty string")
		}
	}
	v.intIn("api.max_streams", a.MaxStreams, 1, 10000)
}

// Warnings are the settings that are allowed but weaken the defaults; the
// controller logs each at start.
func (c *Config) Warnings() []string {
	var w []string
	if !IsLoopbackListen(c.API.Listen) && !c.API.TLS.Enabled() {
		w = append(w, fmt.Sprintf("api.listen %s is beyond loopback without TLS (api.allow_plaintext): tokens cross the network in clear text", c.API.Listen))
	}
	return w
}

// readTokenFiles adds the tokens of every api.token_files file to Tokens.
func (a *API) readTokenFiles() error {
	for i, path := range a.TokenFiles {
		toks, err := ReadTokenFile(path)
		if err != nil {
			return fmt.Errorf("api.token_files[%d]: %w", i, err)
		}
		a.Tokens = append(a.Tokens, toks...)
	}
	return nil
}

// ReadTokenFile reads bearer tokens from path: one per line, blank lines
// and lines starting with # ignored. The file must not be readable by
// others (chmod o-rwx), and every token must be valid.
func ReadTokenFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("%s: readable by others (mode %04o): chmod o-rwx %s", path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxTokenFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxTokenFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxTokenFileSize)
	}
	var toks []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if msg := checkToken(line); msg != "" {
			return nil, fmt.Errorf("%s:%d: the token %s", path, n, msg)
		}
		toks = append(toks, line)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%s: no token in it", path)
	}
	return toks, nil
}
