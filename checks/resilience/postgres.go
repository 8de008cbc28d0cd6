package resilience

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const (
	pgBudget    = 3 * time.Second // an answer while Postgres is down or slow
	pgRecovery  = 5 * time.Second // normal again after Postgres comes back
	recoversID  = "resilience.postgres-recovers"
	resetBudget = time.Second     // normal again after a reset
	slowBy      = 6 * time.Second // how long the slow fault holds answers back
	burst       = 8               // concurrent requests, more than a small pool holds
)

// uncached are reads no cache can answer: the list, and a todo never read.
func uncached(id string) []harness.Request {
	return []harness.Request{{Path: "/todos"}, {Path: "/todos/" + id}}
}

// postgresDown: with Postgres away, a list and a never-read todo each
// answer within 3 s with 503, a JSON message, Retry-After and no stack
// trace.
func postgresDown(ctx context.Context, h *harness.H) error {
	id, _, err := newTodo(ctx, h)
	if err != nil {
		return err
	}
	if err := h.Fault("postgres").Down(ctx); err != nil {
		return err
	}
	for _, r := range uncached(id) {
		t := send(ctx, h, r, pgBudget)
		if t.err != nil {
			return t.err
		}
		if t.late(pgBudget) {
			return grader.Failf("with Postgres unreachable, GET %s got %s; expected 503 within %s", r.Path, t.describe(), pgBudget).
				WithHint("bound every database call (connect, pool acquire, query) with a timeout of a second or two, and answer 503 when it runs out; a client left waiting is worse than an error")
		}
		resp := t.resp
		if resp.Status != http.StatusServiceUnavailable {
			resp.MarkDecisive()
			return grader.Failf("with Postgres unreachable, GET %s answered %s; expected 503 Service Unavailable", r.Path, expect.StatusText(resp.Status)).
				WithHint("a database that cannot be reached is not a bug in the request (500) but a passing unavailability: answer 503 with Retry-After so that clients try again later")
		}
		if err := expect.Message(resp); err != nil {
			return expect.Hint(err, "the 503 is JSON like every other error: {\"message\": \"the database is unavailable, try again shortly\"}")
		}
		if ra := resp.Header.Get("Retry-After"); !retryAfterValid(ra) {
			resp.MarkDecisive()
			return grader.Failf("with Postgres unreachable, GET %s answered 503 with Retry-After %q; expected a number of seconds or an HTTP date", r.Path, ra).
				WithHint("a 503 says when to try again: Retry-After: 1 (seconds)")
		}
		if sign := stackTrace(resp.Body); sign != "" {
			resp.MarkDecisive()
			return grader.Failf("with Postgres unreachable, GET %s answered 503 with internals in its body (%q)", r.Path, sign).
				WithHint("log the driver's error and the stack on the server; the client gets a short message only")
		}
	}
	return nil
}

func retryAfterValid(v string) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 0
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// normal polls the uncached reads until both answer 200 or wait passes;
// it returns the last answer that was not 200.
func normal(ctx context.Context, h *harness.H, id string, wait time.Duration) (bool, *harness.Response, error) {
	var bad *harness.Response
	ok, err := until(ctx, wait, func() (bool, error) {
		for _, r := range uncached(id) {
			resp, err := h.Do(ctx, r)
			if err != nil {
				return false, expect.Transport(err)
			}
			if resp.Status != http.StatusOK {
				bad = resp
				return false, nil
			}
		}
		return true, nil
	})
	return ok, bad, err
}

// postgresRecovers: after an outage the service answers the uncached
// reads with 200 within 5 s of Postgres's return, without a restart.
func postgresRecovers(ctx context.Context, h *harness.H) error {
	id, _, err := newTodo(ctx, h)
	var pre *grader.Precondition
	if errors.As(err, &pre) && pre.By == recoversID {
		// Still down after an earlier outage: this check's own subject.
		return grader.Failf("%s", pre.Reason).WithHint("%s", pre.Hint)
	}
	if err != nil {
		return err
	}
	if err := h.Fault("postgres").Down(ctx); err != nil {
		return err
	}
	// Meet the outage.
	for _, r := range uncached(id) {
		if t := send(ctx, h, r, pgBudget); t.err != nil {
			return t.err
		}
	}
	if err := h.Fault("postgres").Restore(ctx); err != nil {
		return err
	}
	ok, bad, err := normal(ctx, h, id, pgRecovery)
	if err != nil || ok {
		return err
	}
	bad.MarkDecisive()
	return grader.Failf("%s after Postgres came back, GET %s still answered %s", pgRecovery, bad.Path, expect.StatusText(bad.Status)).
		WithHint("use a connection pool that replaces broken connections and dials again on demand; a service that keeps answering 503 after the database is back (a connection made once at start-up, a breaker that never closes) needs a restart to recover")
}

// connectionsReset: with connections warm, every open connection to
// Postgres is reset once; within 1 s the uncached reads answer 200 again.
func connectionsReset(ctx context.Context, h *harness.H) error {
	id, _, err := newTodo(ctx, h)
	if err != nil {
		return err
	}
	if ok, bad, err := normal(ctx, h, id, pgRecovery); err != nil {
		return err
	} else if !ok {
		return grader.Errorf("before the reset GET %s answered %s", bad.Path, expect.StatusText(bad.Status))
	}
	if err := h.Fault("postgres").Reset(ctx); err != nil {
		return err
	}
	ok, bad, err := normal(ctx, h, id, resetBudget)
	if err != nil || ok {
		return err
	}
	bad.MarkDecisive()
	return grader.Failf("%s after every database connection was reset once (new ones accepted), GET %s still answered %s", resetBudget, bad.Path, expect.StatusText(bad.Status)).
		WithHint("a pool drops a connection that failed and opens a new one; a request may fail at the moment of the reset, the ones after it must not")
}

// postgresSlow: with every answer from Postgres held back 6 s, a burst of
// list requests each answers within 3 s with 503 or 504; once the delay is
// gone, a burst answers 200 within 3 s (nothing leaked from the pool).
func postgresSlow(ctx context.Context, h *harness.H) error {
	if _, _, err := newTodo(ctx, h); err != nil {
		return err
	}
	if err := h.Fault("postgres").Slow(ctx, slowBy); err != nil {
		return err
	}
	res := burstOf(ctx, h, harness.Request{Path: "/todos"}, pgBudget)
	for _, t := range res {
		if t.err != nil {
			return t.err
		}
		if t.late(pgBudget) || (t.resp.Status != http.StatusServiceUnavailable && t.resp.Status != http.StatusGatewayTimeout) {
			if t.resp != nil {
				t.resp.MarkDecisive()
			}
			return grader.Failf("with Postgres answering %s late, one of %d concurrent GET /todos got %s; expected 503 or 504 within %s", slowBy, burst, t.describe(), pgBudget).
				WithHint("give every database call a deadline (the request's context with a timeout, a pool acquire timeout) and answer 503 or 504 when it passes; the client must not wait for a slow database")
		}
	}
	if err := h.Fault("postgres").Restore(ctx); err != nil {
		return err
	}
	var failed timed
	ok, err := until(ctx, pgBudget, func() (bool, error) {
		for _, t := range burstOf(ctx, h, harness.Request{Path: "/todos"}, pgBudget) {
			if t.err != nil {
				return false, t.err
			}
			if t.late(pgBudget) || t.resp.Status != http.StatusOK {
				failed = t
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil || ok {
		return err
	}
	if failed.resp != nil {
		failed.resp.MarkDecisive()
	}
	return grader.Failf("after the delay was gone, %d concurrent GET /todos still got %s (within %s of the fault's end); expected 200", burst, failed.describe(), pgBudget).
		WithHint("a request that timed out must give its connection back (or the pool must close it): a connection kept by a cancelled query, or never released on an error path, shrinks the pool until nothing is left")
}

// burstOf sends n copies of r at once.
func burstOf(ctx context.Context, h *harness.H, r harness.Request, within time.Duration) []timed {
	out := make([]timed, burst)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = send(ctx, h, r, within)
		}()
	}
	wg.Wait()
	return out
}
