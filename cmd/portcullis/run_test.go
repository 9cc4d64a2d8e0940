package main

import (
	"bytes"
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
