package observability

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// How long readiness may take to see a dependency go and come back.
const (
	readySeesFault   = 2 * time.Second
	readySeesRecover = 5 * time.Second
	readyPoll        = 100 * time.Millisecond
)

// readiness is one answer of GET /health/ready, as far as these checks
// read it.
type readiness struct {
	resp   *harness.Response
	status any            // the body's "status"
	checks map[string]any // the body's "checks" (nil: none)
}

func (r readiness) entry(dep string) string {
	if v, ok := r.checks[dep]; ok {
		return expect.Show(v)
	}
	return "no entry"
}

func (r readiness) ok(dep string) bool { return r.checks[dep] == "ok" }

// askReady sends GET /health/ready; a body that is not a JSON object is
// read as having no checks.
func askReady(ctx context.Context, h *harness.H) (readiness, error) {
	resp, err := h.Do(ctx, harness.Request{Path: "/health/ready", NoAuth: true})
	if err != nil {
		return readiness{}, expect.Transport(err)
	}
	r := readiness{resp: resp}
	if tree, err := resp.JSON(); err == nil {
		if obj, ok := tree.(map[string]any); ok {
			r.status = obj["status"]
			r.checks, _ = obj["checks"].(map[string]any)
		}
	}
	return r, nil
}

// pollReady asks until done says so or wait has passed; it returns the
// last answer and whether done was satisfied. stop, when not nil, ends the
// wait early with a failure (an answer that may never be seen).
func pollReady(ctx context.Context, h *harness.H, wait time.Duration, done func(readiness) bool, stop func(readiness) error) (readiness, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		r, err := askReady(ctx, h)
		if err != nil {
			return r, false, err
		}
		if stop != nil {
			if err := stop(r); err != nil {
				return r, false, err
			}
		}
		if done(r) {
			return r, true, nil
		}
		if time.Now().After(deadline) {
			return r, false, nil
		}
		select {
		case <-ctx.Done():
			return r, false, ctx.Err()
		case <-time.After(readyPoll):
		}
	}
}

// readyBlocked is the precondition both checks share: readiness answers
// 200 with entries before the fault.
func readyBlocked(ctx context.Context, h *harness.H) error {
	r, err := askReady(ctx, h)
	if err != nil {
		return err
	}
	if r.resp.Status != http.StatusOK || r.checks == nil {
		return grader.Blockedf("observability.ready", "with every dependency up, GET /health/ready answered %s without a \"checks\" object, so a failing dependency cannot be told from it", expect.StatusText(r.resp.Status)).
			WithHint("see observability.ready")
	}
	for _, d := range dependencies(h) {
		if !r.ok(d) {
			return grader.Blockedf("observability.ready", "with every dependency up, GET /health/ready said %s: %s, so its failure cannot be told from it", d, r.entry(d)).
				WithHint("see observability.ready")
		}
	}
	return nil
}

// allOK waits up to readySeesRecover for every dependency's entry to be
// "ok" again with 200, after restore.
func allOK(ctx context.Context, h *harness.H, deps []string, after string) error {
	r, ok, err := pollReady(ctx, h, readySeesRecover, func(r readiness) bool {
		if r.resp.Status != http.StatusOK {
			return false
		}
		for _, d := range deps {
			if !r.ok(d) {
				return false
			}
		}
		return true
	}, nil)
	if err != nil || ok {
		return err
	}
	r.resp.MarkDecisive()
	var bad []string
	for _, d := range deps {
		if !r.ok(d) {
			bad = append(bad, fmt.Sprintf("%s: %s", d, r.entry(d)))
		}
	}
	return grader.Failf("%s came back, but %s later GET /health/ready still answered %s (%s)", after, readySeesRecover, expect.StatusText(r.resp.Status), strings.Join(bad, ", ")).
		WithHint("readiness asks each dependency at every request (or every second or so), so an entry is \"ok\" again as soon as its dependency answers; a result kept for long, or a connection never dialled again, keeps the service out of rotation")
}

// readyPostgresDown: with Postgres taken away at the grader's proxy,
// /health/ready answers 503 with a status other than "ok" and a postgres
// entry other than "ok" within 2 s; within 5 s of its return, 200 and
// every entry "ok".
func readyPostgresDown(ctx context.Context, h *harness.H) error {
	if err := readyBlocked(ctx, h); err != nil {
		return err
	}
	if err := h.Fault("postgres").Down(ctx); err != nil {
		return err
	}
	r, ok, err := pollReady(ctx, h, readySeesFault, func(r readiness) bool {
		return r.resp.Status == http.StatusServiceUnavailable && r.status != "ok" && r.checks != nil && !r.ok("postgres")
	}, nil)
	if err != nil {
		return err
	}
	if !ok {
		r.resp.MarkDecisive()
		return grader.Failf("with Postgres unreachable for %s, GET /health/ready answered %s with status %s and postgres entry %s; expected 503, a status other than \"ok\" and a postgres entry other than \"ok\"",
			readySeesFault, expect.StatusText(r.resp.Status), expect.Show(r.status), r.entry("postgres")).
			WithHint("readiness must ask Postgres itself (a ping or SELECT 1 with a short timeout) at each request: without its database the service cannot serve, so it answers 503 and an orchestrator takes it out of rotation")
	}
	if err := h.Fault("postgres").Restore(ctx); err != nil {
		return err
	}
	return allOK(ctx, h, dependencies(h), "Postgres")
}

// readyDegraded: with Redis (and RabbitMQ, when the run has it) taken
// away, each shows in checks within 2 s while the answer stays 200; every
// entry is "ok" again within 5 s of its return.
func readyDegraded(ctx context.Context, h *harness.H) error {
	if err := readyBlocked(ctx, h); err != nil {
		return err
	}
	var degraded []string
	for _, d := range []string{"redis", "rabbitmq"} {
		if h.Has(d) && h.Fault(d).Available() {
			degraded = append(degraded, d)
		}
	}
	if len(degraded) == 0 {
		return grader.Skipf("the run gives the service neither Redis nor RabbitMQ behind the grader's fault proxy")
	}
	sort.Strings(degraded)
	for _, d := range degraded {
		if err := h.Fault(d).Down(ctx); err != nil {
			return err
		}
		stayed200 := func(r readiness) error {
			if r.resp.Status == http.StatusOK {
				return nil
			}
			r.resp.MarkDecisive()
			return grader.Failf("with %s unreachable, GET /health/ready answered %s; expected 200 with %s named in checks: the service still serves without it", d, expect.StatusText(r.resp.Status), d).
				WithHint("only a dependency the service cannot serve without (Postgres) makes readiness fail; without %s the service answers, degraded, so readiness says 200 with a \"%s\" entry other than \"ok\"", d, d)
		}
		r, ok, err := pollReady(ctx, h, readySeesFault, func(r readiness) bool { return r.checks != nil && !r.ok(d) }, stayed200)
		if err != nil {
			return err
		}
		if !ok {
			r.resp.MarkDecisive()
			return grader.Failf("with %s unreachable for %s, GET /health/ready still said %s: %s", d, readySeesFault, d, r.entry(d)).
				WithHint("readiness asks %s itself at each request (a PING, a connection check) with a short timeout, and says something other than \"ok\" for it when it does not answer", d)
		}
		if err := h.Fault(d).Restore(ctx); err != nil {
			return err
		}
		if err := allOK(ctx, h, dependencies(h), d); err != nil {
			return err
		}
	}
	return nil
}
