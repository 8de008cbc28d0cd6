// Package rediskeys reads the service's Redis database for the checks that
// look behind the API (caching, rate limiting), through the harness's
// recorded Redis helpers: each read is in the transcript as the redis-cli
// command a learner can run, and what the learner's service wrote is
// bounded and escaped there.
package rediskeys

import (
	"context"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// Keys lists the keys of the run's Redis database that match pattern (all
// of them for "*"), sorted and without repeats; at most
// harness.MaxRedisKeys of them (the transcript says when there were more).
func Keys(ctx context.Context, h *harness.H, pattern string) ([]string, error) {
	keys, _, err := h.RedisKeys(ctx, pattern)
	if err != nil {
		return nil, grader.Errorf("reading the service's Redis database: %v", err)
	}
	return keys, nil
}

// WithoutTTL returns the keys whose TTL is -1 (no expiry), read in
// pipelines and recorded as one step.
func WithoutTTL(ctx context.Context, h *harness.H, keys []string) ([]string, error) {
	ttls, err := h.RedisTTLs(ctx, keys)
	if err != nil {
		return nil, grader.Errorf("reading TTLs in the service's Redis database: %v", err)
	}
	var forever []string
	for i, t := range ttls {
		if t == -1 {
			forever = append(forever, keys[i])
		}
	}
	return forever, nil
}

// Names renders key names for a message: each quoted and cut as redis-cli
// prints it (a key is the learner's data), the first max of them, then how
// many more there are.
func Names(keys []string, max int) string {
	shown := keys
	if len(shown) > max {
		shown = shown[:max]
	}
	q := make([]string, len(shown))
	for i, k := range shown {
		q[i] = harness.RedisQuote(k)
	}
	out := strings.Join(q, ", ")
	if len(keys) > len(shown) {
		out += " and " + strconv.Itoa(len(keys)-len(shown)) + " more"
	}
	return out
}
