package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"portcullis/internal/testenv"
)

// Client TLS against a real etcd that requires client certificates
// (--client-cert-auth): the instance's certificate, key and the CA that
// signed etcd's certificate (store.etcd.cert, key, ca) get it in; no
// certificate, or one of another CA, does not.
func TestEtcdClientTLS(t *testing.T) {
	bin := testenv.Tool(t, "etcd")[0]
	dir := t.TempDir()
	ca, caKey := tlsCA(t, dir, "ca")
	tlsLeaf(t, dir, "server", ca, caKey, true)
	tlsLeaf(t, dir, "client", ca, caKey, false)
	other, otherKey := tlsCA(t, dir, "other-ca")
	tlsLeaf(t, dir, "stranger", other, otherKey, false)

	client, peer := tlsFreePort(t), tlsFreePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d", client)
	purl := fmt.Sprintf("http://127.0.0.1:%d", peer)
	cmd := exec.Command(bin, "--name", "tls", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl, "--initial-cluster", "tls="+purl,
		"--cert-file", filepath.Join(dir, "server.pem"), "--key-file", filepath.Join(dir, "server-key.pem"),
		"--client-cert-auth", "--trusted-ca-file", filepath.Join(dir, "ca.pem"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	good := EtcdOptions{Endpoints: []string{url}, Prefix: "/tls/", CertFile: filepath.Join(dir, "client.pem"),
		KeyFile: filepath.Join(dir, "client-key.pem"), CAFile: filepath.Join(dir, "ca.pem"), DialTimeout: 2 * time.Second,
		OpTimeout: 2 * time.Second}
	var s *Etcd
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		if s, err = OpenEtcd(good); err == nil {
			if err = s.Put(BucketBlocks, "k", []byte("v")); err == nil {
				break
			}
			s.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the client certificate: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer s.Close()
	if kvs, _, err := s.Snapshot(BucketBlocks); err != nil || len(kvs) != 1 || string(kvs[0].Value) != "v" {
		t.Fatalf("read back over TLS: %v %v", kvs, err)
	}

	for name, o := range map[string]EtcdOptions{
		"no client certificate": {CAFile: good.CAFile},
		"another CA's client":   {CertFile: filepath.Join(dir, "stranger.pem"), KeyFile: filepath.Join(dir, "stranger-key.pem"), CAFile: good.CAFile},
	} {
		o.Endpoints, o.Prefix, o.DialTimeout, o.OpTimeout = good.Endpoints, good.Prefix, time.Second, time.Second
		s, err := OpenEtcd(o)
		if err == nil {
			err = s.Put(BucketBlocks, "k", []byte("intruder"))
			s.Close()
		}
		if err == nil {
			t.Errorf("%s: etcd took the write", name)
		}
	}
}

func tlsFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tlsWrite(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tlsCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	tlsWrite(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func tlsLeaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{netip.MustParseAddr("127.0.0.1").AsSlice()}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	tlsWrite(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kd, _ := x509.MarshalECPrivateKey(key)
	tlsWrite(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kd)
}
