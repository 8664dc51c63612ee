package harness

import (
	"io"
	"net"
	"sync"
	"time"
)

// WebhookProxy passes TCP connections on one address to the first backend
// that accepts them, TLS and all.
type WebhookProxy struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	wg       sync.WaitGroup
}

// NewWebhookProxy listens on addr, retrying for up to 5s while the port is
// still taken, and passes connections to no backend until SetBackends.
func NewWebhookProxy(addr string) (*WebhookProxy, error) {
	var ln net.Listener
	var err error
	// The suite's operator has just released the port.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	p := &WebhookProxy{ln: ln}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// SetBackends replaces the addresses new connections are passed to, tried
// in order.
func (p *WebhookProxy) SetBackends(addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = addrs
}

func (p *WebhookProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pass(c)
	}
}

func (p *WebhookProxy) pass(c net.Conn) {
	defer func() { _ = c.Close() }()
	p.mu.Lock()
	backends := append([]string(nil), p.backends...)
	p.mu.Unlock()
	var up net.Conn
	for _, b := range backends {
		var err error
		if up, err = net.DialTimeout("tcp", b, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer func() { _ = up.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// Close stops listening and waits until the accept loop has ended.
func (p *WebhookProxy) Close() {
	_ = p.ln.Close()
	p.wg.Wait()
}
