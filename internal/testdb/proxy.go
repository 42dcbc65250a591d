package testdb

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback port to a database
// server, so that a test can partition one client (an Arca node) from the
// database while others keep it:
//
//   - Cut closes every open connection and closes new ones on accept: the
//     client sees its connections reset, as when a partition ends them or
//     a firewall rejects them.
//   - Stall keeps every connection open but forwards nothing, and holds new
//     connections without answering: the client sees a database that has
//     stopped answering, as when a partition drops packets silently.
//   - Heal forwards again (connections stalled meanwhile resume, if their
//     client has not given up on them).
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state int // proxyOpen, proxyCut or proxyStalled
	moved *sync.Cond
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

const (
	proxyOpen = iota
	proxyCut
	proxyStalled
)

// NewProxy starts a proxy to the server, closed at the test's cleanup.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: s.Addr(), conns: map[net.Conn]struct{}{}}
	p.moved = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port, to put in the client's DSN instead of
// the server's (Server.Addr).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every connection and refuses new ones until Heal.
func (p *Proxy) Cut() { p.set(proxyCut) }

// Stall stops forwarding, without closing anything, until Heal.
func (p *Proxy) Stall() { p.set(proxyStalled) }

// Heal forwards again.
func (p *Proxy) Heal() { p.set(proxyOpen) }

func (p *Proxy) set(state int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if state == proxyCut {
		for c := range p.conns {
			c.Close()
		}
	}
	p.moved.Broadcast()
}

// pass waits while the proxy is stalled and reports whether it may
// forward (false: cut).
func (p *Proxy) pass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.state == proxyStalled {
		p.moved.Wait()
	}
	return p.state == proxyOpen
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.state == proxyCut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		// Tracked at once, so that a Cut while it waits closes it.
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.drop(c)
	if !p.pass() {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.state == proxyCut {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
