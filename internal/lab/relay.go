package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// relayEnv names the environment variable that turns a process started by
// this package into a controller relay (see RelayMain).
const relayEnv = "PORTCULLIS_LAB_RELAY"

// relaySpec is what the parent passes to a relay process (as JSON in relayEnv).
type relaySpec struct {
	Netns  string       `json:"netns"`  // path of the switch namespace
	Ready  string       `json:"ready"`  // file written once all listeners are up
	Routes []relayRoute `json:"routes"` // one per controller target
}

type relayRoute struct {
	Listen string `json:"listen"` // host:port inside Netns ("127.0.0.1:0" for any port)
	Dial   string `json:"dial"`   // host:port in the relay's own namespace
}

func init() {
	// A relay is this same binary re-executed with relayEnv set: run the relay
	// and never return to the program's main (tests and the portcullis binary
	// alike).
	if os.Getenv(relayEnv) != "" {
		os.Exit(RelayMain())
	}
}

// RelayMain runs the controller relay described by the PORTCULLIS_LAB_RELAY
// environment variable and returns an exit code. Programs importing this
// package never need to call it: the package's init does when the variable is
// set. It is exported for documentation.
func RelayMain() int {
	var spec relaySpec
	if err := json.Unmarshal([]byte(os.Getenv(relayEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "lab relay: bad spec:", err)
		return 2
	}
	os.Unsetenv(relayEnv)
	var addrs []string
	var lns []net.Listener
	for _, r := range spec.Routes {
		ln, err := listenInNetns(spec.Netns, r.Listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lab relay:", err)
			return 1
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	tmp := spec.Ready + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(addrs, "\n")+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "lab relay:", err)
		return 1
	}
	if err := os.Rename(tmp, spec.Ready); err != nil {
		fmt.Fprintln(os.Stderr, "lab relay:", err)
		return 1
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveRelay(ln, spec.Routes[i].Dial)
		}()
	}
	wg.Wait()
	return 0
}

// serveRelay accepts connections on ln (in the switch namespace) and pipes
// each to a fresh connection to dial (in this process's namespace).
func serveRelay(ln net.Listener, dial string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp", dial, 5*time.Second)
			if err != nil {
				// The controller is not there (yet): closing makes OVS retry
				// after its backoff, as it would against the real target.
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(u, c)
			go pipe(c, u)
			<-done
			<-done
		}()
	}
}

// listenInNetns opens a TCP listener inside the network namespace at path.
// The socket keeps its namespace after the thread switches back.
func listenInNetns(path, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("lab: relay: %w", err)
	}
	defer target.Close()
	if err := setns(target.Fd()); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("lab: relay: setns %s: %w", path, err)
	}
	ln, lerr := net.Listen("tcp", addr)
	if err := setns(orig.Fd()); err != nil {
		// This thread is stuck in the wrong namespace: leave it locked so
		// the runtime discards it when the goroutine ends.
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("lab: relay: setns back: %w", err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		return nil, fmt.Errorf("lab: relay: listen in %s: %w", path, lerr)
	}
	return ln, nil
}

// sysSetns is setns(2)'s number per architecture (the syscall package lacks
// it on some).
var sysSetns = map[string]uintptr{
	"amd64": 308, "386": 346, "arm64": 268, "arm": 375, "riscv64": 268,
	"ppc64le": 350, "ppc64": 350, "s390x": 339, "loong64": 268,
}

func setns(fd uintptr) error {
	nr, ok := sysSetns[runtime.GOARCH]
	if !ok {
		return errors.New("setns: unsupported architecture " + runtime.GOARCH)
	}
	_, _, e := syscall.Syscall(nr, fd, syscall.CLONE_NEWNET, 0)
	if e != 0 {
		return e
	}
	return nil
}
