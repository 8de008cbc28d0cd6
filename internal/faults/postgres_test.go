package faults

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func selectOne(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var n int
	if err := q.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		return err
	}
	return nil
}

// timed runs a SELECT 1 with a 10 s limit and returns its error and time.
func timed(q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := selectOne(ctx, q)
	return time.Since(start), err
}

func TestPostgresThroughProxy(t *testing.T) {
	direct := postgresURL(t)
	s, p := newSet(t, "postgres", direct)
	proxied := s.RewriteURL("postgres", direct)
	if proxied == direct {
		t.Fatalf("RewriteURL left %q unchanged", direct)
	}
	ctx := context.Background()

	pool, err := pgxpool.New(ctx, proxied)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	other, err := pgx.Connect(ctx, direct) // another run's client on the same server
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(context.Background()) })
	sharedServerWorks := func(when string) {
		t.Helper()
		if _, err := timed(other); err != nil {
			t.Fatalf("%s: a direct client of the same server failed: %v", when, err)
		}
	}

	if _, err := timed(pool); err != nil {
		t.Fatalf("query through the proxy: %v", err)
	}

	t.Run("down", func(t *testing.T) {
		if err := p.Down(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Down(ctx); err != nil {
			t.Fatalf("down again: %v", err)
		}
		took, err := timed(pool)
		if err == nil {
			t.Fatal("a query through the open pool succeeded while the dependency was down")
		}
		if took > soon {
			t.Errorf("the failing query took %v, want it to fail fast (< %v)", took, soon)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := pgx.Connect(cctx, proxied)
		cancel()
		if err == nil {
			c.Close(ctx)
			t.Fatal("a new connection succeeded while the dependency was down")
		}
		sharedServerWorks("down")

		if err := p.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		took = eventually(t, soon, "query after restore", func(ctx context.Context) error { return selectOne(ctx, pool) })
		t.Logf("queries work again %v after Restore", took)
	})

	t.Run("slow", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		if err := p.Slow(ctx, delay); err != nil {
			t.Fatal(err)
		}
		took, err := timed(pool)
		if err != nil {
			t.Fatalf("query while slow: %v", err)
		}
		if took < delay-10*time.Millisecond {
			t.Errorf("query while slow took %v, want at least %v", took, delay)
		}
		sharedServerWorks("slow")

		if err := p.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		fastest := time.Hour
		for range 3 {
			took, err := timed(pool)
			if err != nil {
				t.Fatalf("query after restore: %v", err)
			}
			fastest = min(fastest, took)
		}
		if fastest >= delay {
			t.Errorf("after Restore the fastest of three queries took %v, want < %v", fastest, delay)
		}
	})

	t.Run("reset", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, proxied)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := timed(conn); err != nil {
			t.Fatal(err)
		}
		if err := p.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := timed(conn); err == nil {
			t.Fatal("the connection open at the reset still answered")
		}
		fresh, err := pgx.Connect(ctx, proxied)
		if err != nil {
			t.Fatalf("a new connection after the reset: %v", err)
		}
		defer fresh.Close(ctx)
		if _, err := timed(fresh); err != nil {
			t.Fatalf("query on a new connection after the reset: %v", err)
		}
		// The pool may lose one query to the reset, then reconnects.
		eventually(t, soon, "pool after reset", func(ctx context.Context) error { return selectOne(ctx, pool) })
		sharedServerWorks("reset")
	})
}
