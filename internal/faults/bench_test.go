package faults

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The benchmarks compare one client talking to a server directly with the
// same client going through a proxy with no fault, in one run, so that the
// two figures come from the same machine under the same load
// (scripts/bench-proxy.sh prints them and their ratio). Each op is one
// request and its answer, one at a time, as a service's handler makes them;
// req/s is reported beside ns/op. On a shared, busy machine the load drifts
// between the direct and the proxy sub-benchmark, so /alternating also
// sends one request each way per op and reports both rates and their ratio
// from the same moments.

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// alternate times one request each way per op and reports both rates.
func alternate(b *testing.B, direct, proxied func() error) {
	var d, p time.Duration
	for range b.N {
		t0 := time.Now()
		if err := direct(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := proxied(); err != nil {
			b.Fatal(err)
		}
		d += t1.Sub(t0)
		p += time.Since(t1)
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "direct-req/s")
	b.ReportMetric(float64(b.N)/p.Seconds(), "proxy-req/s")
	b.ReportMetric(d.Seconds()/p.Seconds(), "proxy/direct")
}

func redisClient(b *testing.B, rawURL string) *redis.Client {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	opt.PoolSize = 1
	c := redis.NewClient(opt)
	b.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkRedisPing(b *testing.B) {
	direct := redisURL(b)
	s, _ := newSet(b, "redis", direct)
	ctx := context.Background()
	for _, tc := range []struct{ name, url string }{{"direct", direct}, {"proxy", s.RewriteURL("redis", direct)}} {
		b.Run(tc.name, func(b *testing.B) {
			c := redisClient(b, tc.url)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if err := c.Ping(ctx).Err(); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, start)
		})
	}
	b.Run("alternating", func(b *testing.B) {
		d, p := redisClient(b, direct), redisClient(b, s.RewriteURL("redis", direct))
		b.ResetTimer()
		alternate(b, func() error { return d.Ping(ctx).Err() }, func() error { return p.Ping(ctx).Err() })
	})
}

func pgConn(b *testing.B, rawURL string) *pgx.Conn {
	c, err := pgx.Connect(context.Background(), rawURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func BenchmarkPostgresSelect1(b *testing.B) {
	direct := postgresURL(b)
	s, _ := newSet(b, "postgres", direct)
	ctx := context.Background()
	var n int
	for _, tc := range []struct{ name, url string }{{"direct", direct}, {"proxy", s.RewriteURL("postgres", direct)}} {
		b.Run(tc.name, func(b *testing.B) {
			c := pgConn(b, tc.url)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, start)
		})
	}
	b.Run("alternating", func(b *testing.B) {
		d, p := pgConn(b, direct), pgConn(b, s.RewriteURL("postgres", direct))
		b.ResetTimer()
		alternate(b,
			func() error { return d.QueryRow(ctx, "SELECT 1").Scan(&n) },
			func() error { return p.QueryRow(ctx, "SELECT 1").Scan(&n) })
	})
}

// BenchmarkRedisPingParallel is the throughput view: many clients at once,
// as under a load test, through the same proxy.
func BenchmarkRedisPingParallel(b *testing.B) {
	direct := redisURL(b)
	s, _ := newSet(b, "redis", direct)
	for _, tc := range []struct{ name, url string }{{"direct", direct}, {"proxy", s.RewriteURL("redis", direct)}} {
		b.Run(tc.name, func(b *testing.B) {
			opt, err := redis.ParseURL(tc.url)
			if err != nil {
				b.Fatal(err)
			}
			opt.PoolSize = 16
			c := redis.NewClient(opt)
			defer c.Close()
			ctx := context.Background()
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Ping(ctx).Err(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, start)
		})
	}
}
