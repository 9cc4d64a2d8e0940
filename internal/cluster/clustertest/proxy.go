// Package clustertest has what the cluster's tests share: a TCP proxy that
// can partition one instance from etcd.
package clustertest

import (
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards TCP connections from its own loopback address to a target
// (an etcd client URL's host:port). Cut partitions it the way a dead link
// does: connections stay open, and every byte in either direction is
// dropped, so the client sees no error, only silence. Heal forwards again.
// Safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target atomic.Value // string
	cut    atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
	wg    sync.WaitGroup
}

// NewProxy listens on 127.0.0.1 and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, conns: map[net.Conn]bool{}}
	p.target.Store(target)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every byte from now on, in both directions.
func (p *Proxy) Cut() { p.cut.Store(true) }

// Heal forwards again. Connections that lost bytes while cut are closed (a
// stream with a hole cannot go on), so clients reconnect.
func (p *Proxy) Heal() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.cut.Store(false)
}

// Retarget sends new connections to target (another etcd) and closes the
// current ones, so clients reconnect there.
func (p *Proxy) Retarget(target string) {
	p.target.Store(target)
	p.Heal()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target.Load().(string))
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in) || !p.track(out) {
			in.Close()
			out.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies from src to dst, dropping what it reads while cut.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer p.untrack(dst)
	defer p.untrack(src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed: both ends go
		}
	}
}
