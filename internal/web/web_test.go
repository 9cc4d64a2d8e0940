package web_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
	"portcullis/internal/web"
	"portcullis/internal/web/chrometest"
)

var update = flag.Bool("update", false, "write the dashboard screenshot to docs/dashboard.png")

func TestHandlerServesTheFiles(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html", `src="app.js"`},
		{"/app.js", "javascript", "/api/v1/events/stream"},
		{"/style.css", "text/css", "--blocked"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(body), tc.has) {
			t.Errorf("%s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.has, strings.Contains(string(body), tc.has))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	resp, err := http.Get(srv.URL + "/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown file: %d", resp.StatusCode)
	}
}

// TestNoThirdPartyResources: the dashboard must work without internet, so
// no file may load anything from another origin, and no script may be
// inline (the CSP forbids it).
func TestNoThirdPartyResources(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		for _, m := range remote.FindAllString(string(b), -1) {
			if !strings.Contains(m, "www.w3.org") { // XML namespace names, not fetched
				t.Errorf("%s refers to %s", p, m)
			}
		}
		if strings.HasSuffix(p, ".html") && regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).Match(b) {
			t.Errorf("%s has an inline script", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const token = "dash-token"

// TestDashboardInChromium loads the page in headless Chromium against the
// real API over a fake backend: the network picture shows the switch and a
// blocked host, an event published on the backend appears in the live feed,
// and clicking Unblock (after giving the token) lifts the block.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("headless browser test")
	}
	f := apitest.Demo()
	f.Publish(api.Event{Type: "switch_up", DPID: api.FormatDPID(1), Message: "switch connected from 127.0.0.1:40000"})
	f.Publish(api.Event{Type: "scan_detected", DPID: api.FormatDPID(1), Port: 3, MAC: "02:00:00:00:00:03", IP: "10.0.0.3",
		Kind: "tcp_syn", Message: "port scan: 6 failed first contacts to 10.0.0.1"})
	f.Publish(api.Event{Type: "blocked", Severity: "warning", DPID: api.FormatDPID(1), Port: 3, MAC: "02:00:00:00:00:03",
		IP: "10.0.0.3", BlockID: "b1", Kind: "tcp_syn", Message: "blocked for 10m"})
	srv := httptest.NewServer(api.New(f, api.Options{Tokens: []string{token}, OpenReadsOnLoopback: true,
		Dashboard: web.Handler(), Version: "test"}))
	t.Cleanup(srv.Close) // after the browser (cleanups run last first), which holds the event stream open
	b := chrometest.Start(t)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	within := func(d time.Duration, what, expr string) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := b.WaitFor(c, expr); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	within(10*time.Second, "the switch is drawn", `document.querySelector('#network g.switch[data-dpid="0000000000000001"]')`)
	within(5*time.Second, "three hosts around it", `document.querySelectorAll('#network g.host').length === 3`)
	within(5*time.Second, "the blocked host is red", `document.querySelector('#network g.host.blocked[data-mac="02:00:00:00:00:03"]') &&
		getComputedStyle(document.querySelector('#network g.host.blocked circle')).stroke === 'rgb(229, 72, 77)'`)
	within(5*time.Second, "the suspect has a score bar", `document.querySelector('#suspects li[data-mac="02:00:00:00:00:02"] .bar span').style.width === '50%'`)
	within(5*time.Second, "the block is listed", `document.querySelector('#blocks tr[data-id="b1"] button.unblock')`)
	within(5*time.Second, "the block says where it is confirmed", `document.querySelector('#blocks tr[data-id="b1"] .sw.confirmed[data-dpid="0000000000000001"]') &&
		document.querySelector('#blocks tr[data-id="b1"] .sw.pending[data-dpid="0000000000000002"]')`)
	within(5*time.Second, "the charts are drawn", `document.querySelectorAll('.chart svg path.line').length === 3`)
	within(5*time.Second, "recorded events are listed", `document.querySelectorAll('#events li').length === 3`)
	within(10*time.Second, "the event stream is live", `document.querySelector('#live.on')`)

	// An event published on the backend reaches the feed within seconds.
	f.Publish(api.Event{Type: "scan_detected", Severity: "warning", DPID: api.FormatDPID(1), Port: 2,
		MAC: "02:00:00:00:00:02", IP: "10.0.0.2", Kind: "host-sweep", Message: "ICMP echo sweep of 10.0.0.0/24 (marker-7731)"})
	within(5*time.Second, "a published event appears in the feed",
		`document.querySelector('#events li:first-child') && document.querySelector('#events li:first-child').textContent.includes('marker-7731')`)

	if *update {
		png, err := b.Screenshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/dashboard.png (%d bytes)", len(png))
	}

	// A wrong token is refused by the API: the block stays, the backend is
	// not asked, the page says so and forgets the token.
	if err := b.Eval(ctx, `sessionStorage.setItem('portcullis.token', 'wrong')`, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, `#blocks tr[data-id="b1"] button.unblock`); err != nil {
		t.Fatal(err)
	}
	within(5*time.Second, "the refusal is shown", `!document.querySelector('#toast').hidden && document.querySelector('#toast').textContent.includes('refused')`)
	within(2*time.Second, "the wrong token is forgotten", `sessionStorage.getItem('portcullis.token') === null`)
	if n := len(f.Blocks()); n != 1 || slices.Contains(f.Calls(), "RemoveBlock b1") {
		t.Fatalf("a wrong token reached the backend: blocks %d, calls %q", n, f.Calls())
	}

	// Unblock for real: the page asks for the token once, then DELETEs.
	if err := b.Click(ctx, `#blocks tr[data-id="b1"] button.unblock`); err != nil {
		t.Fatal(err)
	}
	within(5*time.Second, "the token dialog opens", `document.querySelector('#token-dialog').open && document.activeElement.id === 'token-input'`)
	if err := b.Type(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, "#token-ok"); err != nil {
		t.Fatal(err)
	}
	within(5*time.Second, "the block disappears from the list", `!document.querySelector('#blocks tr[data-id="b1"]') && !document.querySelector('#no-blocks').hidden`)
	within(5*time.Second, "the host is no longer red", `document.querySelectorAll('#network g.host').length === 3 && !document.querySelector('#network g.host.blocked')`)
	within(5*time.Second, "the unblocked event arrives", `[...document.querySelectorAll('#events li.type-unblocked')].length === 1`)
	if got := f.Calls(); !slices.Equal(got, []string{"RemoveBlock b1"}) {
		t.Fatalf("backend calls %q, want one RemoveBlock b1", got)
	}
	if len(f.Blocks()) != 0 {
		t.Fatalf("blocks left: %+v", f.Blocks())
	}
	var stored string
	if err := b.Eval(ctx, `sessionStorage.getItem('portcullis.token')`, &stored); err != nil || stored != token {
		t.Fatalf("token kept in sessionStorage: %q %v", stored, err)
	}
	for _, l := range b.Logs() {
		if strings.HasPrefix(l, "exception") {
			t.Errorf("page exception: %s", l)
		}
	}
}

// TestNetworkLayoutInChromium: with several switches and many hosts, every
// node is drawn inside the picture and no two nodes overlap.
func TestNetworkLayoutInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("headless browser test")
	}
	b := chrometest.Start(t) // one browser for every case
	for _, tc := range []struct{ switches, hosts int }{{1, 1}, {1, 12}, {1, 40}, {2, 5}, {3, 6}, {4, 4}, {6, 3}} {
		t.Run(fmt.Sprintf("%d switches x %d hosts", tc.switches, tc.hosts), func(t *testing.T) {
			f := apitest.New()
			var sws []api.Switch
			var hosts []api.Host
			for s := 1; s <= tc.switches; s++ {
				sws = append(sws, api.Switch{DPID: api.FormatDPID(uint64(s)), DatapathID: uint64(s), Address: "127.0.0.1:1"})
				for h := 1; h <= tc.hosts; h++ {
					hosts = append(hosts, api.Host{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", s, h),
						IPs: []string{fmt.Sprintf("10.%d.0.%d", s, h)}, DPID: api.FormatDPID(uint64(s)), Port: uint32(h)})
				}
			}
			f.SetSwitches(sws)
			f.SetHosts(hosts)
			srv := httptest.NewServer(api.New(f, api.Options{OpenReadsOnLoopback: true, Dashboard: web.Handler()}))
			defer func() {
				// Leave the page so its event stream lets the server close.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := b.Navigate(ctx, "about:blank"); err != nil {
					t.Error(err)
				}
				srv.CloseClientConnections()
				srv.Close()
			}()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
				t.Fatal(err)
			}
			want := tc.switches * (tc.hosts + 1)
			if err := b.WaitFor(ctx, fmt.Sprintf(`document.querySelectorAll('#network g.host, #network g.switch').length === %d`, want)); err != nil {
				t.Fatal(err)
			}
			var problems []string
			err := b.Eval(ctx, `(() => {
				const box = document.querySelector('#network').getBoundingClientRect();
				const nodes = [...document.querySelectorAll('#network g.host circle, #network g.switch rect')].map(e =>
					({ r: e.getBoundingClientRect(), round: e.tagName === 'circle' }));
				const overlap = (a, b) => {
					if (a.round && b.round) { // circles: centre distance against the radii
						const d = Math.hypot(a.r.x + a.r.width / 2 - b.r.x - b.r.width / 2, a.r.y + a.r.height / 2 - b.r.y - b.r.height / 2);
						return d < a.r.width / 2 + b.r.width / 2;
					}
					return a.r.left < b.r.right && b.r.left < a.r.right && a.r.top < b.r.bottom && b.r.top < a.r.bottom;
				};
				const out = [];
				nodes.forEach((n, i) => {
					const r = n.r;
					if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) out.push('node ' + i + ' outside the picture');
					nodes.slice(i + 1).forEach((q, j) => { if (overlap(n, q)) out.push('nodes ' + i + ' and ' + (i + 1 + j) + ' overlap'); });
				});
				return out; })()`, &problems)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) > 0 {
				t.Errorf("layout: %v", problems)
			}
		})
	}
}
