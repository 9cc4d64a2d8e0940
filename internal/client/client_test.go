package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
	"portcullis/internal/client"
)

const token = "s3cret"

// serve runs the real API handler over a demo fake.
func serve(t *testing.T) (*apitest.Fake, string) {
	t.Helper()
	f := apitest.Demo()
	srv := httptest.NewServer(api.New(f, api.Options{Tokens: []string{token}, OpenReadsOnLoopback: true, Version: "v1"}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func newClient(t *testing.T, url, tok string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Token: tok, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:6680", "ftp://x", "http://"} {
		if _, err := client.New(u, client.Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestReads(t *testing.T) {
	_, url := serve(t)
	c := newClient(t, url, "")
	ctx := t.Context()
	st, err := c.Status(ctx)
	if err != nil || st.Version != "v1" || st.Switches != 1 || st.Hosts != 3 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if sw, err := c.Switches(ctx); err != nil || len(sw) != 1 || sw[0].DatapathID != 1 || len(sw[0].Ports) != 3 {
		t.Errorf("Switches = %+v, %v", sw, err)
	}
	if h, err := c.Hosts(ctx); err != nil || len(h) != 3 {
		t.Errorf("Hosts = %+v, %v", h, err)
	}
	if s, err := c.Suspects(ctx); err != nil || len(s) != 1 {
		t.Errorf("Suspects = %+v, %v", s, err)
	}
	if b, err := c.Blocks(ctx); err != nil || len(b) != 1 || b[0].ID != "b1" {
		t.Errorf("Blocks = %+v, %v", b, err)
	}
	if a, err := c.Allowlist(ctx); err != nil || len(a) != 1 || a[0].CIDR != netip.MustParsePrefix("10.0.0.254/32") {
		t.Errorf("Allowlist = %+v, %v", a, err)
	}
	if _, err := c.Stats(ctx); err != nil {
		t.Errorf("Stats: %v", err)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Errorf("Healthz: %v", err)
	}
}

func TestChangesNeedToken(t *testing.T) {
	_, url := serve(t)
	ctx := t.Context()
	anon := newClient(t, url, "")
	_, err := anon.AddBlock(ctx, api.BlockRequest{IP: netip.MustParseAddr("10.0.0.9")})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != api.CodeUnauthorized {
		t.Fatalf("AddBlock without token: %v, want a 401 *client.Error", err)
	}

	c := newClient(t, url, token)
	b, err := c.AddBlock(ctx, api.BlockRequest{IP: netip.MustParseAddr("10.0.0.9"), MAC: "02:00:00:00:00:09",
		Duration: 10 * time.Minute, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID == "" || b.MAC != "02:00:00:00:00:09" || len(b.IPs) != 1 || b.IPs[0] != "10.0.0.9" || b.Reason != "test" {
		t.Errorf("AddBlock = %+v", b)
	}
	if d := b.Expires.Sub(b.Created); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("block lasts %v, want 10m", d)
	}
	if err := c.RemoveBlock(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveBlock(ctx, b.ID); !client.IsNotFound(err) {
		t.Errorf("second RemoveBlock: %v, want not found", err)
	}

	e, err := c.AddAllow(ctx, api.AllowEntry{CIDR: netip.MustParsePrefix("192.0.2.0/24"), Ports: api.Ports(22, 443), Comment: "pollers"})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || e.CIDR.String() != "192.0.2.0/24" || len(e.Ports) != 2 || e.Comment != "pollers" {
		t.Errorf("AddAllow = %+v", e)
	}
	if err := c.RemoveAllow(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveAllow(ctx, "nope"); !client.IsNotFound(err) {
		t.Errorf("RemoveAllow(nope): %v, want not found", err)
	}
}

func TestEventsAndStream(t *testing.T) {
	f, url := serve(t)
	ctx := t.Context()
	c := newClient(t, url, "")
	base, err := c.Events(ctx, client.EventQuery{Limit: 1, Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	last := base.NextAfterID
	for range 3 {
		f.Publish(api.Event{Type: "blocked", MAC: "02:00:00:00:00:07"})
	}
	f.Publish(api.Event{Type: "switch_up"})
	all, err := c.AllEvents(ctx, client.EventQuery{AfterID: last, Types: []string{"blocked"}, Limit: 2})
	if err != nil || len(all) != 3 {
		t.Fatalf("AllEvents (pages of 2) = %d events, %v; want 3", len(all), err)
	}

	s, err := c.OpenStream(ctx, last, "switch_up")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Next() // replayed after last
	if err != nil || e.Type != "switch_up" {
		t.Fatalf("Next = %+v, %v", e, err)
	}
	f.Publish(api.Event{Type: "blocked"})
	f.Publish(api.Event{Type: "switch_up", DPID: api.FormatDPID(9)})
	e, err = s.Next()
	if err != nil || e.Type != "switch_up" || e.DPID != api.FormatDPID(9) {
		t.Fatalf("Next = %+v, %v", e, err)
	}
	s.Close()
	if _, err := s.Next(); err == nil {
		t.Error("Next after Close returned no error")
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, "")
	_, err := c.Status(t.Context())
	if !client.IsUnreachable(err) {
		t.Fatalf("Status against a closed port: %v, want unreachable", err)
	}
	if _, err := c.OpenStream(t.Context(), 0); !client.IsUnreachable(err) {
		t.Fatalf("OpenStream against a closed port: %v, want unreachable", err)
	}
}

func TestNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "proxy says no\n")
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL, "").Blocks(t.Context())
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Message != "proxy says no" {
		t.Fatalf("err = %#v", err)
	}
}

// HostsPage asks for one switch's hosts and a page of them.
func TestHostsPage(t *testing.T) {
	_, url := serve(t)
	c := newClient(t, url, "")
	ctx := t.Context()
	if l, err := c.HostsPage(ctx, client.HostQuery{}); err != nil || len(l.Hosts) != 3 || l.Total != 3 || l.More {
		t.Errorf("HostsPage(all) = %+v, %v", l, err)
	}
	if l, err := c.HostsPage(ctx, client.HostQuery{DPID: 1, HasDPID: true, Limit: 2}); err != nil || len(l.Hosts) != 2 || l.Total != 3 || !l.More {
		t.Errorf("HostsPage(dpid 1, limit 2) = %+v, %v", l, err)
	}
	if l, err := c.HostsPage(ctx, client.HostQuery{DPID: 2, HasDPID: true}); err != nil || len(l.Hosts) != 0 || l.Total != 0 {
		t.Errorf("HostsPage(dpid 2) = %+v, %v", l, err)
	}
}
