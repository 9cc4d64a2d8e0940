package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/testenv"
	"portcullis/internal/web/chrometest"
)

// This file: issue 4 item 4's check of the live dashboard in headless
// Chromium against the real controller and a real lab: the page loads from
// the API listener and shows the switch and its hosts, an nmap scan in the
// lab appears on it within seconds, and Unblock on the page (with the
// token) lifts the block so the scanner reaches the network again.
//
// PORTCULLIS_E2E_SCREENSHOT=FILE.png keeps a screenshot of the page with
// the block on it.

// TestDashboardLive drives the dashboard as an operator would.
func TestDashboardLive(t *testing.T) {
	if chrometest.Find() == "" {
		testenv.Missing(t, "e2e: chromium not found: apt-get install chromium (or set PORTCULLIS_CHROMIUM)")
	}
	c, l := opLab(t, 3)
	opLearnHosts(t, c, l)
	dpid := api.FormatDPID(DPID(t, l))
	b := chrometest.Start(t) // stopped before the controller (cleanups run last first)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	within := func(d time.Duration, what, expr string) time.Duration {
		t.Helper()
		start := time.Now()
		wc, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := b.WaitFor(wc, expr); err != nil {
			var body string
			b.Eval(ctx, `document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 2000) : ''`, &body)
			t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
		}
		return time.Since(start)
	}

	// The page loads from the controller's API listener and draws the lab.
	if err := b.Navigate(ctx, c.APIURL+"/"); err != nil {
		t.Fatal(err)
	}
	within(10*time.Second, "the lab's switch is drawn", fmt.Sprintf(`document.querySelector('#network g.switch[data-dpid=%q]')`, dpid))
	for _, h := range l.Hosts() {
		within(10*time.Second, "host "+h.Name+" is drawn", fmt.Sprintf(`document.querySelector('#network g.host[data-mac=%q]')`, h.MAC.String()))
	}
	within(10*time.Second, "the event stream is live", `document.querySelector('#live.on')`)
	within(5*time.Second, "no block yet", `!document.querySelector('#blocks tbody tr') && !document.querySelector('#no-blocks').hidden`)
	within(5*time.Second, "the switch_up event is in the feed", `document.querySelector('#events li.type-switch_up')`)

	// A scan in the lab: nmap from h3 at h2. The block and the events
	// reach the page within seconds.
	scan := scanStart(t, l, 3, 60*time.Second, "nmap", "-n", "-Pn", "-sS", "-T4", "-p", "1-300", l.Host(2).IP.String())
	start := time.Now()
	h3 := l.Host(3).MAC.String()
	within(20*time.Second, "the block appears in the blocks list", `document.querySelector('#blocks tbody tr[data-id] button.unblock')`)
	shown := time.Since(start)
	within(5*time.Second, "the blocked event appears in the feed", `document.querySelector('#events li.type-blocked')`)
	within(5*time.Second, "the scanner is drawn as blocked", fmt.Sprintf(`document.querySelector('#network g.host.blocked[data-mac=%q]')`, h3))
	scan.Kill()
	blocks := scanBlocks(t, c)
	scanBlockedOnly(t, l, blocks, 3)
	if len(blocks) == 0 {
		t.FailNow()
	}
	id := blocks[0].ID
	t.Logf("nmap -sS from h3: block %s on the page %v after the scan started", id, shown.Round(10*time.Millisecond))
	var rowText string
	if err := b.Eval(ctx, fmt.Sprintf(`document.querySelector('#blocks tr[data-id=%q]') ? document.querySelector('#blocks tr[data-id=%q]').innerText : ''`, id, id), &rowText); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rowText, h3) && !strings.Contains(rowText, l.Host(3).IP.String()) {
		t.Errorf("the page's row for block %s does not name the scanner (%s, %s): %q", id, h3, l.Host(3).IP, rowText)
	}
	if p := os.Getenv("PORTCULLIS_E2E_SCREENSHOT"); p != "" {
		if png, err := b.Screenshot(ctx); err == nil {
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	if scanPing(l, 3, 2, false, 1) {
		t.Fatal("h3 still pings h2 while blocked")
	}

	// A wrong token: the controller refuses, the page says so, the block
	// stays.
	if err := b.Eval(ctx, `sessionStorage.setItem('portcullis.token', 'wrong-token-0123456789')`, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, fmt.Sprintf(`#blocks tr[data-id=%q] button.unblock`, id)); err != nil {
		t.Fatal(err)
	}
	within(5*time.Second, "the refusal is shown", `!document.querySelector('#toast').hidden && document.querySelector('#toast').textContent.includes('refused')`)
	if left := scanBlocks(t, c); len(left) != 1 || left[0].ID != id {
		t.Fatalf("after Unblock with a wrong token the API lists %s, want block %s still there", scanJSON(left), id)
	}
	within(5*time.Second, "the block is still listed", fmt.Sprintf(`document.querySelector('#blocks tr[data-id=%q]')`, id))

	// Unblock from the page: it asks for the token, then the block is
	// gone from the page, from the API, and from the switch.
	if err := b.Click(ctx, fmt.Sprintf(`#blocks tr[data-id=%q] button.unblock`, id)); err != nil {
		t.Fatal(err)
	}
	within(5*time.Second, "the token dialog opens", `document.querySelector('#token-dialog').open && document.activeElement.id === 'token-input'`)
	if err := b.Type(ctx, opToken); err != nil {
		t.Fatal(err)
	}
	if err := b.Click(ctx, "#token-ok"); err != nil {
		t.Fatal(err)
	}
	within(10*time.Second, "the block leaves the list", fmt.Sprintf(`!document.querySelector('#blocks tr[data-id=%q]') && !document.querySelector('#no-blocks').hidden`, id))
	within(10*time.Second, "the unblocked event appears in the feed", `document.querySelector('#events li.type-unblocked')`)
	within(10*time.Second, "the scanner is no longer drawn as blocked", `!document.querySelector('#network g.host.blocked')`)
	if left := scanBlocks(t, c); len(left) != 0 {
		t.Errorf("the API still lists blocks after Unblock on the page: %s", scanJSON(left))
	}
	if ev := scanEvents(t, c, "unblocked"); len(ev) != 1 || ev[0].BlockID != id {
		t.Errorf("unblocked events: %s, want one for %s", scanJSON(ev), id)
	}
	if f := scanDropFlows(t, l, h3); len(f) != 0 {
		t.Errorf("the block's drop flows are still in the switch: %q", f)
	}
	if !scanPing(l, 3, 2, false, 5) {
		t.Error("h3 cannot ping h2 after Unblock on the page")
	}
	for _, line := range b.Logs() {
		if strings.HasPrefix(line, "exception") {
			t.Errorf("page exception: %s", line)
		}
	}
}
