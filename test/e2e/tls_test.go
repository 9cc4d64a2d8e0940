package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/lab"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	CertPEM string // path of the CA certificate
}

var serial int64 = time.Now().UnixNano()

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

// newCA makes a self-signed CA named cn and writes its certificate into dir.
func newCA(t testing.TB, dir, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"portcullis e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, CertPEM: filepath.Join(dir, cn+"-cacert.pem")}
	writePEM(t, ca.CertPEM, "CERTIFICATE", der)
	return ca
}

// issue signs a leaf certificate named cn (usable as TLS client and server)
// and writes NAME-cert.pem and NAME-privkey.pem into dir; it returns their
// paths.
func (ca *testCA) issue(t testing.TB, dir, cn string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"portcullis e2e"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{cn, "localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, cn+"-cert.pem"), filepath.Join(dir, cn+"-privkey.pem")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "PRIVATE KEY", pk)
	return certPath, keyPath
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Mutual TLS on the OpenFlow channel (issue 2: "the same checks pass over
// ssl: with mutual TLS; a switch with a wrong certificate is refused").
// One CA signs the controller's and the good switch's certificates; a second
// switch presents a certificate from another CA (while trusting the
// controller's), so the refusal is the controller's doing.
func TestTLSMutual(t *testing.T) {
	RequireLab(t)
	dir := t.TempDir()
	ca := newCA(t, dir, "e2e-ca")
	ctlCert, ctlKey := ca.issue(t, dir, "controller")
	swCert, swKey := ca.issue(t, dir, "switch-good")
	rogue := newCA(t, dir, "rogue-ca")
	badCert, badKey := rogue.issue(t, dir, "switch-bad")

	c := StartPortcullis(t, "--tls-cert", ctlCert, "--tls-key", ctlKey, "--tls-ca", ca.CertPEM)
	target := "ssl:" + c.Addr

	good := LabConfig(3)
	good.Controllers = []string{target}
	good.SSL = &lab.SSL{Key: swKey, Cert: swCert, CA: ca.CertPEM}
	gl := StartLab(t, good)
	WaitConnected(t, gl, true)
	CheckPorts(t, WaitSwitch(t, c, DPID(t, gl)), gl)
	PingAll(t, gl)
	if r := Iperf(t, gl, 1, 3, "-t", "1"); r.Bytes == 0 {
		t.Errorf("iperf3 over the TLS-controlled bridge moved nothing")
	}

	bad := LabConfig(2)
	bad.Controllers = []string{target}
	bad.SSL = &lab.SSL{Key: badKey, Cert: badCert, CA: ca.CertPEM}
	bl := StartLab(t, bad)

	// The controller says why it refused the switch.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.Logs(), "switch refused: TLS handshake failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS refusal in the controller log after 20s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// OVS retries every second (max_backoff 1s): give it several tries,
	// then the switch must still not be connected, nor listed.
	time.Sleep(3 * time.Second)
	st, err := bl.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Controllers) != 1 || st.Controllers[0].Connected {
		t.Errorf("switch with a rogue certificate: controllers %+v, want one, not connected", st.Controllers)
	}
	badDPID := DPID(t, bl)
	for _, s := range Switches(t, c) {
		if s.DatapathID == badDPID {
			t.Errorf("controller lists the refused switch: %+v", s)
		}
	}
	// fail_mode=secure and no controller: no flows, nothing forwards.
	if flows, err := bl.DumpFlows(); err != nil || len(flows) != 0 {
		t.Errorf("refused switch has flows %q (%v), want none", flows, err)
	}
	if err := Ping(t.Context(), bl, 1, 2, false, 2); err == nil {
		t.Error("hosts behind the refused switch can ping: something installed flows")
	}
	// The good switch is undisturbed.
	if err := Ping(t.Context(), gl, 2, 3, false, 3); err != nil {
		t.Error(err)
	}
	if err := c.Healthy(); err != nil {
		t.Error(err)
	}
	t.Logf("refusals logged: %d", strings.Count(c.Logs(), "switch refused: TLS handshake failed"))
	for line := range strings.Lines(c.Logs()) {
		if strings.Contains(line, "switch refused") {
			t.Log(strings.TrimSpace(line))
			if !strings.Contains(line, "unknown authority") {
				t.Errorf("refusal does not say the certificate's CA is unknown: %s", line)
			}
			break
		}
	}
}
