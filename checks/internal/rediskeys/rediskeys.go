// Package rediskeys reads the service's Redis database for the checks that
// look behind the API (caching, rate limiting). Each read is recorded in the
// transcript as the redis-cli command a learner can run, given by the
// caller so that every stage keeps its own wording.
package rediskeys

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

// CLI is the redis-cli invocation that reaches the service's database
// (the number in REDIS_URL).
func CLI(h *harness.H) string {
	if db := h.Redis.Options().DB; db != 0 {
		return "redis-cli -n " + strconv.Itoa(db)
	}
	return "redis-cli"
}

// Scan lists the keys of the run's Redis database that match pattern (all
// of them for "*"), sorted and without repeats, and records the step as
// cmd with the keys found (see List).
func Scan(ctx context.Context, h *harness.H, pattern, cmd string) ([]string, error) {
	var keys []string
	iter := h.Redis.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		h.Record("redis", cmd, "ERROR: "+err.Error())
		return nil, grader.Errorf("reading the service's Redis database: %v", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	h.Record("redis", cmd, List(keys))
	return keys, nil
}

// List renders keys for the transcript: the first 20, one a line, and how
// many there are in all when there are more; "(no keys)" for none.
func List(keys []string) string {
	if len(keys) == 0 {
		return "(no keys)"
	}
	shown := keys
	if len(shown) > 20 {
		shown = shown[:20]
	}
	out := strings.Join(shown, "\n")
	if len(keys) > len(shown) {
		out += fmt.Sprintf("\n... (%d keys in all)", len(keys))
	}
	return out
}

// TTLs reads the TTL of every key in one pipeline and returns the commands
// in the order of keys (go-redis gives -1, no expiry, and -2, no such key,
// as they are, else the time left). When the pipeline fails, the step is
// recorded as cmd with the error and the result is a grader error (the
// grader could not judge); on success the caller records the step.
func TTLs(ctx context.Context, h *harness.H, keys []string, cmd string) ([]*redis.DurationCmd, error) {
	pipe := h.Redis.Pipeline()
	cmds := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.TTL(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		h.Record("redis", cmd, "ERROR: "+err.Error())
		return nil, grader.Errorf("reading TTLs in the service's Redis database: %v", err)
	}
	return cmds, nil
}
