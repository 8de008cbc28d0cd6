package ratelimiting

import (
	"context"

	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/harness"
)

// allKeys lists every key in the run's Redis database, sorted; the harness
// records the step.
func allKeys(ctx context.Context, h *harness.H) ([]string, error) {
	return rediskeys.Keys(ctx, h, "*")
}

// withoutTTL returns the keys whose TTL is -1, read in pipelines; the
// harness records the step (also when there are no keys to check).
func withoutTTL(ctx context.Context, h *harness.H, keys []string) ([]string, error) {
	return rediskeys.WithoutTTL(ctx, h, keys)
}
