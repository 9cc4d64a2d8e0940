package ofconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"portcullis/internal/ofconn"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// refusedWith checks what a refused switch sees and what the server
// reports: OFPT_ERROR HELLO_FAILED/EPERM, the connection closed, one
// Refused call with the reason, and no session of its own.
func refusedWith(t *testing.T, ts *testServer, sw *ofconntest.Switch, dpid uint64, reason string) refusal {
	t.Helper()
	e, _ := errorFrom(t, sw)
	if e.ErrType != ofp.ErrTypeHelloFailed || e.Code != ofp.HelloFailedEPerm {
		t.Errorf("refused switch got error %v/%s, want OFPET_HELLO_FAILED/OFPHFC_EPERM",
			e.ErrType, ofp.ErrorCodeString(e.ErrType, e.Code))
	}
	if !strings.HasPrefix(string(e.Data), "portcullis: refused: ") || !strings.Contains(string(e.Data), ofconn.FormatDPID(dpid)) {
		t.Errorf("error data %q does not say why", e.Data)
	}
	waitClosed(t, sw)
	r := ts.rec.waitRefused(t)
	if r.err.Reason != reason || r.err.DPID != dpid {
		t.Errorf("Refused(%s, %v): reason %q dpid %#x, want %q %#x", r.remote, r.err, r.err.Reason, r.err.DPID, reason, dpid)
	}
	if want := sw.Conn().LocalAddr().String(); r.remote != want {
		t.Errorf("Refused remote %s, want the switch's %s", r.remote, want)
	}
	if s := ts.Session(dpid); s != nil && s.RemoteAddr().String() == r.remote {
		t.Error("the refused switch holds a session")
	}
	return r
}

// An impostor claims the datapath id of a switch that is alive: it is
// refused, and the switch keeps its session and its service.
func TestClaimOfLiveDatapathRefused(t *testing.T) {
	ts := startServer(t, ofconn.Config{}, nil)
	swA, a := connect(t, ts, ofconntest.Config{DPID: 5, Ports: ofconntest.Ports(2)})

	imp := dial(t, ts.addr, ofconntest.Config{DPID: 5, Ports: ofconntest.Ports(9)})
	r := refusedWith(t, ts, imp, 5, ofconn.RefusedDPIDInUse)
	if !errors.Is(r.err, ofconn.ErrDPIDInUse) {
		t.Errorf("refusal %v is not ErrDPIDInUse", r.err)
	}
	if r.err.HeldBy == nil || r.err.HeldBy.String() != swA.Conn().LocalAddr().String() {
		t.Errorf("HeldBy %v, want the live switch %v", r.err.HeldBy, swA.Conn().LocalAddr())
	}
	if strings.Contains(ts.logs.String(), "closing the old session") {
		t.Error("server closed the live session")
	}

	if ts.Session(5) != a || a.Err() != nil {
		t.Fatalf("Session(5) = %p (err %v), want the live session %p", ts.Session(5), a.Err(), a)
	}
	if len(a.Ports()) != 2 {
		t.Errorf("live session's ports replaced: %d ports", len(a.Ports()))
	}
	// Still served both ways: a request, and the switch's messages.
	if err := a.Barrier(ctxWait(t)); err != nil {
		t.Fatalf("Barrier to the live switch: %v", err)
	}
	if err := swA.Send(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, Data: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if m := ts.rec.waitMessage(t, ofp.TypePacketIn); m.s != a {
		t.Error("packet-in from the live switch came from another session")
	}
	if got, want := strings.Join(ts.rec.Events(), ","), "connected 0000000000000005,refused 0000000000000005"; got != want {
		t.Errorf("handler calls %q, want %q", got, want)
	}
	if st := ts.Stats(); st.Refused != 1 || st.Connected != 1 || st.Active != 1 || st.Reconnects != 0 {
		t.Errorf("stats %+v", st)
	}
	log := ts.logs.String()
	for _, want := range []string{"level=WARN", "switch refused: its datapath id is held by a live session",
		"remote=" + imp.Conn().LocalAddr().String(), "dpid=0000000000000005", "held_by=" + swA.Conn().LocalAddr().String()} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// A switch that reconnected while its old session still looks open (the
// break reached neither FIN nor RST to us): the old session does not answer
// the probe, so after ProbeTimeout it is closed and the new one takes over,
// the old session's Disconnected first. Fake time: the wait is exactly the
// probe timeout.
func TestClaimOfSilentDatapathReplaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		srv := ofconn.NewServer(ofconn.Config{EchoInterval: 5 * time.Second, EchoTimeout: 10 * time.Second,
			ProbeTimeout: 1500 * time.Millisecond}, rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
		serve := func(cfg ofconntest.Config) (*ofconntest.Switch, chan struct{}) {
			ctl, swc := net.Pipe()
			served := make(chan struct{})
			go func() {
				defer close(served)
				srv.ServeConn(context.Background(), ctl)
			}()
			sw, err := ofconntest.Start(swc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return sw, served
		}
		swA, servedA := serve(ofconntest.Config{DPID: 5, NoEchoReply: true})
		a := <-rec.connected

		start := time.Now()
		swB, servedB := serve(ofconntest.Config{DPID: 5})
		d := <-rec.disconnected
		b := <-rec.connected
		if took := time.Since(start); took != 1500*time.Millisecond {
			t.Errorf("new session connected after %v, want the probe timeout 1.5s", took)
		}
		if d.s != a || !errors.Is(d.err, ofconn.ErrReplaced) {
			t.Errorf("Disconnected(%p, %v), want the old session with ErrReplaced", d.s, d.err)
		}
		if srv.Session(5) != b || !b.Reconnect() {
			t.Errorf("Session(5) = %p, want the new session %p (a reconnect)", srv.Session(5), b)
		}
		if got, want := strings.Join(rec.Events(), ","),
			"connected 0000000000000005,disconnected 0000000000000005,connected 0000000000000005"; got != want {
			t.Errorf("handler calls %q, want %q", got, want)
		}
		if st := srv.Stats(); st.Refused != 0 || st.Connected != 2 {
			t.Errorf("stats %+v", st)
		}
		<-servedA
		swA.Close()
		swB.Close()
		<-servedB
	})
}

// A holder that does not answer the echo but keeps sending (a switch
// whose echo handling is late under load) is alive: the claim is refused.
func TestClaimOfBusyDatapathRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		srv := ofconn.NewServer(ofconn.Config{EchoInterval: 5 * time.Second, EchoTimeout: 10 * time.Second,
			ProbeTimeout: time.Second}, rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
		serve := func(cfg ofconntest.Config) (*ofconntest.Switch, chan struct{}) {
			ctl, swc := net.Pipe()
			served := make(chan struct{})
			go func() {
				defer close(served)
				srv.ServeConn(context.Background(), ctl)
			}()
			sw, err := ofconntest.Start(swc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return sw, served
		}
		swA, servedA := serve(ofconntest.Config{DPID: 5, NoEchoReply: true, Handle: func(*ofconntest.Switch, ofp.Header, ofp.Message) {}})
		a := <-rec.connected
		stop := make(chan struct{})
		sending := make(chan struct{})
		go func() {
			defer close(sending)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
					swA.Send(0, &ofp.PacketIn{BufferID: ofp.NoBuffer, Data: []byte{1}})
				}
			}
		}()
		swB, servedB := serve(ofconntest.Config{DPID: 5, Handle: func(*ofconntest.Switch, ofp.Header, ofp.Message) {}})
		select {
		case r := <-rec.refused:
			if r.err.Reason != ofconn.RefusedDPIDInUse || srv.Session(5) != a || a.Err() != nil {
				t.Errorf("refusal %v, Session(5) %p (err %v): want the claim refused and the busy holder %p kept",
					r.err, srv.Session(5), a.Err(), a)
			}
		case <-rec.connected:
			t.Error("the claim replaced a holder that keeps sending")
		}
		close(stop)
		<-sending
		swB.Close()
		<-servedB
		swA.Close()
		<-servedA
	})
}

// The old session ends by itself (its switch closed the connection) while
// the probe waits: the claim succeeds without waiting out the timeout.
func TestClaimWhileHolderCloses(t *testing.T) {
	ts := startServer(t, ofconn.Config{ProbeTimeout: wait}, nil)
	swA, a := connect(t, ts, ofconntest.Config{DPID: 5, NoEchoReply: true})
	swA.Pause() // after the probe's echo, read nothing more
	go func() {
		time.Sleep(100 * time.Millisecond)
		swA.Conn().Close()
	}()
	start := time.Now()
	_, b := connect(t, ts, ofconntest.Config{DPID: 5})
	t.Logf("took over %v after the claim", time.Since(start))
	if d := ts.rec.waitDisconnected(t); d.s != a {
		t.Error("Disconnected is not the old session's")
	}
	if ts.Session(5) != b {
		t.Error("new session does not hold the datapath id")
	}
}

// Two claims on a silent switch's datapath id at once: they are settled
// one after the other, so exactly one takes over and the other then meets a
// live holder and is refused.
func TestClaimsSettledOneAtATime(t *testing.T) {
	ts := startServer(t, ofconn.Config{ProbeTimeout: 300 * time.Millisecond}, nil)
	swA, a := connect(t, ts, ofconntest.Config{DPID: 5, NoEchoReply: true})
	sws := make([]*ofconntest.Switch, 2)
	for i := range sws {
		sws[i] = dial(t, ts.addr, ofconntest.Config{DPID: 5})
	}
	if d := ts.rec.waitDisconnected(t); d.s != a || !errors.Is(d.err, ofconn.ErrReplaced) {
		t.Errorf("Disconnected(%p, %v), want the silent session, replaced", d.s, d.err)
	}
	waitClosed(t, swA)
	b := ts.rec.waitConnected(t)
	r := ts.rec.waitRefused(t)
	if r.err.Reason != ofconn.RefusedDPIDInUse || r.err.HeldBy.String() != b.RemoteAddr().String() {
		t.Errorf("refusal %v held by %v, want dpid-in-use held by the winner %v", r.err, r.err.HeldBy, b.RemoteAddr())
	}
	var winner, loser *ofconntest.Switch
	for _, sw := range sws {
		if sw.Conn().LocalAddr().String() == b.RemoteAddr().String() {
			winner = sw
		} else {
			loser = sw
		}
	}
	if winner == nil || loser.Conn().LocalAddr().String() != r.remote {
		t.Fatalf("winner %v, refused %s: not the two claimants", b.RemoteAddr(), r.remote)
	}
	waitClosed(t, loser)
	if err := b.Barrier(ctxWait(t)); err != nil {
		t.Errorf("Barrier to the winner: %v", err)
	}
	if st := ts.Stats(); st.Refused != 1 || st.Connected != 2 || st.Active != 1 {
		t.Errorf("stats %+v", st)
	}
}

// ---- certificate identities ----

// issueFor returns a client certificate signed by ca with the given names.
func (ca *testCA) issueFor(t *testing.T, cn string, dns []string, uris ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     dns,
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestCarriesIdentity(t *testing.T) {
	u, _ := url.Parse("spiffe://lab/switch/7")
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "br0 on hv1"}, DNSNames: []string{"hv1.example"},
		URIs: []*url.URL{u}}
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"br0 on hv1", true},
		{"BR0 on hv1", false}, // a common name is compared exactly
		{"hv1.example", true},
		{"HV1.Example", true}, // DNS names are not case-sensitive
		{"spiffe://lab/switch/7", true},
		{"spiffe://lab/switch/8", false},
		{"*.example", false},
		{"example", false},
		{"", false},
	} {
		if got := ofconn.CarriesIdentity(cert, tt.id); got != tt.want {
			t.Errorf("CarriesIdentity(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestIdentity(t *testing.T) {
	ca := newCA(t, "portcullis test CA")
	dir := t.TempDir()
	srvCert, srvKey := ca.issue(t, "controller", true)
	srvTLS, err := ofconn.ServerTLSConfig(
		writeFile(t, dir, "ctl.pem", srvCert), writeFile(t, dir, "ctl.key", srvKey), writeFile(t, dir, "ca.pem", ca.pem))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	withCert := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	}
	ids := map[uint64]string{5: "switch-5", 6: "sw6.example", 7: "spiffe://lab/switch/7"}
	sw5 := ca.issueFor(t, "switch-5", nil)
	sw6 := ca.issueFor(t, "hv6", []string{"SW6.example"})
	sw7 := ca.issueFor(t, "hv7", nil, "spiffe://lab/switch/7")
	other := ca.issueFor(t, "switch-9", []string{"switch-5.example"}, "spiffe://lab/switch/5")

	t.Run("mapped", func(t *testing.T) {
		ts := startServer(t, ofconn.Config{TLS: srvTLS, Identities: ids}, nil)
		_, s5 := connect(t, ts, ofconntest.Config{DPID: 5, TLS: withCert(sw5)}) // common name
		connect(t, ts, ofconntest.Config{DPID: 6, TLS: withCert(sw6)})          // DNS name
		connect(t, ts, ofconntest.Config{DPID: 7, TLS: withCert(sw7)})          // URI
		connect(t, ts, ofconntest.Config{DPID: 9, TLS: withCert(other)})        // unmapped: accepted

		// A certificate of the same CA without the identity claims 5, 6:
		// refused before the holder is even asked.
		for _, dpid := range []uint64{5, 6} {
			imp := dial(t, ts.addr, ofconntest.Config{DPID: dpid, TLS: withCert(other)})
			r := refusedWith(t, ts, imp, dpid, ofconn.RefusedIdentityMismatch)
			if !errors.Is(r.err, ofconn.ErrIdentity) {
				t.Errorf("refusal %v is not ErrIdentity", r.err)
			}
		}
		// The right certificate while 5 is connected and alive: refused
		// too, as a duplicate.
		dup := dial(t, ts.addr, ofconntest.Config{DPID: 5, TLS: withCert(sw5)})
		refusedWith(t, ts, dup, 5, ofconn.RefusedDPIDInUse)
		if ts.Session(5) != s5 || s5.Err() != nil {
			t.Error("switch 5 lost its session")
		}
		log := ts.logs.String()
		if !strings.Contains(log, "switch refused: its certificate does not carry the identity configured for its datapath id") ||
			!strings.Contains(log, "CN=switch-9, DNS:switch-5.example, URI:spiffe://lab/switch/5") {
			t.Errorf("log does not name the refused certificate:\n%s", log)
		}
		if st := ts.Stats(); st.Refused != 3 || st.Active != 4 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("required", func(t *testing.T) {
		ts := startServer(t, ofconn.Config{TLS: srvTLS, Identities: ids, RequireIdentity: true}, nil)
		connect(t, ts, ofconntest.Config{DPID: 5, TLS: withCert(sw5)})
		imp := dial(t, ts.addr, ofconntest.Config{DPID: 9, TLS: withCert(other)})
		refusedWith(t, ts, imp, 9, ofconn.RefusedIdentityRequired)
		if !strings.Contains(ts.logs.String(), "switch refused: no certificate identity is configured for its datapath id") {
			t.Errorf("log does not say why:\n%s", ts.logs.String())
		}
	})

	// Without TLS there is no certificate to check: a mapped datapath id
	// is refused, an unmapped one accepted.
	t.Run("plain-tcp", func(t *testing.T) {
		ts := startServer(t, ofconn.Config{Identities: ids}, nil)
		imp := dial(t, ts.addr, ofconntest.Config{DPID: 5})
		refusedWith(t, ts, imp, 5, ofconn.RefusedIdentityMismatch)
		connect(t, ts, ofconntest.Config{DPID: 9})
	})
}
