package resilience

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// redisBudget is how long a request may take while Redis is away.
const redisBudget = 2 * time.Second

// redisRecovery is how long caching may take to resume after Redis returns.
const redisRecovery = 5 * time.Second

// redisDownLimiter: with Redis away, requests the limiter would count go
// through (2xx) within 2 s, several in a row.
func redisDownLimiter(ctx context.Context, h *harness.H) error {
	if err := h.Fault("redis").Down(ctx); err != nil {
		return err
	}
	for i := 0; i < 4; i++ {
		t := send(ctx, h, harness.Request{Path: "/todos"}, redisBudget)
		if t.err != nil {
			return t.err
		}
		if t.late(redisBudget) || t.resp.Status < 200 || t.resp.Status > 299 {
			if t.resp != nil {
				t.resp.MarkDecisive()
			}
			return grader.Failf("with Redis unreachable, GET /todos (request %d) got %s; expected a 2xx within %s: the limiter must let requests through when it cannot count them", i+1, t.describe(), redisBudget).
				WithHint("when the limiter's store fails, log it and let the request through (fail open): an outage of the counters must not become an outage of the API")
		}
	}
	return nil
}

// redisDownReads: with Redis away, GET /todos/{id} of a todo never read
// before answers 200 with that todo within 2 s (from Postgres).
func redisDownReads(ctx context.Context, h *harness.H) error {
	var ids, titles []string
	for i := 0; i < 2; i++ {
		id, title, err := newTodo(ctx, h)
		if err != nil {
			return err
		}
		ids, titles = append(ids, id), append(titles, title)
	}
	if err := h.Fault("redis").Down(ctx); err != nil {
		return err
	}
	for i, id := range ids {
		t := send(ctx, h, harness.Request{Path: "/todos/" + id}, redisBudget)
		if t.err != nil {
			return t.err
		}
		if err := limiterBlocked(t, "GET /todos/{id}"); err != nil {
			return err
		}
		if t.late(redisBudget) || t.resp.Status != http.StatusOK {
			if t.resp != nil {
				t.resp.MarkDecisive()
			}
			return grader.Failf("with Redis unreachable, GET /todos/%s (never read before) got %s; expected 200 within %s from the database", id, t.describe(), redisBudget).
				WithHint("treat a cache error as a miss: log it, read the todo from Postgres and answer; the cache only makes reads faster, it is never needed to answer one")
		}
		body, err := expect.Object(t.resp)
		if err != nil {
			return err
		}
		if body["title"] != titles[i] {
			t.resp.MarkDecisive()
			return grader.Failf("with Redis unreachable, GET /todos/%s answered 200 with title %s, expected %s", id, expect.Show(body["title"]), expect.Show(titles[i])).
				WithHint("without the cache, read the todo from the database")
		}
	}
	return nil
}

// redisDownWrites: with Redis away, POST, PATCH and DELETE succeed within
// 2 s (on a todo that was cached before the outage).
func redisDownWrites(ctx context.Context, h *harness.H) error {
	id, _, err := newTodo(ctx, h)
	if err != nil {
		return err
	}
	// Cached before the outage, so the writes have an entry to invalidate.
	if _, err := h.Do(ctx, harness.Request{Path: "/todos/" + id}); err != nil {
		return expect.Transport(err)
	}
	if err := h.Fault("redis").Down(ctx); err != nil {
		return err
	}
	steps := []struct {
		r    harness.Request
		what string
	}{
		{harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": expect.Title(h.Rand)}}, "POST /todos"},
		{harness.Request{Method: http.MethodPatch, Path: "/todos/" + id, JSON: map[string]any{"title": expect.Title(h.Rand)}}, "PATCH /todos/{id}"},
		{harness.Request{Method: http.MethodDelete, Path: "/todos/" + id}, "DELETE /todos/{id}"},
	}
	for _, s := range steps {
		t := send(ctx, h, s.r, redisBudget)
		if t.err != nil {
			return t.err
		}
		if err := limiterBlocked(t, s.what); err != nil {
			return err
		}
		if t.late(redisBudget) || t.resp.Status < 200 || t.resp.Status > 299 {
			if t.resp != nil {
				t.resp.MarkDecisive()
			}
			return grader.Failf("with Redis unreachable, %s got %s; expected a 2xx within %s", s.what, t.describe(), redisBudget).
				WithHint("a write goes to the database; dropping the cached copy afterwards is best effort: when Redis does not answer, log it and answer the write as usual")
		}
	}
	return nil
}

// redisRecovers: after an outage, within 5 s of Redis's return a read of
// a todo leaves its key in Redis and the next read is a HIT, without the
// service being restarted.
func redisRecovers(ctx context.Context, h *harness.H) error {
	id, _, err := newTodo(ctx, h)
	if err != nil {
		return err
	}
	if err := h.Fault("redis").Down(ctx); err != nil {
		return err
	}
	// Meet the outage: a read and a write while Redis is away.
	if _, err := h.Do(ctx, harness.Request{Path: "/todos/" + id}); err != nil {
		return expect.Transport(err)
	}
	if _, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": expect.Title(h.Rand)}}); err != nil {
		return expect.Transport(err)
	}
	if err := h.Fault("redis").Restore(ctx); err != nil {
		return err
	}
	var last *harness.Response
	var keys []string
	ok, err := until(ctx, redisRecovery, func() (bool, error) {
		resp, err := h.Do(ctx, harness.Request{Path: "/todos/" + id})
		if err != nil {
			return false, expect.Transport(err)
		}
		last = resp
		if resp.Status != http.StatusOK {
			return false, nil
		}
		if strings.EqualFold(resp.Header.Get("X-Cache"), "HIT") {
			keys, err = rediskeys.Keys(ctx, h, "*"+id+"*")
			return len(keys) > 0, err
		}
		return false, nil
	})
	if err != nil || ok {
		return err
	}
	if last != nil {
		last.MarkDecisive()
	}
	return grader.Failf("%s after Redis came back, GET /todos/%s still did not come from the cache (last answer %s, X-Cache: %q; Redis keys with its id: %d)", redisRecovery, id, expect.StatusText(last.Status), last.Header.Get("X-Cache"), len(keys)).
		WithHint("keep using the Redis client after an error: it dials again by itself; a cache switched off for good after one failure, or a connection made once at start-up, needs a restart to come back")
}
