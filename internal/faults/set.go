package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Set holds one Proxy per dependency of one service, all listening on the
// same host (where that service can reach them).
type Set struct {
	host string

	mu      sync.Mutex
	proxies map[string]*Proxy
	order   []string
	closed  bool
}

// NewSet returns an empty set whose proxies will listen on listenHost. The
// caller must Close it.
func NewSet(listenHost string) *Set {
	return &Set{host: listenHost, proxies: map[string]*Proxy{}}
}

// Add starts a proxy named name in front of upstream (host:port).
func (s *Set) Add(name, upstream string) (*Proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("faults: add %s: the set is closed", name)
	}
	if _, ok := s.proxies[name]; ok {
		return nil, fmt.Errorf("faults: add %s: a proxy with that name exists", name)
	}
	p, err := NewProxy(name, s.host, upstream)
	if err != nil {
		return nil, err
	}
	s.proxies[name] = p
	s.order = append(s.order, name)
	return p, nil
}

// AddURL starts a proxy named name in front of the server a service URL
// (postgres://, redis://, amqp://, ...) points at.
func (s *Set) AddURL(name, rawURL string) (*Proxy, error) {
	upstream, err := UpstreamOf(rawURL)
	if err != nil {
		return nil, fmt.Errorf("faults: add %s: %w", name, err)
	}
	return s.Add(name, upstream)
}

// Proxy returns the proxy named name, or nil.
func (s *Set) Proxy(name string) *Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxies[name]
}

// Names lists the proxies' names in the order they were added.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// RewriteURL points a service URL at the proxy named name, keeping scheme,
// credentials, path, query and fragment byte for byte. A URL without a
// proxy of that name, or one that is not scheme://[userinfo@]host..., is
// returned unchanged.
func (s *Set) RewriteURL(name, rawURL string) string {
	p := s.Proxy(name)
	if p == nil {
		return rawURL
	}
	return rewriteHost(rawURL, p.Addr())
}

// Restore undoes every fault on every proxy of the set.
func (s *Set) Restore(ctx context.Context) error {
	var errs []error
	for _, p := range s.list() {
		errs = append(errs, p.Restore(ctx))
	}
	return errors.Join(errs...)
}

// Close closes every proxy of the set; later Adds fail.
func (s *Set) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	var errs []error
	for _, p := range s.list() {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

func (s *Set) list() []*Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Proxy, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.proxies[n])
	}
	return out
}

// defaultPorts are the ports a service URL means when it names none.
var defaultPorts = map[string]string{
	"postgres": "5432", "postgresql": "5432",
	"redis": "6379", "rediss": "6379",
	"amqp": "5672", "amqps": "5671",
}

// UpstreamOf returns the host:port a service URL points at, with the
// scheme's default port when the URL names none.
func UpstreamOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse service url: %w", err)
	}
	host := u.Hostname()
	if host == "" || strings.Contains(u.Host, ",") {
		return "", fmt.Errorf("service url %s: want exactly one host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	if port == "" {
		return "", fmt.Errorf("service url %s: no port, and none is usual for %q", u.Redacted(), u.Scheme)
	}
	return net.JoinHostPort(host, port), nil
}

// rewriteHost replaces the host[:port] of scheme://[userinfo@]host[:port]...
// with addr, leaving every other byte as it was.
func rewriteHost(rawURL, addr string) string {
	if _, err := url.Parse(rawURL); err != nil {
		return rawURL
	}
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return rawURL
	}
	start := i + len("://")
	end := len(rawURL)
	if j := strings.IndexAny(rawURL[start:], "/?#"); j >= 0 {
		end = start + j
	}
	if at := strings.LastIndex(rawURL[start:end], "@"); at >= 0 {
		start += at + 1
	}
	if start == end {
		return rawURL // no host to replace (e.g. a Unix socket in the query)
	}
	return rawURL[:start] + addr + rawURL[end:]
}
