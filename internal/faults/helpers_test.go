package faults

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The machine's own servers, as internal/services finds them.
const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// soon bounds how long a recovery may take in these tests: generous, since
// the machine may be busy; the figures themselves are in the benchmarks.
const soon = 3 * time.Second

// unavailable skips the test, or fails it in CI (CI=true), where every
// service the tests need must be there.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: this must run in CI)", msg)
	}
	tb.Skip(msg)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// postgresURL is the machine's Postgres (GRADER_POSTGRES_URL or the standard
// local address); the test is skipped when it does not answer.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	u := envOr("GRADER_POSTGRES_URL", defaultPostgresURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		unavailable(tb, "postgres at %s is not reachable: %v", hostOf(u), err)
	}
	c.Close(ctx)
	return u
}

// redisURL is the machine's Redis (GRADER_REDIS_URL or the standard local
// address); the test is skipped when it does not answer.
func redisURL(tb testing.TB) string {
	tb.Helper()
	u := envOr("GRADER_REDIS_URL", defaultRedisURL)
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("GRADER_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		unavailable(tb, "redis at %s is not reachable: %v", hostOf(u), err)
	}
	return u
}

func hostOf(u string) string {
	if h, err := UpstreamOf(u); err == nil {
		return h
	}
	return "(unparsable url)"
}

// newSet returns a set on loopback with one proxy, closed at the test's end.
func newSet(tb testing.TB, name, rawURL string) (*Set, *Proxy) {
	tb.Helper()
	s := NewSet("127.0.0.1")
	tb.Cleanup(func() { s.Close() })
	p, err := s.AddURL(name, rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	return s, p
}

// eventually retries f until it returns nil or within has passed, and
// returns how long it took.
func eventually(t *testing.T, within time.Duration, what string, f func(context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = f(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %v: %v", what, within, err)
	return 0
}

// settledGoroutines waits until the goroutine count is at most limit, and
// returns the last count seen.
func settledGoroutines(limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}
