// Package chrometest starts a headless Chromium for the dashboard's browser
// tests and drives it through github.com/chromedp/chromedp (the Chrome
// DevTools Protocol). The dashboard's unit tests use it against an httptest
// server; the end-to-end tests use it against a real controller.
//
// A Browser is one Chromium process with one page (a chromedp context). Its
// methods take a context for their deadline; they are safe for concurrent
// use, but a test normally drives the page from one goroutine.
package chrometest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"portcullis/internal/testenv"
)

// Find returns the path of a Chromium (or Chrome) binary, or "".
func Find() string {
	if p := os.Getenv("PORTCULLIS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is a headless Chromium with one page.
type Browser struct {
	page        context.Context // chromedp's context of the page (its tab)
	cancelPage  context.CancelFunc
	cancelAlloc context.CancelFunc

	mu   sync.Mutex
	logs []string // console messages and exceptions, for failure reports
}

// Start launches Chromium with a temporary profile and a 1280x900 window,
// or skips the test if there is none (install Debian's "chromium" package;
// under CI it fails instead). The browser is stopped when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin := Find()
	if bin == "" {
		testenv.Missing(t, "chromium not found: apt-get install chromium (or set PORTCULLIS_CHROMIUM)")
	}
	b, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range b.Logs() {
				t.Logf("browser: %s", l)
			}
		}
		b.Close()
	})
	return b
}

func start(bin, profile string) (*Browser, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 900),
	)
	// chromedp ends the browser's processes when the allocator's context
	// ends.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{cancelAlloc: cancelAlloc}
	b.page, b.cancelPage = chromedp.NewContext(actx, chromedp.WithListener(b.event))
	// The first action starts the browser and attaches to its page. Its
	// context becomes the browser's lifetime, so it is the page's own,
	// cancelled only if start-up hangs.
	hung := time.AfterFunc(45*time.Second, b.cancelPage)
	err := chromedp.Do(b.page, chromedp.EmulateViewport(1280, 900))
	hung.Stop()
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("chrometest: %w", err)
	}
	return b, nil
}

// event records console output and uncaught exceptions.
func (b *Browser) event(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		if ev.ExceptionDetails == nil {
			return
		}
		line = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			line += " " + ev.ExceptionDetails.Exception.Description
		}
	default:
		return
	}
	b.mu.Lock()
	if len(b.logs) < 500 {
		b.logs = append(b.logs, line)
	}
	b.mu.Unlock()
}

// Logs returns the page's console messages and uncaught exceptions so far.
func (b *Browser) Logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// ctx returns a context for one call: the page's (it carries the tab), ended
// when ctx ends too.
func (b *Browser) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancel(b.page)
	stop := context.AfterFunc(ctx, cancel)
	return rctx, func() { stop(); cancel() }
}

// Do runs chromedp actions on the page until they finish or ctx ends, for
// what the helpers below do not cover.
func (b *Browser) Do(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	return wrap(ctx, chromedp.Do(rctx, actions...))
}

func wrap(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("chrometest: %w (%v)", ctx.Err(), err)
	}
	return fmt.Errorf("chrometest: %w", err)
}

// Navigate loads url and waits until the new document has loaded.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	return b.Do(ctx, chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON value into out (if non-nil).
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	raw, err := chromedp.Run(rctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise,
		func(p *runtime.EvaluateParams) { t := true; p.UserGesture = &t }))
	if err != nil {
		return wrap(ctx, err)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// WaitFor polls a JavaScript expression in the page until it is true or ctx
// ends; an expression that throws (an element not there yet) counts as
// false, and a poll cut short by a navigation (its execution context gone)
// starts again in the new document.
func (b *Browser) WaitFor(ctx context.Context, expr string) error {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	for {
		_, err := chromedp.Run(rctx, chromedp.Poll[chromedp.Void](
			"(() => { try { return Boolean("+expr+"); } catch (e) { return false; } })()",
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0)))
		if err == nil {
			return nil
		}
		select {
		case <-rctx.Done():
			return fmt.Errorf("waiting for %s: %w", expr, wrap(ctx, err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Click scrolls the first element matching a CSS selector into view and
// clicks its centre with the mouse, as a user would.
//
// A page that re-renders between finding the node and clicking it (the
// dashboard redraws its tables on every refresh) makes the node vanish
// ("Could not find node with given id"): the click is tried again on the
// new node, a few times.
func (b *Browser) Click(ctx context.Context, selector string) error {
	var err error
	for range 5 {
		err = b.Do(ctx, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
		if err == nil || !strings.Contains(err.Error(), "Could not find node") {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Type inserts text into the focused element, as typing would.
func (b *Browser) Type(ctx context.Context, text string) error {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	_, err := chromedp.Call(rctx, input.InsertText, input.InsertTextParams{Text: text})
	return wrap(ctx, err)
}

// Screenshot returns a PNG of the viewport.
func (b *Browser) Screenshot(ctx context.Context) ([]byte, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	png, err := chromedp.Run(rctx, chromedp.CaptureScreenshot())
	return png, wrap(ctx, err)
}

// Close stops the browser and waits for it to exit.
func (b *Browser) Close() {
	ctx, cancel := context.WithTimeout(b.page, 3*time.Second)
	chromedp.Cancel(ctx) // closes the page and the browser gracefully
	cancel()
	b.cancelPage()
	b.cancelAlloc() // ends what is left and waits for it
}
