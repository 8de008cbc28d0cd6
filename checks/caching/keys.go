package caching

import (
	"context"
	"net/http"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// keysExpire exercises the API the way a client does (reads, a list, an
// update, an unknown id), then reads the TTL of every key in the service's
// Redis database: a key without expiry (TTL -1) grows the cache forever.
func keysExpire(ctx context.Context, h *harness.H) error {
	if err := needRedis(h); err != nil {
		return err
	}
	var ids []string
	for range 2 {
		t, err := cached(ctx, h, "")
		if err != nil {
			return err
		}
		ids = append(ids, t.ID)
	}
	// No trace, no pass: a service that never writes to Redis has no key
	// that could live forever, and caching.miss grades that.
	if k, err := keysWith(ctx, h, ids[0]); err != nil {
		return err
	} else if len(k) == 0 {
		return grader.Blockedf("caching.miss", "after two GET /todos/%s no key in the service's Redis database contains the id, so there is no cache entry whose expiry could be judged", ids[0]).
			WithHint("store each todo read in Redis under a key that contains its id: see caching.miss")
	}
	steps := []harness.Request{
		{Path: "/todos"},
		{Method: http.MethodPatch, Path: "/todos/" + ids[0], JSON: map[string]string{"status": "done"}},
		{Path: "/todos/" + ids[0]},
		{Path: "/todos/" + expect.RandomUUID(h.Rand)},
	}
	for _, r := range steps {
		if _, err := h.Do(ctx, r); err != nil {
			return err
		}
	}
	keys, err := scan(ctx, h, "*")
	if err != nil {
		return err
	}
	forever, err := withoutTTL(ctx, h, keys)
	if err != nil {
		return err
	}
	if len(forever) == 0 {
		return nil
	}
	// Show one of them as the last step.
	if _, err := ttl(ctx, h, forever[0]); err != nil {
		return err
	}
	return grader.Failf("%d of the %d keys in the service's Redis database never expire (TTL -1): %s", len(forever), len(keys), rediskeys.Names(forever, 5)).
		WithHint("give every key the service writes an expiry (EX on SET, or EXPIRE after SADD/HSET/INCR): index sets and list caches too, or Redis fills up with entries nobody removes")
}

// withoutTTL returns the keys whose TTL is -1, read in pipelines; the
// harness records the step.
func withoutTTL(ctx context.Context, h *harness.H, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return rediskeys.WithoutTTL(ctx, h, keys)
}
