package ratelimiting

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/redis/go-redis/v9"
)

// allKeys lists every key in the run's Redis database, sorted, and records
// the step.
func allKeys(ctx context.Context, h *harness.H) ([]string, error) {
	var keys []string
	iter := h.Redis.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	cmd := cli(h) + " --scan"
	if err := iter.Err(); err != nil {
		h.Record("redis", cmd, "ERROR: "+err.Error())
		return nil, grader.Errorf("reading the service's Redis database: %v", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	shown := keys
	if len(shown) > 20 {
		shown = shown[:20]
	}
	out := strings.Join(shown, "\n")
	switch {
	case len(keys) == 0:
		out = "(no keys)"
	case len(keys) > len(shown):
		out += fmt.Sprintf("\n... (%d keys in all)", len(keys))
	}
	h.Record("redis", cmd, out)
	return keys, nil
}

// cli is the redis-cli invocation that reaches the service's database
// (the number in REDIS_URL).
func cli(h *harness.H) string {
	if db := h.Redis.Options().DB; db != 0 {
		return "redis-cli -n " + strconv.Itoa(db)
	}
	return "redis-cli"
}

// withoutTTL returns the keys whose TTL is -1, read in one pipeline, and
// records the step.
func withoutTTL(ctx context.Context, h *harness.H, keys []string) ([]string, error) {
	if len(keys) == 0 {
		h.Record("redis", cli(h)+" TTL <each new key>", "(no keys to check)")
		return nil, nil
	}
	pipe := h.Redis.Pipeline()
	cmds := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.TTL(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		h.Record("redis", cli(h)+" TTL <each new key>", "ERROR: "+err.Error())
		return nil, grader.Errorf("reading TTLs in the service's Redis database: %v", err)
	}
	var lines []string
	var forever []string
	for i, c := range cmds {
		d, err := c.Result()
		if err != nil {
			continue
		}
		secs := int64(d)
		if d > 0 {
			secs = int64(d.Seconds())
		}
		if len(lines) < 20 {
			lines = append(lines, fmt.Sprintf("TTL %s -> %d", keys[i], secs))
		}
		if d == -1 {
			forever = append(forever, keys[i])
		}
	}
	h.Record("redis", cli(h)+" TTL <each new key>", strings.Join(lines, "\n"))
	return forever, nil
}
