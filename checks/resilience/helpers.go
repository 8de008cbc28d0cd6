package resilience

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const poll = 100 * time.Millisecond

// newTodo creates a todo (before any fault) and returns its id and title.
// A service still recovering from an earlier check's outage gets the
// pgRecovery the spec allows, so no check depends on the order of the
// checks. One that still answers 503 then, while Postgres answers the
// grader, has not recovered: resilience.postgres-recovers grades that.
func newTodo(ctx context.Context, h *harness.H) (string, string, error) {
	title := expect.Title(h.Rand)
	deadline := time.Now().Add(pgRecovery)
	for {
		resp, t, err := todos.Create[map[string]any](ctx, h, "", map[string]any{"title": title})
		if err == nil {
			return todos.ID(t), title, nil
		}
		if resp == nil || resp.Status != http.StatusServiceUnavailable || ctx.Err() != nil {
			return "", "", err
		}
		if time.Now().After(deadline) {
			if h.PG == nil || h.PG.Ping(ctx) != nil {
				return "", "", err
			}
			resp.MarkDecisive()
			return "", "", grader.Blockedf(recoversID, "for %s POST /todos answered 503 while Postgres answered the grader: the service did not recover from an earlier outage", pgRecovery).
				WithHint("use a connection pool that replaces broken connections and dials again on demand, and no breaker that stays open for long")
		}
		select {
		case <-ctx.Done():
			return "", "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// timed is one request with its own deadline; resp is nil when no answer
// came within within.
type timed struct {
	resp *harness.Response
	took time.Duration
	err  error // a transport error other than the deadline
}

func send(ctx context.Context, h *harness.H, r harness.Request, within time.Duration) timed {
	// Half a second more than allowed, to tell "late" from "never".
	rctx, cancel := context.WithTimeout(ctx, within+500*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := h.Do(rctx, r)
	t := timed{resp: resp, took: time.Since(start)}
	if err != nil && !errors.Is(rctx.Err(), context.DeadlineExceeded) {
		t.err = expect.Transport(err)
	}
	if err != nil {
		t.resp = nil
	}
	return t
}

func (t timed) late(within time.Duration) bool { return t.resp == nil || t.took > within }

// describe says what came back, for messages.
func (t timed) describe() string {
	if t.resp == nil {
		return "no answer within " + t.took.Round(100*time.Millisecond).String()
	}
	return expect.StatusText(t.resp.Status) + " after " + t.took.Round(time.Millisecond).String()
}

// limiterBlocked turns a 429 met while Redis is away into a block by the
// limiter's check, which grades that cause.
func limiterBlocked(t timed, what string) error {
	if t.resp != nil && t.resp.Status == http.StatusTooManyRequests {
		return grader.Blockedf("resilience.redis-down-limiter", "%s answered 429 while Redis was unreachable: the rate limiter refuses requests it cannot count", what).
			WithHint("see resilience.redis-down-limiter")
	}
	return nil
}

// until calls try every poll until it returns true or wait has passed.
func until(ctx context.Context, wait time.Duration, try func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		ok, err := try()
		if err != nil || ok {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// stackSigns are what a stack trace or a driver's error looks like in a
// body.
var stackSigns = []string{"goroutine ", "panic:", ".go:", "Traceback (most recent call last)", "\n    at ", "\tat ", "node_modules", "dial tcp", "connection refused", "SQLSTATE"}

func stackTrace(body []byte) string {
	s := string(body)
	for _, sign := range stackSigns {
		if strings.Contains(s, sign) {
			return sign
		}
	}
	return ""
}
