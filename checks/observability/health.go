package observability

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// The health routes are public: the checks send no token, so that a
// broken /register cannot fail them.

// live: GET /health/live -> 200 while the process runs.
func live(ctx context.Context, h *harness.H) error {
	resp, err := h.Do(ctx, harness.Request{Path: "/health/live", NoAuth: true})
	if err != nil {
		return expect.Transport(err)
	}
	return expect.Hint(expect.Status(resp, http.StatusOK),
		"GET /health/live answers 200 whenever the process runs, without looking at its dependencies (an orchestrator restarts the service when it does not)")
}

// healthMethods: other methods on /health/live and /health/ready -> 405
// with an Allow header that names GET.
func healthMethods(ctx context.Context, h *harness.H) error {
	for _, p := range []struct{ method, path, check string }{
		{http.MethodPost, "/health/live", "observability.live"},
		{http.MethodDelete, "/health/ready", "observability.ready"},
		{http.MethodPut, "/health/ready", "observability.ready"},
	} {
		resp, err := h.Do(ctx, harness.Request{Method: p.method, Path: p.path, NoAuth: true})
		if err != nil {
			return expect.Transport(err)
		}
		if resp.Status == http.StatusNotFound {
			return grader.Blockedf(p.check, "%s %s answered 404: the path is not served at all, so its other methods cannot be graded", p.method, p.path).
				WithHint("serve GET %s first: see %s", p.path, p.check)
		}
		if err := expect.Status(resp, http.StatusMethodNotAllowed); err != nil {
			return expect.Hint(err, "%s serves GET only: any other method answers 405 Method Not Allowed with an Allow header, as /health does", p.path)
		}
		allow := resp.Header.Get("Allow")
		if !allowsGet(allow) {
			resp.MarkDecisive()
			shown := "no Allow header"
			if allow != "" {
				shown = fmt.Sprintf("Allow: %s", harness.Shorten(allow, 100))
			}
			return grader.Failf("%s %s: expected 405 with an Allow header naming GET, got %s", p.method, p.path, shown).
				WithHint("a 405 answer says which methods the path does serve in its Allow header, e.g. \"Allow: GET, HEAD\"")
		}
	}
	return nil
}

func allowsGet(allow string) bool {
	for _, m := range strings.Split(allow, ",") {
		if strings.EqualFold(strings.TrimSpace(m), http.MethodGet) {
			return true
		}
	}
	return false
}

// dependencies are the names /health/ready reports, in order, as far as
// the run provides them to the service.
func dependencies(h *harness.H) []string {
	var out []string
	for _, d := range []string{"postgres", "redis", "rabbitmq"} {
		if h.Has(d) {
			out = append(out, d)
		}
	}
	return out
}

// ready: GET /health/ready -> 200 {"status": "ok", "checks": {"postgres":
// "ok", ...}} with an entry for each dependency the run gives the service.
func ready(ctx context.Context, h *harness.H) error {
	resp, err := h.Do(ctx, harness.Request{Path: "/health/ready", NoAuth: true})
	if err != nil {
		return expect.Transport(err)
	}
	deps := dependencies(h)
	want := map[string]any{"status": "ok"}
	checks := map[string]any{}
	for _, d := range deps {
		checks[d] = "ok"
	}
	want["checks"] = checks
	example := expect.Show(want)
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return expect.Hint(err, "with every dependency reachable, GET /health/ready answers 200 %s", example)
	}
	body, err := expect.Object(resp)
	if err != nil {
		return expect.Hint(err, "answer GET /health/ready with a JSON object such as %s", example)
	}
	gotChecks, ok := body["checks"].(map[string]any)
	if !ok {
		resp.MarkDecisive()
		return grader.Failf("GET /health/ready: expected \"checks\" to be an object with one entry per dependency (%s), got %s",
			strings.Join(deps, ", "), expect.Describe(body["checks"])).
			WithHint("answer %s: one entry per dependency, named postgres, redis, rabbitmq, \"ok\" when the service can reach it", example)
	}
	// Entries for more than these (a disk, a downstream API) are fine.
	sub := map[string]any{}
	for _, d := range deps {
		if v, ok := gotChecks[d]; ok {
			sub[d] = v
		}
	}
	got := map[string]any{"checks": sub}
	if v, ok := body["status"]; ok {
		got["status"] = v
	}
	if d := expect.Diff(want, got); d != "" {
		resp.MarkDecisive()
		return grader.Failf("GET /health/ready, with every dependency up: unexpected body %s", d).
			WithHint("readiness asks each dependency the service uses (a ping, a SELECT 1) and says \"ok\" for each that answers; with all of them up the answer is %s", example)
	}
	return nil
}
