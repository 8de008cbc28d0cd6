package ratelimiting

import (
	"context"
	"fmt"
	"strings"

	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/harness"
)

// allKeys lists every key in the run's Redis database, sorted, and records
// the step.
func allKeys(ctx context.Context, h *harness.H) ([]string, error) {
	return rediskeys.Scan(ctx, h, "*", cli(h)+" --scan")
}

// cli is the redis-cli invocation that reaches the service's database.
var cli = rediskeys.CLI

// withoutTTL returns the keys whose TTL is -1, read in one pipeline, and
// records the step.
func withoutTTL(ctx context.Context, h *harness.H, keys []string) ([]string, error) {
	if len(keys) == 0 {
		h.Record("redis", cli(h)+" TTL <each new key>", "(no keys to check)")
		return nil, nil
	}
	cmds, err := rediskeys.TTLs(ctx, h, keys, cli(h)+" TTL <each new key>")
	if err != nil {
		return nil, err
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
