package ofconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate signed by ca, as PEM cert and key.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLS(t *testing.T) {
	ca := newCA(t, "portcullis test CA")
	otherCA := newCA(t, "some other CA")
	dir := t.TempDir()
	srvCert, srvKey := ca.issue(t, "controller", true)
	srvTLS, err := ofconn.ServerTLSConfig(
		writeFile(t, dir, "ctl.pem", srvCert), writeFile(t, dir, "ctl.key", srvKey), writeFile(t, dir, "ca.pem", ca.pem))
	if err != nil {
		t.Fatal(err)
	}
	if srvTLS.ClientAuth != tls.RequireAndVerifyClientCert || srvTLS.MinVersion < tls.VersionTLS12 {
		t.Errorf("ServerTLSConfig: ClientAuth %v MinVersion %#x", srvTLS.ClientAuth, srvTLS.MinVersion)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	clientTLS := func(ca *testCA) *tls.Config {
		c := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if ca != nil {
			certPEM, keyPEM := ca.issue(t, "switch", false)
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Present the certificate whatever CAs the server asks for, as a
			// switch configured with the wrong one would.
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		return c
	}

	ts := startServer(t, ofconn.Config{TLS: srvTLS, HandshakeTimeout: 2 * time.Second}, nil)

	// A switch with a certificate from our CA connects.
	_, s := connect(t, ts, ofconntest.Config{DPID: 1, TLS: clientTLS(ca)})
	if err := s.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("Barrier over TLS: %v", err)
	}

	refused := []struct {
		name   string
		tls    *tls.Config // nil: plain TCP
		reason string      // in the log line
	}{
		{"other-ca", clientTLS(otherCA), "certificate signed by unknown authority"},
		{"no-cert", clientTLS(nil), "didn't provide a certificate"},
		{"plain-tcp", nil, "TLS handshake failed"},
	}
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			sw, err := ofconntest.Dial(ctx, ts.addr, ofconntest.Config{DPID: 100, TLS: tt.tls})
			if err == nil {
				// With TLS 1.3 the client may finish its side before the
				// server checks its certificate: the connection then ends.
				waitClosed(t, sw)
				sw.Close()
			}
			deadline := time.Now().Add(wait)
			for ts.Stats().TLSFailures < uint64(i+1) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := ts.Stats().TLSFailures; got != uint64(i+1) {
				t.Fatalf("TLSFailures = %d, want %d", got, i+1)
			}
			log := ts.logs.String()
			if !strings.Contains(log, "switch refused: TLS handshake failed") || !strings.Contains(log, tt.reason) {
				t.Errorf("log does not say why (%q):\n%s", tt.reason, log)
			}
			if ts.Session(100) != nil {
				t.Error("refused switch has a session")
			}
		})
	}
	// The good switch is still there.
	if err := s.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("Barrier after refusals: %v", err)
	}
}

func TestServerTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	certPEM, keyPEM := ca.issue(t, "controller", true)
	cert, key := writeFile(t, dir, "c.pem", certPEM), writeFile(t, dir, "k.pem", keyPEM)
	tests := []struct {
		name, cert, key, ca string
	}{
		{"missing-cert", filepath.Join(dir, "nope.pem"), key, writeFile(t, dir, "ca.pem", ca.pem)},
		{"missing-ca", cert, key, filepath.Join(dir, "nope-ca.pem")},
		{"ca-not-pem", cert, key, writeFile(t, dir, "bad-ca.pem", []byte("not a certificate"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ofconn.ServerTLSConfig(tt.cert, tt.key, tt.ca)
			if err == nil || !strings.HasPrefix(err.Error(), "ofconn: ") {
				t.Errorf("err = %v, want an ofconn error", err)
			}
		})
	}
}
