// Package chrometest drives a headless Chromium through the Chrome DevTools
// Protocol, with nothing but the standard library (a tiny websocket client
// and JSON). The dashboard's tests use it against an httptest server; the
// end-to-end tests can use it against a real controller.
//
// A Browser is one Chromium process with one page. Its methods are safe for
// concurrent use, but a test normally drives it from one goroutine.
package chrometest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"portcullis/internal/testenv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// Browser is a headless Chromium with one page attached over CDP.
type Browser struct {
	cmd  *exec.Cmd
	ws   *wsConn
	mu   sync.Mutex
	next int64
	wait map[int64]chan response
	logs []string // console messages and exceptions, for failure reports
	done chan struct{}
	err  error
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Start launches Chromium with a temporary profile and a 1280x900 window,
// or skips the test if there is none (install Debian's "chromium" package).
// The browser is stopped when the test ends.
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
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--window-size=1280,900",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	// Its own process group, so Close can end its helpers too; killed if the
	// test binary dies (a test timeout skips the cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	var tail []string
	var tmu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if _, u, ok := strings.Cut(line, "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
			tmu.Lock()
			if len(tail) < 40 {
				tail = append(tail, line)
			}
			tmu.Unlock()
		}
		close(found)
	}()
	var browserWS string
	select {
	case u, ok := <-found:
		if !ok {
			cmd.Wait()
			tmu.Lock()
			defer tmu.Unlock()
			return nil, fmt.Errorf("chromium exited before DevTools was ready:\n%s", strings.Join(tail, "\n"))
		}
		browserWS = u
	case <-time.After(45 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("chromium did not announce DevTools within 45s")
	}
	// ws://127.0.0.1:PORT/devtools/browser/ID -> the page's endpoint.
	rest := strings.TrimPrefix(browserWS, "ws://")
	host, _, _ := strings.Cut(rest, "/")
	pageWS, err := pageEndpoint("http://" + host)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	ws, err := dialWS(pageWS)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	b := &Browser{cmd: cmd, ws: ws, wait: map[int64]chan response{}, done: make(chan struct{})}
	go b.readLoop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range []string{"Page.enable", "Runtime.enable"} {
		if _, err := b.Call(ctx, m, nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	if _, err := b.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func pageEndpoint(base string) (string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/json/list")
		if err == nil {
			var targets []struct {
				Type string `json:"type"`
				WS   string `json:"webSocketDebuggerUrl"`
			}
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, t := range targets {
				if t.Type == "page" && t.WS != "" {
					return t.WS, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("chrometest: no page target at %s: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *Browser) readLoop() {
	defer close(b.done)
	for {
		msg, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.err = err
			for id, ch := range b.wait {
				close(ch)
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID     int64           `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			response
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.wait[m.ID]
			delete(b.wait, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m.response
			}
			continue
		}
		b.event(m.Method, m.Params)
	}
}

// event records console output and uncaught exceptions.
func (b *Browser) event(method string, params json.RawMessage) {
	var line string
	switch method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = "console." + p.Type + ": " + strings.Join(parts, " ")
	case "Runtime.exceptionThrown":
		var p struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(params, &p)
		line = "exception: " + p.Details.Text + " " + p.Details.Exception.Description
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

// Call sends one CDP command and waits for its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return nil, fmt.Errorf("chrometest: connection closed: %w", err)
	}
	b.next++
	id := b.next
	ch := make(chan response, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.ws.WriteText(msg); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("chrometest: %s: connection closed", method)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("chrometest: %s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("chrometest: %s: %w", method, ctx.Err())
	}
}

// Navigate loads url and waits until the new document has loaded.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	// A marker on the old document tells it from the new one.
	if err := b.Eval(ctx, `window.__chrometestOld = true`, nil); err != nil {
		return err
	}
	res, err := b.Call(ctx, "Page.navigate", map[string]any{"url": url})
	if err != nil {
		return err
	}
	var r struct {
		ErrorText string `json:"errorText"`
	}
	json.Unmarshal(res, &r)
	if r.ErrorText != "" {
		return fmt.Errorf("chrometest: navigate %s: %s", url, r.ErrorText)
	}
	return b.WaitFor(ctx, `window.__chrometestOld === undefined && document.readyState === "complete"`)
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON value into out (if non-nil).
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	res, err := b.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true, "userGesture": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("chrometest: %s: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// WaitFor polls a JavaScript expression until it is true or ctx ends.
func (b *Browser) WaitFor(ctx context.Context, expr string) error {
	var last error
	for {
		var ok bool
		err := b.Eval(ctx, "Boolean("+expr+")", &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("chrometest: waiting for %s: %w (last error: %v)", expr, ctx.Err(), last)
			}
			return fmt.Errorf("chrometest: waiting for %s: %w", expr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Click scrolls the first element matching a CSS selector into view and
// clicks its centre with the mouse, as a user would.
func (b *Browser) Click(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	var pt struct {
		X, Y  float64
		Found bool
	}
	err := b.Eval(ctx, `(() => { const e = document.querySelector(`+string(sel)+`);
		if (!e) return {Found: false};
		e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect();
		return {Found: true, X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, &pt)
	if err != nil {
		return err
	}
	if !pt.Found {
		return fmt.Errorf("chrometest: click: no element matches %s", selector)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": pt.X, "y": pt.Y}
		if typ != "mouseMoved" {
			p["button"] = "left"
			p["clickCount"] = 1
		}
		if _, err := b.Call(ctx, "Input.dispatchMouseEvent", p); err != nil {
			return err
		}
	}
	return nil
}

// Type inserts text into the focused element, as typing would.
func (b *Browser) Type(ctx context.Context, text string) error {
	_, err := b.Call(ctx, "Input.insertText", map[string]any{"text": text})
	return err
}

// Screenshot returns a PNG of the viewport.
func (b *Browser) Screenshot(ctx context.Context) ([]byte, error) {
	res, err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Close stops the browser and waits for it to exit.
func (b *Browser) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	b.Call(ctx, "Browser.close", nil) // best effort; the kill below is the backstop
	cancel()
	b.ws.Close()
	<-b.done
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
	// Renderer and zygote processes of this browser share its group.
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
}
