package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"portcullis/internal/client"
	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// buildDir holds the binary built for this run; TestMain removes it.
var (
	buildDir  string
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (needs root, Open vSwitch and a few seconds per test)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "portcullis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// RequireLab skips t unless this machine can run a lab (root, Open vSwitch).
func RequireLab(t testing.TB) {
	t.Helper()
	if err := lab.CheckHost(); err != nil {
		testenv.Missing(t, "e2e: cannot run the lab here: %v", err)
	}
}

// repoRoot is the module root (two levels above this package).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary returns the path of the portcullis binary, built once per test run.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildPath = filepath.Join(buildDir, "portcullis")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/portcullis")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/portcullis: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServing starts cmd, a controller whose API listens on 127.0.0.1:api,
// with its output in the returned buffer, and waits up to 15 s for its
// /healthz; the test fails if it exits first. When the test ends it is
// stopped (SIGTERM, SIGKILL after 5 s), and its output logged if the test
// failed.
func startServing(t *testing.T, cmd *exec.Cmd, api int) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("controller logs:\n%s", logs.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", api)
	waitFor(t, 15*time.Second, "the controller's /healthz", func() bool {
		select {
		case <-done:
			t.Fatalf("the controller exited:\n%s", logs.String())
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return logs
}

// syncBuffer is a bytes.Buffer safe for a process writer and a test reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Controller is a running `portcullis run`.
type Controller struct {
	Addr   string // OpenFlow listen address, 127.0.0.1:PORT
	Target string // OVS controller target: tcp:127.0.0.1:PORT
	APIURL string // http://127.0.0.1:PORT2 (no trailing slash)

	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan struct{}
	stopOnce sync.Once
}

// API returns a typed client of the controller's REST API that sends token
// ("" for none).
func (c *Controller) API(token string) *client.Client {
	cl, err := client.New(c.APIURL, client.Options{Token: token, Timeout: 10 * time.Second})
	if err != nil {
		panic(err) // APIURL is ours: always a valid http:// URL
	}
	return cl
}

// Logs returns everything the controller wrote to stdout and stderr so far.
func (c *Controller) Logs() string { return c.logs.String() }

// Exited reports whether the controller process has ended.
func (c *Controller) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop ends the controller (SIGTERM, then SIGKILL after 5 s) and waits.
func (c *Controller) Stop() {
	c.stopOnce.Do(func() {
		if c.Exited() {
			return
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// StartController runs `portcullis run --listen 127.0.0.1:P
// --api-listen 127.0.0.1:Q ARGS...` (later flags override earlier ones) and
// waits until GET /healthz answers 200. The controller is stopped when the
// test ends; its logs are printed if the test failed.
func StartController(t testing.TB, args ...string) *Controller {
	t.Helper()
	bin := Binary(t)
	of, api := FreePort(t), FreePort(t)
	c := &Controller{
		Addr:   fmt.Sprintf("127.0.0.1:%d", of),
		Target: fmt.Sprintf("tcp:127.0.0.1:%d", of),
		APIURL: fmt.Sprintf("http://127.0.0.1:%d", api),
		logs:   &syncBuffer{},
		done:   make(chan struct{}),
	}
	argv := append([]string{"run", "--listen", c.Addr, "--api-listen", fmt.Sprintf("127.0.0.1:%d", api)}, args...)
	if !slices.Contains(args, "--state-dir") && !slices.Contains(args, "--config") {
		// Never the machine's /var/lib/portcullis.
		argv = append(argv, "--state-dir", t.TempDir())
	}
	shareWithController(t, argv)
	c.cmd = exec.Command(bin, argv...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("controller logs:\n%s", c.Logs())
		}
	})
	hc, err := client.New(c.APIURL, client.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c.Exited() {
			t.Fatalf("portcullis %s exited early:\n%s", strings.Join(argv, " "), c.Logs())
		}
		if err = hc.Healthz(t.Context()); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("portcullis run: /healthz not ready after 15s (last error %v):\n%s", err, c.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var labSeq atomic.Int32

// LabConfig returns a config for a fresh lab with a name unique to this run.
func LabConfig(hosts int) lab.Config {
	return lab.Config{
		Name:  fmt.Sprintf("e2e%d-%d", os.Getpid()%100000, labSeq.Add(1)),
		Hosts: hosts,
	}
}

// StartLab brings the lab cfg up (cfg.Name from LabConfig). When the test
// ends it takes the lab down and fails the test if anything was left behind.
func StartLab(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	RequireLab(t)
	if cfg.Name == "" {
		cfg.Name = LabConfig(cfg.Hosts).Name
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := lab.Down(ctx, cfg); err != nil {
			t.Errorf("lab down: %v", err)
		}
		AssertNoLeftovers(t, cfg)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l
}

// AssertNoLeftovers fails t if anything of lab cfg still exists.
func AssertNoLeftovers(t testing.TB, cfg lab.Config) {
	t.Helper()
	if left := lab.Leftovers(cfg); len(left) > 0 {
		t.Errorf("lab %s left behind: %s", cfg.Name, strings.Join(left, "; "))
	}
}

// Ping sends one echo request from host `from` to host `to` (1-based), over
// IPv6 when v6, trying up to `tries` times (ARP/ND and flow setup may drop
// the first).
func Ping(ctx context.Context, l *lab.Lab, from, to int, v6 bool, tries int) error {
	dst := l.Host(to).IP.String()
	if v6 {
		dst = l.Host(to).IPv6.String()
	}
	var err error
	var out []byte
	for range tries {
		out, err = l.Exec(ctx, l.Host(from).Name, "ping", "-n", "-c", "1", "-W", "1", dst).CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("ping %s -> %s: %v: %s", l.Host(from).Name, dst, err, strings.TrimSpace(string(out)))
}

// PingAll checks that every host reaches every other one, over IPv4 and
// IPv6, trying each pair up to 5 times.
func PingAll(t testing.TB, l *lab.Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hosts := l.Hosts()
	for _, v6 := range []bool{false, true} {
		for _, a := range hosts {
			for _, b := range hosts {
				if a.Index == b.Index {
					continue
				}
				if err := Ping(ctx, l, a.Index, b.Index, v6, 5); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// TCP runs an iperf3 transfer of `seconds` from host client to host server
// and returns the receiver's rate in bits per second.
func TCP(t testing.TB, l *lab.Lab, server, client int, seconds int) float64 {
	t.Helper()
	return Iperf(t, l, server, client, "-t", strconv.Itoa(seconds)).BitsPerSec
}
