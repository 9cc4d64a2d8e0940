package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parseTarget splits an OVS active controller target "tcp:HOST:PORT" or
// "ssl:HOST:PORT" (HOST may be [v6]) into scheme and host:port.
func parseTarget(t string) (scheme, hostport string, err error) {
	scheme, rest, ok := strings.Cut(t, ":")
	if !ok || (scheme != "tcp" && scheme != "ssl") {
		return "", "", fmt.Errorf("lab: controller target %q: want tcp:HOST:PORT or ssl:HOST:PORT", t)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", "", fmt.Errorf("lab: controller target %q: %w", t, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("lab: controller target %q: bad port", t)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return scheme, net.JoinHostPort(host, port), nil
}

// setController (re)starts the relay for targets and points the bridge at it.
func (l *Lab) setController(ctx context.Context, targets []string) error {
	// Unchanged targets on a running lab: keep the relay and the Controller
	// rows, so an `up` on a healthy lab does not break the controller's
	// connection.
	want := fmt.Sprintf("%s\nmax_backoff=%d inactivity_probe=%d\n", strings.Join(targets, " "),
		l.cfg.MaxBackoff.Milliseconds(), l.cfg.InactivityProbe.Milliseconds())
	if len(targets) > 0 && l.relayAlive() {
		if b, err := os.ReadFile(l.path("relay.spec")); err == nil && string(b) == want {
			if st, err := l.Status(); err == nil && sameTargets(st.Controllers, targets, len(l.cfg.bridges())) {
				return nil
			}
		}
	}
	l.stopRelay()
	if len(targets) == 0 {
		for _, br := range l.cfg.bridges() {
			if _, err := l.vsctl(ctx, "clear", "Bridge", br, "controller"); err != nil {
				return err
			}
		}
		return nil
	}
	spec := relaySpec{Netns: netnsDir + "/" + l.cfg.SwitchNetns(), Ready: l.path("relay.addrs")}
	used := map[string]bool{}
	schemes := make([]string, len(targets))
	for i, t := range targets {
		scheme, hp, err := parseTarget(t)
		if err != nil {
			return err
		}
		schemes[i] = scheme
		_, port, _ := net.SplitHostPort(hp)
		listen := "127.0.0.1:" + port
		if used[port] {
			listen = "127.0.0.1:0"
		}
		used[port] = true
		spec.Routes = append(spec.Routes, relayRoute{Listen: listen, Dial: hp})
	}
	addrs, err := l.startRelay(ctx, spec)
	if err != nil {
		return err
	}
	args := []string{}
	for b, br := range l.cfg.bridges() {
		var ids []string
		for i, t := range targets {
			id := fmt.Sprintf("@c%d_%d", b, i)
			ids = append(ids, id)
			args = append(args, "--", "--id="+id, "create", "Controller",
				fmt.Sprintf("target=%q", schemes[i]+":"+addrs[i]),
				fmt.Sprintf("max_backoff=%d", l.cfg.MaxBackoff.Milliseconds()),
				"connection_mode=out-of-band",
				fmt.Sprintf("external_ids:portcullis-target=%q", t))
			if l.cfg.InactivityProbe > 0 {
				args = append(args, fmt.Sprintf("inactivity_probe=%d", l.cfg.InactivityProbe.Milliseconds()))
			}
		}
		args = append(args, "--", "set", "Bridge", br, "controller=["+strings.Join(ids, ",")+"]")
	}
	_, err = l.vsctl(ctx, args[1:]...)
	if err == nil {
		err = os.WriteFile(l.path("relay.spec"), []byte(want), 0o644)
	}
	if err == nil {
		l.mu.Lock()
		l.cfg.Controllers = append([]string(nil), targets...)
		l.mu.Unlock()
	}
	return err
}

func (l *Lab) relayAlive() bool {
	pid := readPid(l.path("relay.pid"))
	return pid != 0 && ours(pid, l.cfg.RunDir)
}

func sameTargets(cs []ControllerStatus, targets []string, bridges int) bool {
	if len(cs) != len(targets)*bridges {
		return false
	}
	for _, c := range cs {
		if !slices.Contains(targets, c.Target) {
			return false
		}
	}
	return true
}

func (l *Lab) stopRelay() {
	if pid := readPid(l.path("relay.pid")); pid != 0 && ours(pid, l.cfg.RunDir) {
		terminate([]int{pid})
	}
	os.Remove(l.path("relay.pid"))
	os.Remove(l.path("relay.addrs"))
	os.Remove(l.path("relay.spec"))
}

// startRelay starts this binary as a detached relay process and returns the
// addresses it listens on inside the switch namespace, one per route.
func (l *Lab) startRelay(ctx context.Context, spec relaySpec) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	js, _ := json.Marshal(spec)
	logf, err := os.OpenFile(l.path("relay.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "lab-relay", "--name="+l.cfg.Name, "--run-dir="+l.cfg.RunDir)
	cmd.Env = append(os.Environ(), relayEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reaps the relay when Down ends it
	if err := os.WriteFile(l.path("relay.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		if b, err := os.ReadFile(spec.Ready); err == nil {
			addrs := strings.Fields(string(b))
			if len(addrs) == len(spec.Routes) {
				return addrs, nil
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(l.path("relay.log"))
			return nil, fmt.Errorf("lab: relay exited: %s", strings.TrimSpace(string(log)))
		case <-deadline.C:
			cmd.Process.Kill()
			return nil, errors.New("lab: relay did not start within 5s")
		case <-ctx.Done():
			cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
