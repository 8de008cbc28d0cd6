package faults

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRewriteURL(t *testing.T) {
	s := NewSet("127.0.0.1")
	defer s.Close()
	// Proxies in front of servers that are never dialled: Add only listens.
	pg, err := s.Add("postgres", "db.internal:5432")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.Add("redis", "127.0.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	mq, err := s.Add("rabbitmq", "[::1]:5672")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"postgres", "postgres://u:p%40ss@db.internal:5432/app?sslmode=disable&application_name=x", "postgres://u:p%40ss@" + pg.Addr() + "/app?sslmode=disable&application_name=x"},
		{"postgres", "postgresql://u@db.internal/app", "postgresql://u@" + pg.Addr() + "/app"},
		{"redis", "redis://:s3cr%2Ft@127.0.0.1:6379/7", "redis://:s3cr%2Ft@" + rd.Addr() + "/7"},
		{"redis", "redis://127.0.0.1:6379", "redis://" + rd.Addr()},
		{"redis", "redis://127.0.0.1:6379?protocol=3#x", "redis://" + rd.Addr() + "?protocol=3#x"},
		{"rabbitmq", "amqp://guest:guest@[::1]:5672/%2Fvhost", "amqp://guest:guest@" + mq.Addr() + "/%2Fvhost"},
		{"rabbitmq", "amqp://a@b:c@[::1]:5672/", "amqp://a@b:c@" + mq.Addr() + "/"}, // last @ ends userinfo
		{"cache", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},           // no such proxy
		{"postgres", "host=db.internal port=5432", "host=db.internal port=5432"},    // not a URL
		{"postgres", "postgres:///app?host=/tmp", "postgres:///app?host=/tmp"},      // no host to replace
	} {
		if got := s.RewriteURL(tc.name, tc.in); got != tc.want {
			t.Errorf("RewriteURL(%q, %q)\n got %q\nwant %q", tc.name, tc.in, got, tc.want)
		}
	}
	if got, want := s.Names(), []string{"postgres", "redis", "rabbitmq"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, err := s.Add("redis", "127.0.0.1:6380"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("adding a second redis: err = %v, want one saying it exists", err)
	}
}

func TestUpstreamOf(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@db:6543/x":         "db:6543",
		"postgresql://u@db/x":              "db:5432",
		"redis://:pw@cache/0":              "cache:6379",
		"rediss://cache":                   "cache:6379",
		"amqp://guest:guest@mq/":           "mq:5672",
		"amqps://mq":                       "mq:5671",
		"amqp://[fe80::1]:15672/":          "[fe80::1]:15672",
		"postgres://u@h1:5432,h2:5432/app": "",
		"http://example.com/":              "",
		"postgres:///app?host=/tmp":        "",
	} {
		got, err := UpstreamOf(in)
		if want == "" {
			if err == nil {
				t.Errorf("UpstreamOf(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("UpstreamOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// echoServer is an upstream that writes back what it reads; it stops at the
// test's end.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, line string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

func TestCloseReleasesEverything(t *testing.T) {
	upstream := echoServer(t)
	before := runtime.NumGoroutine()

	p, err := NewProxy("echo", "127.0.0.1", upstream)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c, bufio.NewReader(c), "hello"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Leave a fault in force: Close must undo it too.
	if err := p.Slow(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("connection %d: read after Close = %v, want it closed", i, err)
		}
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", p.Addr())
	}
	if err := p.Down(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Down after Close: err = %v, want ErrClosed", err)
	}
	// The echo server's goroutines for our connections end when we close
	// ours; the proxy's own goroutines must all be gone.
	for _, c := range conns {
		c.Close()
	}
	if n := settledGoroutines(before+2, 10*time.Second); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFaultSemantics(t *testing.T) {
	upstream := echoServer(t)
	p, err := NewProxy("echo", "127.0.0.1", upstream)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	dial := func() (net.Conn, *bufio.Reader, error) {
		c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
		if err != nil {
			return nil, nil, err
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c), nil
	}

	// Reset while down changes nothing: still down, and Restore brings it back
	// on the same address.
	addr := p.Addr()
	if err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(); err == nil {
		t.Fatal("a reset while down opened the proxy again")
	}
	for range 2 {
		if err := p.Restore(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if p.Addr() != addr {
		t.Fatalf("address changed from %s to %s", addr, p.Addr())
	}
	c, r, err := dial()
	if err != nil {
		t.Fatalf("dial after restore: %v", err)
	}
	if err := roundTrip(c, r, "up"); err != nil {
		t.Fatal(err)
	}

	// Slow applies to a connection opened before it, and changing the delay
	// while slow takes effect.
	if err := p.Slow(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := p.Slow(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := roundTrip(c, r, "slow"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Errorf("round trip while slow (200ms) took %v", took)
	}
	// A reset keeps the delay for new connections.
	if err := p.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, r, "gone"); err == nil {
		t.Error("the connection open at the reset still answered")
	}
	c2, r2, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := roundTrip(c2, r2, "slow again"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Errorf("round trip on a new connection after a reset while slow took %v", took)
	}
	if err := p.Restore(ctx); err != nil {
		t.Fatal(err)
	}

	// A context that is already over fails the fault and says which.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = p.Down(cctx)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "faults: down echo: ") {
		t.Errorf("Down with a cancelled context: err = %v", err)
	}
	if err := roundTrip(c2, r2, "still up"); err != nil {
		t.Errorf("after a cancelled Down the proxy should still forward: %v", err)
	}
}
