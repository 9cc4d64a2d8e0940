package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Etcd is a single-member etcd (the Debian package etcd-server) that the lab
// runs for controllers sharing one network: its own data directory, client
// and peer URLs on loopback only, its log in the data directory.
type Etcd struct {
	Name     string
	Dir      string // data directory and etcd.log
	Endpoint string // client URL, http://127.0.0.1:PORT
	peer     string
	cmd      *exec.Cmd
	done     chan struct{}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartEtcd starts etcd with its data under dir and waits until it answers
// its health check. The ports are chosen at random on 127.0.0.1.
func StartEtcd(ctx context.Context, name, dir string) (*Etcd, error) {
	if _, err := exec.LookPath("etcd"); err != nil {
		return nil, fmt.Errorf("lab: etcd not installed (apt-get install etcd-server): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: etcd data dir: %w", err)
	}
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &Etcd{
		Name:     name,
		Dir:      dir,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(cp),
		peer:     "http://127.0.0.1:" + strconv.Itoa(pp),
	}
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Etcd) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(e.Dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("lab: etcd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("etcd",
		"--name", e.Name,
		"--data-dir", filepath.Join(e.Dir, "data"),
		"--listen-client-urls", e.Endpoint,
		"--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", e.peer,
		"--initial-advertise-peer-urls", e.peer,
		"--initial-cluster", e.Name+"="+e.peer,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", e.Name,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, and gone with the test or lab that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lab: start etcd: %w", err)
	}
	e.cmd = cmd
	e.done = make(chan struct{})
	go func() { cmd.Wait(); close(e.done) }()
	return e.waitHealthy(ctx)
}

func (e *Etcd) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Endpoint+"/health", nil)
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-e.done:
			return fmt.Errorf("lab: etcd exited at start (see %s)", filepath.Join(e.Dir, "etcd.log"))
		case <-ctx.Done():
			e.Kill()
			return fmt.Errorf("lab: etcd not healthy at %s (see %s): %w", e.Endpoint, filepath.Join(e.Dir, "etcd.log"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill stops etcd at once (SIGKILL) and waits for it to exit.
func (e *Etcd) Kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Kill()
	<-e.done
}

// Stop stops etcd cleanly (SIGTERM, then SIGKILL after 5 s).
func (e *Etcd) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		e.Kill()
	}
}

// Restart stops etcd and starts it again on the same ports and data.
func (e *Etcd) Restart(ctx context.Context) error {
	e.Stop()
	if err := e.start(ctx); err != nil {
		return errors.Join(errors.New("lab: restart etcd"), err)
	}
	return nil
}
