package faults

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// oneConnClient is a go-redis client with a single pooled connection and no
// retries, so that what a fault does to that connection shows.
func oneConnClient(t *testing.T, rawURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	opt.PoolSize = 1
	opt.MaxRetries = -1
	opt.DialTimeout = 2 * time.Second
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func clientID(ctx context.Context, c *redis.Client) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ClientID(ctx).Result()
}

func TestRedisThroughProxy(t *testing.T) {
	direct := redisURL(t)
	s, p := newSet(t, "redis", direct)
	proxied := s.RewriteURL("redis", direct)
	ctx := context.Background()

	c := oneConnClient(t, proxied)
	other := oneConnClient(t, direct) // another run's client on the same server
	sharedServerWorks := func(when string) {
		t.Helper()
		if err := other.Ping(ctx).Err(); err != nil {
			t.Fatalf("%s: a direct client of the same server failed: %v", when, err)
		}
	}
	first, err := clientID(ctx, c)
	if err != nil {
		t.Fatalf("CLIENT ID through the proxy: %v", err)
	}

	t.Run("reset", func(t *testing.T) {
		if err := p.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		// go-redis may notice the closed connection before using it and dial
		// again; either way the connection open at the reset is gone.
		var id int64
		eventually(t, soon, "CLIENT ID after reset", func(ctx context.Context) (err error) {
			id, err = clientID(ctx, c)
			return err
		})
		if id == first {
			t.Fatalf("CLIENT ID is still %d after the reset: the open connection survived", id)
		}
		sharedServerWorks("reset")
	})

	t.Run("down", func(t *testing.T) {
		if err := p.Down(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("PING through the proxy succeeded while the dependency was down")
		}
		if took := time.Since(start); took > soon {
			t.Errorf("the failing PING took %v, want it to fail fast (< %v)", took, soon)
		}
		fresh := oneConnClient(t, proxied)
		if err := fresh.Ping(ctx).Err(); err == nil {
			t.Fatal("a new connection succeeded while the dependency was down")
		}
		sharedServerWorks("down")

		if err := p.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		took := eventually(t, soon, "PING after restore", func(ctx context.Context) error { return c.Ping(ctx).Err() })
		t.Logf("PING works again %v after Restore", took)
	})

	t.Run("slow", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		if err := p.Slow(ctx, delay); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING while slow: %v", err)
		}
		if took := time.Since(start); took < delay-10*time.Millisecond {
			t.Errorf("PING while slow took %v, want at least %v", took, delay)
		}
		sharedServerWorks("slow")
		if err := p.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		fastest := time.Hour
		for range 3 {
			start := time.Now()
			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatalf("PING after restore: %v", err)
			}
			fastest = min(fastest, time.Since(start))
		}
		if fastest >= delay {
			t.Errorf("after Restore the fastest of three PINGs took %v, want < %v", fastest, delay)
		}
	})
}

// TestFaultsDuringTraffic changes faults while clients keep talking through
// the proxy (run it with -race): nothing panics or deadlocks, and once
// restored every client works again.
func TestFaultsDuringTraffic(t *testing.T) {
	direct := redisURL(t)
	s, p := newSet(t, "redis", direct)
	proxied := s.RewriteURL("redis", direct)
	ctx := context.Background()

	stop := make(chan struct{})
	done := make(chan struct{})
	const clients = 4
	cs := make([]*redis.Client, clients)
	for i := range cs {
		cs[i] = oneConnClient(t, proxied)
	}
	for _, c := range cs {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_ = c.Ping(ctx).Err() // failures are expected while faulted
				cancel()
			}
		}()
	}
	faults := []func() error{
		func() error { return p.Slow(ctx, 20*time.Millisecond) },
		func() error { return p.Reset(ctx) },
		func() error { return p.Down(ctx) },
		func() error { return p.Slow(ctx, 5*time.Millisecond) },
		func() error { return p.Restore(ctx) },
		func() error { return p.Reset(ctx) },
	}
	for round := range 5 {
		for i, f := range faults {
			if err := f(); err != nil {
				t.Fatalf("round %d, fault %d: %v", round, i, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := p.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	for range clients {
		<-done
	}
	for _, c := range cs {
		eventually(t, soon, "client after the faults", func(ctx context.Context) error { return c.Ping(ctx).Err() })
	}
}
