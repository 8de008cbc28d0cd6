package caching

import (
	"context"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// needRedis returns an error (status error) when the run has no Redis handle.
func needRedis(h *harness.H) error {
	if h.Redis == nil {
		return grader.Errorf("this run has no Redis to inspect (a grader bug: the caching stage declares it)")
	}
	return nil
}

// maxTTL reads CACHE_TTL_SECONDS from the service's environment.
func maxTTL(h *harness.H) (int64, error) {
	v := h.Env[TTLVar]
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, grader.Errorf("%s is %q in the service's environment; the caching checks need a positive number of seconds (remove --env %s=... or give one)", TTLVar, v, TTLVar)
	}
	return n, nil
}

// globEscape escapes the characters that are special in a Redis MATCH pattern.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// scan lists the keys of the run's Redis database that match pattern (all
// of them for "*"), sorted; the harness records the step.
func scan(ctx context.Context, h *harness.H, pattern string) ([]string, error) {
	if err := needRedis(h); err != nil {
		return nil, err
	}
	return rediskeys.Keys(ctx, h, pattern)
}

// keysWith lists the keys whose name contains s (the cache entries of one todo).
func keysWith(ctx context.Context, h *harness.H, s string) ([]string, error) {
	return scan(ctx, h, "*"+globEscape(s)+"*")
}

// ttl reads a key's TTL in seconds as redis-cli shows it: -1 no expiry,
// -2 no such key. h.Redis records the step.
func ttl(ctx context.Context, h *harness.H, key string) (int64, error) {
	n, err := h.Redis.TTL(ctx, key).Result()
	if err != nil {
		return 0, grader.Errorf("reading the TTL of Redis key %s: %v", harness.RedisQuote(key), err)
	}
	// go-redis returns -1 and -2 as they are, and seconds as a Duration.
	secs := int64(n)
	if n > 0 {
		secs = int64(n.Seconds())
	}
	return secs, nil
}

// del removes keys from the run's Redis database; h.Redis records the step.
func del(ctx context.Context, h *harness.H, keys []string) error {
	if err := h.Redis.Del(ctx, keys...).Err(); err != nil {
		return grader.Errorf("deleting Redis keys: %v", err)
	}
	return nil
}

// holds reports whether one of keys holds text: a string value containing
// it (as it stands or once decoded from JSON), or a hash with a field whose
// value does. h.Redis records each read. A value the grader cannot read as
// text (compressed, binary encodings) does not hold it.
func holds(ctx context.Context, h *harness.H, keys []string, text string) (bool, error) {
	for _, k := range keys {
		typ, err := h.Redis.Type(ctx, k).Result()
		if err != nil {
			return false, grader.Errorf("reading the type of Redis key %s: %v", harness.RedisQuote(k), err)
		}
		var values []string
		switch typ {
		case "string":
			v, err := h.Redis.Get(ctx, k).Result()
			if err != nil {
				continue // expired in between
			}
			values = append(values, v)
		case "hash":
			m, err := h.Redis.HGetAll(ctx, k).Result()
			if err != nil {
				continue
			}
			for _, v := range m {
				values = append(values, v)
			}
		}
		for _, v := range values {
			if strings.Contains(v, text) || jsonHolds(v, text) {
				return true, nil
			}
		}
	}
	return false, nil
}

// jsonHolds reports whether v, decoded as JSON, has a string containing text.
func jsonHolds(v, text string) bool {
	tree, err := harness.ParseJSON([]byte(v))
	if err != nil {
		return false
	}
	var walk func(any) bool
	walk = func(x any) bool {
		switch x := x.(type) {
		case string:
			return strings.Contains(x, text) || jsonHolds(x, text) // a JSON string inside JSON
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(tree)
}
