// Package faults is the grader-owned TCP proxy between the learner's service
// and each dependency (DESIGN §6 "Fault injection"). The service's URLs point
// at the proxy, so a fault hits only this run's connections and never stops a
// server that other runs share; it works the same in docker, external and
// batch modes.
//
// The proxying itself is Toxiproxy's (github.com/Shopify/toxiproxy/v2), run
// in-process: one toxiproxy.Proxy per dependency, no HTTP API, no metrics.
// This package only maps the grader's faults onto it:
//
//   - Down: the listener closes (new connections are refused) and every open
//     connection is closed by the proxy on both sides, until Restore.
//   - Slow(d): data from the dependency to the service is held back by d
//     (Toxiproxy's "latency" toxic, downstream), on open and new connections.
//   - Reset: every open connection is closed once, both sides; the listener
//     reopens at once on the same address, so new connections are accepted.
//   - Restore: undoes all of the above.
//
// Toxiproxy closes connections with an ordinary close, so the service sees
// its connection end at once (end of stream, or a reset on its next write),
// not necessarily a TCP RST segment. A proxy's port is chosen at random below
// the kernel's ephemeral range, so that while it is down no outgoing
// connection of this machine can take it and Restore can listen there again.
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// DefaultSlow is how long Slow holds data back when a check names no delay
// (STAGES §10: "6 s, or as a check says").
const DefaultSlow = 6 * time.Second

// slowToxic names the one latency toxic a Proxy keeps.
const slowToxic = "grader_slow"

// ErrClosed is returned by a fault on a Proxy that was closed.
var ErrClosed = errors.New("proxy is closed")

// Proxy forwards one listen address to one dependency and injects faults
// into that traffic. Its methods are safe for concurrent use, with each
// other and with the traffic; every fault is idempotent.
type Proxy struct {
	name     string
	upstream string
	addr     string
	tp       *toxiproxy.Proxy

	ops sync.WaitGroup // fault operations still running (see run)

	mu     sync.Mutex // serialises faults; guards the fields below
	down   bool
	slow   time.Duration
	closed bool
}

// NewProxy starts a proxy named name (e.g. "postgres") that listens on
// listenHost (an IP or host name the service can reach: loopback for a host
// process, the submission network's gateway for a container) at a random
// port, and forwards every connection to upstream (host:port). The caller
// must Close it.
func NewProxy(name, listenHost, upstream string) (*Proxy, error) {
	if name == "" {
		return nil, errors.New("faults: new proxy: empty name")
	}
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("faults: new proxy %s: upstream %q is not host:port: %w", name, upstream, err)
	}
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	var lastErr error
	for _, port := range candidatePorts(32) {
		tp := toxiproxy.NewProxy(server, name, net.JoinHostPort(listenHost, strconv.Itoa(port)), upstream)
		err := tp.Start()
		if err == nil {
			// Start replaced Listen with the bound address; Restore listens there again.
			return &Proxy{name: name, upstream: upstream, addr: tp.Listen, tp: tp}, nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("faults: new proxy %s: listen on %s: %w", name, listenHost, lastErr)
}

// Name is the dependency's name, as given to NewProxy.
func (p *Proxy) Name() string { return p.name }

// Addr is the host:port the service should connect to.
func (p *Proxy) Addr() string { return p.addr }

// Upstream is the dependency's own host:port.
func (p *Proxy) Upstream() string { return p.upstream }

// Down takes the dependency away from the service: every open connection is
// closed and new ones are refused until Restore. It combines with Slow;
// Restore undoes both.
func (p *Proxy) Down(ctx context.Context) error {
	return p.run(ctx, "down", func() error {
		p.tp.Stop() // no-op when already stopped
		p.down = true
		return nil
	})
}

// Slow holds back every piece of data from the dependency to the service by
// d (rounded to milliseconds, at least 1 ms), on open and new connections,
// until Restore. d <= 0 means DefaultSlow. Calling it again with another
// delay replaces the delay (data passing at that moment may go undelayed).
func (p *Proxy) Slow(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		d = DefaultSlow
	}
	ms := max(d.Milliseconds(), 1)
	return p.run(ctx, "slow", func() error {
		if p.slow == d {
			return nil
		}
		body := fmt.Sprintf(`{"name":%q,"type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d}}`, slowToxic, ms)
		// A new delay replaces the toxic rather than updating it: Toxiproxy's
		// UpdateToxicJson writes the attributes in place while links read
		// them (a data race under -race).
		if p.tp.Toxics.GetToxic(slowToxic) != nil {
			if err := p.tp.Toxics.RemoveToxic(quiet(ctx), slowToxic); err != nil {
				return err
			}
			p.slow = 0
		}
		if _, err := p.tp.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
			return err
		}
		p.slow = d
		return nil
	})
}

// Reset closes every connection open through the proxy once; new
// connections are accepted as before (a Slow in force stays). While the
// proxy is down there is nothing to reset and it stays down.
func (p *Proxy) Reset(ctx context.Context) error {
	return p.run(ctx, "reset", func() error {
		if p.down {
			return nil
		}
		p.tp.Stop()
		if err := p.tp.Start(); err != nil {
			// The port was taken while it was free: the service cannot reach
			// the dependency any more, which the caller must know.
			p.down = true
			return fmt.Errorf("listen again on %s: %w", p.addr, err)
		}
		return nil
	})
}

// Restore undoes every fault: the delay is removed and a downed proxy
// listens again on the same address.
func (p *Proxy) Restore(ctx context.Context) error {
	return p.run(ctx, "restore", func() error {
		p.tp.Toxics.ResetToxics(quiet(ctx))
		p.slow = 0
		if p.down {
			if err := p.tp.Start(); err != nil {
				return fmt.Errorf("listen again on %s: %w", p.addr, err)
			}
			p.down = false
		}
		return nil
	})
}

// Close stops the proxy: the listener and every connection through it are
// closed. It waits for fault operations still running; later faults fail
// with ErrClosed. Calling it again does nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.tp.Stop()
		p.tp.Toxics.ResetToxics(quiet(context.Background()))
	}
	p.mu.Unlock()
	p.ops.Wait()
	return nil
}

// run performs op under the fault lock. Toxiproxy's calls take no context
// and may wait (Stop waits for a connection to the upstream being opened;
// changing a toxic waits for data in flight to move), so op runs on its own
// goroutine and the caller stops waiting when ctx ends; op still completes,
// in order with the faults after it, and Close waits for it.
func (p *Proxy) run(ctx context.Context, what string, op func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faults: %s %s: %w", what, p.name, err)
	}
	done := make(chan error, 1)
	p.ops.Add(1)
	go func() {
		defer p.ops.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			done <- ErrClosed
			return
		}
		done <- op()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("faults: %s %s: %w", what, p.name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("faults: %s %s: gave up waiting, it completes in the background: %w", what, p.name, ctx.Err())
	}
}

// quiet gives Toxiproxy's context-logging calls a logger that writes nothing.
func quiet(ctx context.Context) context.Context {
	l := zerolog.Nop()
	return l.WithContext(ctx)
}

// candidatePorts returns n random ports below the kernel's ephemeral range
// (Linux: /proc/sys/net/ipv4/ip_local_port_range; elsewhere the IANA range
// from 49152), from 20000 up, then 0 (any port) as the last resort.
func candidatePorts(n int) []int {
	low := 49152
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const from = 20000
	ports := make([]int, 0, n+1)
	if low-from >= 1000 {
		for range n {
			ports = append(ports, from+rand.IntN(low-from))
		}
	}
	return append(ports, 0)
}
