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
//   - Orphan makes every open connection silent for good, without closing
//     it, while new ones work: a middlebox or a partition forgot them, so
//     only a client that checks its idle connections notices.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state int // proxyOpen, proxyCut or proxyStalled
	moved *sync.Cond
	conns map[net.Conn]struct{}
	links map[*link]struct{}
	wg    sync.WaitGroup
}

// link is one forwarded connection; orphan (under Proxy.mu) silences it.
type link struct{ orphan bool }

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
	p := &Proxy{ln: ln, target: s.Addr(), conns: map[net.Conn]struct{}{}, links: map[*link]struct{}{}}
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

// Orphan silences every open connection for good; new ones work.
func (p *Proxy) Orphan() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.orphan = true
	}
}

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

// pass waits while the proxy is stalled (or l orphaned) and reports
// whether it may forward (false: cut).
func (p *Proxy) pass(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.state == proxyStalled || (l.orphan && p.state != proxyCut) {
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
	l := &link{}
	p.mu.Lock()
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	if !p.pass(l) {
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
	go func() { p.pipe(l, up, c); done <- struct{}{} }()
	go func() { p.pipe(l, c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// pipe copies src to dst, holding each chunk while the proxy is stalled or
// l orphaned.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(l) {
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
