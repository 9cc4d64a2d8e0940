package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/lab"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/ofp"
)

// impostor connects a scripted OpenFlow switch (ofconntest, our ofp codec)
// to the controller claiming datapath id dpid, and waits until the
// controller closes it. It returns what the controller sent it.
func impostor(t *testing.T, addr string, dpid uint64, tlsCfg *tls.Config) []ofconntest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sw, err := ofconntest.Dial(ctx, addr, ofconntest.Config{DPID: dpid, Ports: ofconntest.Ports(3), TLS: tlsCfg})
	if err != nil {
		t.Fatalf("impostor: %v", err)
	}
	defer sw.Close()
	select {
	case <-sw.Done():
	case <-ctx.Done():
		t.Fatal("the controller did not close the impostor's connection")
	}
	var got []ofconntest.Received
	for {
		r, err := sw.Next(ctx)
		if err != nil {
			return got
		}
		got = append(got, r)
	}
}

// checkRefusal fails t unless the controller sent the impostor the
// handshake and then OFPT_ERROR HELLO_FAILED/EPERM, and nothing that sets up
// a switch (no flow, group or meter).
func checkRefusal(t *testing.T, got []ofconntest.Received) {
	t.Helper()
	var types []string
	refused, setup := false, 0
	for _, r := range got {
		types = append(types, r.Header.Type.String())
		switch m := r.Msg.(type) {
		case *ofp.Error:
			refused = m.ErrType == ofp.ErrTypeHelloFailed && m.Code == ofp.HelloFailedEPerm
		case *ofp.FlowMod, *ofp.GroupMod, *ofp.MeterMod:
			setup++
		}
	}
	if setup > 0 {
		t.Errorf("the controller set up the impostor: %d flow, group or meter mods", setup)
	}
	if !refused {
		t.Errorf("impostor got %v, want an OFPT_ERROR HELLO_FAILED/EPERM", types)
	}
}

// refusedEvents returns the switch_refused events for dpid.
func refusedEvents(t *testing.T, c *Controller, dpid uint64) []api.Event {
	t.Helper()
	return events(t, c, "switch_refused", dpid)
}

// A client that reaches the OpenFlow port claims the datapath id of the
// connected lab switch: it is refused, the real switch keeps its session
// (listed once, with its own address and connection time), its hosts keep
// forwarding, and the refusal is logged, an event and a metric.
func TestHijackDatapathID(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t)
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	WaitConnected(t, l, true)
	dpid := DPID(t, l)
	before := WaitSwitch(t, c, dpid)
	if err := Ping(t.Context(), l, 1, 2, false, 5); err != nil {
		t.Fatal(err)
	}

	checkRefusal(t, impostor(t, c.Addr, dpid, nil))

	waitFor(t, 10*time.Second, "a switch_refused event", func() bool { return len(refusedEvents(t, c, dpid)) == 1 })
	ev := refusedEvents(t, c, dpid)[0]
	if ev.Reason != "dpid-in-use" || ev.IP != "127.0.0.1" || !strings.Contains(ev.Message, before.Address) {
		t.Errorf("switch_refused event %+v, want reason dpid-in-use from 127.0.0.1 naming the holder %s", ev, before.Address)
	}
	if n := switchCount(t, c, dpid); n != 1 {
		t.Errorf("switch listed %d times", n)
	}
	after := WaitSwitch(t, c, dpid)
	if after.Address != before.Address || !after.ConnectedSince.Equal(before.ConnectedSince) {
		t.Errorf("switch now %s since %v, was %s since %v: the impostor replaced it",
			after.Address, after.ConnectedSince, before.Address, before.ConnectedSince)
	}
	CheckPorts(t, after, l)
	if n := len(events(t, c, "switch_down", dpid)); n != 0 {
		t.Errorf("%d switch_down events: the real switch was dropped", n)
	}
	st, err := l.Status()
	if err != nil || len(st.Controllers) != 1 || !st.Controllers[0].Connected {
		t.Errorf("OVS controller status %+v (%v), want connected", st.Controllers, err)
	}
	PingAll(t, l)

	fams, _ := opMetrics(t, c)
	if n := opSum(fams, "portcullis_openflow_switches_refused_total"); n != 1 {
		t.Errorf("portcullis_openflow_switches_refused_total = %v, want 1", n)
	}
	const want = `level=WARN msg="switch refused: its datapath id is held by a live session that answers echo" remote=127.0.0.1:`
	line := ""
	for l := range strings.Lines(c.Logs()) {
		if strings.Contains(l, want) {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" || !strings.Contains(line, "dpid="+fmt.Sprintf("%016x", dpid)) || !strings.Contains(line, "held_by="+before.Address) {
		t.Errorf("refusal log line %q, want a warning with the impostor's address, the dpid and the holder", line)
	}
	t.Log(line)
}

// With tls.switch_identities the lab switch's datapath id belongs to the
// certificate named "switch-good": a certificate from the same CA with
// another name is refused while the switch is connected and while it is
// away, and the switch (re)connects. With --tls-require-identity a datapath
// id without a mapping is refused too.
func TestHijackTLSIdentity(t *testing.T) {
	RequireLab(t)
	dir := t.TempDir()
	ca := newCA(t, dir, "e2e-ca")
	ctlCert, ctlKey := ca.issue(t, dir, "controller")
	swCert, swKey := ca.issue(t, dir, "switch-good")
	evilCert, evilKey := ca.issue(t, dir, "switch-evil")

	const dpidHex = "00000000000e2e71"
	const dpid = 0xe2e71
	c := StartPortcullis(t, "--tls-cert", ctlCert, "--tls-key", ctlKey, "--tls-ca", ca.CertPEM,
		"--tls-identity", "00:00:00:00:00:0e:2e:71=switch-good", "--tls-require-identity")
	target := "ssl:" + c.Addr

	cfg := LabConfig(2)
	cfg.Controllers = []string{target}
	cfg.DatapathID = dpidHex
	cfg.SSL = &lab.SSL{Key: swKey, Cert: swCert, CA: ca.CertPEM}
	l := StartLab(t, cfg)
	WaitConnected(t, l, true)
	before := WaitSwitch(t, c, dpid)
	PingAll(t, l)

	evil, err := tls.LoadX509KeyPair(evilCert, evilKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	evilTLS := &tls.Config{Certificates: []tls.Certificate{evil}, RootCAs: roots, ServerName: "localhost"}

	// While the switch is connected: an Open vSwitch with the other
	// certificate, and our impostor.
	bad := LabConfig(2)
	bad.Controllers = []string{target}
	bad.DatapathID = dpidHex
	bad.SSL = &lab.SSL{Key: evilKey, Cert: evilCert, CA: ca.CertPEM}
	bl := StartLab(t, bad)
	waitFor(t, 20*time.Second, "the refusal of the Open vSwitch with the wrong certificate",
		func() bool { return len(refusedEvents(t, c, dpid)) > 0 })
	checkRefusal(t, impostor(t, c.Addr, dpid, evilTLS))
	// While it is away: the datapath id is free, the certificate still
	// does not name it.
	if err := l.SetController(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the switch to leave /api/v1/switches", func() bool { return switchCount(t, c, dpid) == 0 })
	checkRefusal(t, impostor(t, c.Addr, dpid, evilTLS))
	// ... and the bad Open vSwitch, which retries (max_backoff 1 s).
	n := len(refusedEvents(t, c, dpid))
	waitFor(t, 20*time.Second, "a refusal of the bad Open vSwitch's retry while the id is free",
		func() bool { return len(refusedEvents(t, c, dpid)) > n })
	if n := switchCount(t, c, dpid); n != 0 {
		t.Errorf("an impostor is listed as switch %s", dpidHex)
	}
	// An unmapped datapath id, with a certificate of the CA.
	checkRefusal(t, impostor(t, c.Addr, 0x99, evilTLS))

	reasons := map[string]int{}
	for _, d := range []uint64{dpid, 0x99} {
		for _, e := range refusedEvents(t, c, d) {
			reasons[fmt.Sprintf("%x:%s", d, e.Reason)]++
		}
	}
	t.Logf("switch_refused events: %v", reasons)
	if n := reasons["e2e71:identity-mismatch"]; n < 4 || reasons["99:identity-required"] != 1 || len(reasons) != 2 {
		t.Errorf("switch_refused events by dpid and reason %v, want identity-mismatch >= 4 times for %s, identity-required once for 0x99", reasons, dpidHex)
	}
	st, err := bl.Status()
	if err != nil || len(st.Controllers) != 1 || st.Controllers[0].Connected {
		t.Errorf("Open vSwitch with the wrong certificate: controllers %+v (%v), want one, not connected", st.Controllers, err)
	}
	if flows, err := bl.DumpFlows(); err != nil || len(flows) != 0 {
		t.Errorf("refused switch has flows %q (%v), want none", flows, err)
	}
	// Open vSwitch does not act on an OFPT_ERROR after the hello: it answers
	// it with OFPBRC_BAD_TYPE and sees the connection drop (docs/tls.md).
	if b, err := os.ReadFile(filepath.Join(bl.RunDir(), "ovs-vswitchd.log")); err == nil {
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "error reply to OFPT_ERROR") || strings.Contains(line, "connection dropped") {
				t.Logf("refused Open vSwitch logs: %s", strings.TrimSpace(line))
			}
		}
	}
	for _, want := range []string{
		`msg="switch refused: its certificate does not carry the identity configured for its datapath id" remote=127.0.0.1:`,
		`msg="switch refused: no certificate identity is configured for its datapath id, and one is required" remote=127.0.0.1:`,
	} {
		line := ""
		for l := range strings.Lines(c.Logs()) {
			if strings.Contains(l, want) {
				line = strings.TrimSpace(l)
				break
			}
		}
		if !strings.Contains(line, `certificate="CN=switch-evil, DNS:switch-evil, DNS:localhost"`) {
			t.Errorf("refusal log line %q, want a warning naming the impostor's certificate", line)
		}
		t.Log(line)
	}

	// The right certificate gets its datapath id back.
	if err := l.SetController(target); err != nil {
		t.Fatal(err)
	}
	WaitConnected(t, l, true)
	after := WaitSwitch(t, c, dpid)
	if !after.ConnectedSince.After(before.ConnectedSince) {
		t.Errorf("connected since %v after the reconnect, before %v", after.ConnectedSince, before.ConnectedSince)
	}
	CheckPorts(t, after, l)
	PingAll(t, l)
}

// A session that holds the lab switch's datapath id but no longer answers
// (here a client that claimed the id first and went silent, as a connection
// cut off without a FIN or RST looks to the controller) does not lock the
// real switch out: when Open vSwitch connects, the silent session fails the
// echo probe and is replaced, and the switch is listed with its own address
// and forwards.
func TestHijackStaleSessionReplaced(t *testing.T) {
	RequireLab(t)
	c := StartPortcullis(t)
	const dpidHex = "00000000000e2e72"
	const dpid = 0xe2e72
	cfg := LabConfig(2)
	cfg.DatapathID = dpidHex
	l := StartLab(t, cfg) // no controller yet

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stale, err := ofconntest.Dial(ctx, c.Addr, ofconntest.Config{DPID: dpid, Ports: ofconntest.Ports(1), NoEchoReply: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	held := WaitSwitch(t, c, dpid)
	if held.Address != stale.Conn().LocalAddr().String() {
		t.Fatalf("switch %s listed from %s, want the stale client %s", dpidHex, held.Address, stale.Conn().LocalAddr())
	}

	start := time.Now()
	if err := l.SetController(c.Target); err != nil {
		t.Fatal(err)
	}
	var sw api.Switch
	waitFor(t, 20*time.Second, "Open vSwitch to hold the datapath id", func() bool {
		for _, s := range Switches(t, c) {
			if s.DatapathID == dpid && s.Address != held.Address {
				sw = s
				return true
			}
		}
		return false
	})
	t.Logf("Open vSwitch listed %v after set-controller (the probe waits up to 2 s)", time.Since(start).Round(10*time.Millisecond))
	select {
	case <-stale.Done():
	case <-ctx.Done():
		t.Error("the stale session was not closed")
	}
	WaitConnected(t, l, true)
	if n := switchCount(t, c, dpid); n != 1 {
		t.Errorf("switch listed %d times", n)
	}
	if n := len(refusedEvents(t, c, dpid)); n != 0 {
		t.Errorf("%d switch_refused events: the real switch was refused", n)
	}
	if !strings.Contains(c.Logs(), "its old session does not answer echo; closing the old session") {
		t.Error("no log line for the replaced session")
	}
	CheckPorts(t, sw, l)
	PingAll(t, l)
}
