package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunIdentityFlags(t *testing.T) {
	f := identityFlag{}
	for _, v := range []string{"0000000000000001=br0 on hv1, rack 2", "00:00:00:00:00:00:00:02=hv2.example=x"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if f["0000000000000001"] != "br0 on hv1, rack 2" || f["00:00:00:00:00:00:00:02"] != "hv2.example=x" {
		t.Errorf("identities %v: values must be kept whole", f)
	}
	for _, v := range []string{"0000000000000001", "=x", "0000000000000001="} {
		if err := f.Set(v); err == nil {
			t.Errorf("Set(%q) accepted", v)
		}
	}

	var out, errb bytes.Buffer
	if code := cmdRun([]string{"--tls-identity", "nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "want DPID=IDENTITY") {
		t.Errorf("--tls-identity nope: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	// Identities without TLS: the configuration check refuses to start.
	if code := cmdRun([]string{"--tls-identity", "0000000000000001=sw1", "--tls-require-identity", "--state-dir", t.TempDir()}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "tls.switch_identities: needs TLS") {
		t.Errorf("identities without TLS: exit %d, stderr %q", code, errb.String())
	}
}

// A file flag replaces its own key of the configuration file, not the set:
// --tls-ca alone keeps the file's tls.cert and tls.key (it blanked them, and
// the configuration check then refused a file that named all three).
func TestRunFileFlagsReplaceTheirOwnKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "portcullis.yaml")
	yaml := "tls:\n  cert: " + dir + "/ctl-cert.pem\n  key: " + dir + "/ctl-key.pem\n  ca: " + dir + "/old-ca.pem\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cmdRun([]string{"--config", cfg, "--tls-ca", dir + "/new-ca.pem", "--state-dir", dir, "--no-sandbox"}, &out, &errb)
	if code == 0 || strings.Contains(errb.String(), "must be set") || !strings.Contains(errb.String(), "ctl-cert.pem") {
		t.Errorf("--tls-ca over a file with cert and key: exit %d, stderr %q; want the file's cert loaded (and failing: it does not exist)", code, errb.String())
	}
}
