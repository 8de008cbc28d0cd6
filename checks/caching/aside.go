package caching

import (
	"context"

	"github.com/backend-grader/grader/checks/internal/dbfind"
	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// firstGetIsMiss: a new todo's first GET says X-Cache: MISS and leaves a
// Redis key whose name contains the todo's id.
func firstGetIsMiss(ctx context.Context, h *harness.H) error {
	if err := needRedis(h); err != nil {
		return err
	}
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	resp, _, err := getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	if xCache(resp) != "MISS" {
		return grader.Failf("the first GET /todos/%s of a todo that was just created: expected X-Cache: MISS, got %s", t.ID, describeXCache(resp)).
			WithHint("cache-aside: GET looks in Redis first; when the entry is not there it reads Postgres, stores the todo in Redis and answers with X-Cache: MISS (creating a todo does not fill the cache)")
	}
	keys, err := keysWith(ctx, h, t.ID)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return grader.Failf("after the first GET /todos/%s (X-Cache: MISS) no key in the service's Redis database contains the id %s", t.ID, t.ID).
			WithHint("on a MISS store the todo in Redis (the database in REDIS_URL) under a key that contains its id, e.g. todo:<id>, so the next GET can be served from there")
	}
	return nil
}

// entryHasTTL: every key holding the todo expires, within CACHE_TTL_SECONDS.
// The TTL is read, never waited out.
func entryHasTTL(ctx context.Context, h *harness.H) error {
	limit, err := maxTTL(h)
	if err != nil {
		return err
	}
	if err := needRedis(h); err != nil {
		return err
	}
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if _, _, err := getTodo(ctx, h, "", t.ID); err != nil {
		return err
	}
	keys, err := keysWith(ctx, h, t.ID)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return grader.Failf("after GET /todos/%s no key in the service's Redis database contains the id, so there is no entry whose expiry could be read", t.ID).
			WithHint("on a MISS store the todo in Redis under a key that contains its id, with an expiry of CACHE_TTL_SECONDS")
	}
	for _, k := range keys {
		secs, err := ttl(ctx, h, k)
		if err != nil {
			return err
		}
		switch {
		case secs == -2:
			return grader.Failf("Redis key %s vanished right after the GET that stored it (TTL -2): expected it to live up to %s=%d seconds", harness.RedisQuote(k), TTLVar, limit).
				WithHint("set the expiry in seconds (EX %d, not PX or a tiny value) when storing the entry", limit)
		case secs == -1:
			return grader.Failf("Redis key %s has no expiry (TTL -1): expected 0 < TTL <= %d (%s)", harness.RedisQuote(k), limit, TTLVar).
				WithHint("store the entry with an expiry (SET key value EX <CACHE_TTL_SECONDS>) so that a stale copy cannot outlive the limit")
		case secs <= 0 || secs > limit:
			return grader.Failf("Redis key %s has TTL %d seconds: expected 0 < TTL <= %d, the %s the service was given", harness.RedisQuote(k), secs, limit, TTLVar).
				WithHint("read %s from the environment at start-up and use it as the expiry in seconds instead of a fixed value", TTLVar)
		}
	}
	return nil
}

// secondGetIsHit: the second GET says X-Cache: HIT and returns the same todo.
func secondGetIsHit(ctx context.Context, h *harness.H) error {
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	_, first, err := getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	resp, second, err := getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	if xCache(resp) != "HIT" {
		return grader.Failf("the second GET /todos/%s in a row: expected X-Cache: HIT, got %s", t.ID, describeXCache(resp)).
			WithHint("on the second GET the entry stored by the first one is in Redis: serve it from there and say X-Cache: HIT (check that reading and writing use the same key)")
	}
	if d := todos.Diff(first, second); d != "" {
		return grader.Failf("the HIT for GET /todos/%s differs from the MISS before it (expected = the MISS):%s", t.ID, d).
			WithHint("store the todo exactly as the API shows it, and serve the cached copy as it is")
	}
	return nil
}

// hitReadsRedis changes the title in Postgres behind the cache: the next GET
// must still serve the cached title (the HIT comes from Redis); once the
// grader deletes the todo's Redis keys, the next GET must show the new title
// (the entry lives in those keys, not in the process's memory); and one of
// those keys holds the title as text (a JSON string or a hash field).
func hitReadsRedis(ctx context.Context, h *harness.H) error {
	if err := needRedis(h); err != nil {
		return err
	}
	t, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if _, _, err := getTodo(ctx, h, "", t.ID); err != nil {
		return err
	}
	tab, err := dbfind.Todos(ctx, h, func(context.Context) (dbfind.Todo, error) {
		return dbfind.Todo{ID: t.ID, Title: t.Title, Description: t.Description, Status: t.Status}, nil
	})
	if err != nil {
		return dbfind.As(err, "persistence.create-is-row", false)
	}
	changed := "changed in postgres " + expect.Title(h.Rand)
	n, err := h.Exec(ctx, "UPDATE "+tab.Ident()+" SET "+tab.Col("title")+" = $1 WHERE "+tab.Col("id")+"::text = $2", changed, t.ID)
	if err != nil {
		return grader.Errorf("changing the todo's title in Postgres: %v", err)
	}
	if n != 1 {
		return grader.Blockedf("persistence.create-is-row", "changing the todo's title in Postgres: UPDATE %s ... WHERE %s = '%s' matched %d rows, expected 1", tab.Shown, tab.Name("id"), t.ID, n)
	}
	resp, got, err := getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	if got.Title != t.Title {
		if got.Title == changed {
			return grader.Failf("after the grader changed the title in Postgres only, GET /todos/%s served the new title %q (%s): the cached entry should have been served, with the old title %q", t.ID, got.Title, describeXCache(resp), t.Title).
				WithHint("on a HIT answer from Redis without querying Postgres; only a MISS reads the database")
		}
		return grader.Failf("GET /todos/%s served title %q, expected the cached %q", t.ID, got.Title, t.Title)
	}
	keys, err := keysWith(ctx, h, t.ID)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return grader.Failf("GET /todos/%s served a copy older than Postgres, but no key in the service's Redis database contains the id: the cache is not in Redis", t.ID).
			WithHint("keep the cache in Redis (REDIS_URL), not in the process's memory, so that every instance of the service shares it and it survives restarts")
	}
	// The key must hold the todo, not only say that it is cached: a flag
	// in Redis beside a copy in the process's memory is not a shared cache.
	ok, err := holds(ctx, h, keys, t.Title)
	if err != nil {
		return err
	}
	if !ok {
		return grader.Failf("GET /todos/%s served the cached title %q, but none of the Redis keys containing the id (%s) holds that title: the cached copy is not in Redis", t.ID, t.Title, rediskeys.Names(keys, 5)).
			WithHint("store the todo itself in Redis (e.g. its JSON under todo:<id>) and serve a HIT from that value; a flag in Redis beside a copy in the process's memory is not shared by other instances")
	}
	if err := del(ctx, h, keys); err != nil {
		return err
	}
	resp, got, err = getTodo(ctx, h, "", t.ID)
	if err != nil {
		return err
	}
	if got.Title != changed {
		return grader.Failf("after the grader deleted the Redis key(s) %s, GET /todos/%s still served the old title %q (%s), expected the title now in Postgres %q",
			rediskeys.Names(keys, 5), t.ID, got.Title, describeXCache(resp), changed).
			WithHint("the cached copy must live in Redis only: without its key the next GET is a MISS that reads Postgres")
	}
	return nil
}
