package grader

import (
	"fmt"
	"strings"

	"github.com/backend-grader/grader/internal/harness"
)

// Diagnosis is a pattern that broke a whole run, said once at the top of
// the report with what to change (DESIGN.md §3.1): every route answering
// 404, a public route answering 401, 429s before the rate-limiting stage.
type Diagnosis struct {
	// Kind is one of routes-404, public-401, token-401, throttled.
	Kind string `json:"kind"`
	// Message is what the grader saw, in HTTP terms.
	Message string `json:"message"`
	// Fix is what to change, in one sentence.
	Fix string `json:"fix"`
	// Checks is how many checks the pattern blocked, when it is known.
	Checks int `json:"checks,omitempty"`
}

// authStageID is the stage of harness.RegisterCheck: its checks send
// refused tokens on purpose.
var authStageID, _, _ = strings.Cut(harness.RegisterCheck, ".")

// refusedResult is the result of a check outside the auth stage that did
// not pass and whose request with a token from the service's own register
// or login was answered 401: the service refusing its own tokens is the
// cause, and harness.RegisterCheck grades it.
func refusedResult(res CheckResult, req string) CheckResult {
	return blockedByCause(res, harness.RegisterCheck, fmt.Sprintf("your service answered 401 Unauthorized to %s with a token its own /register or /login gave (Authorization: Bearer <token>)", req))
}

// limitStageID is the stage whose checks grade the rate limit: before it a
// 429 is the project's own limiter at work, not the skill being graded.
var limitStageID, _, _ = strings.Cut(harness.LimitCheck, ".")

// throttledResult is the result of a check that met a 429 before the
// rate-limiting stage and did not pass: whatever went wrong, the 429 is
// the cause, and harness.LimitCheck grades it (DESIGN.md §4).
func throttledResult(res CheckResult, req string, env map[string]string) CheckResult {
	return blockedByCause(res, harness.LimitCheck, fmt.Sprintf("your service answered 429 Too Many Requests before the rate-limiting stage (%s): it does not take its limit from RATE_LIMIT_REQUESTS / RATE_LIMIT_WINDOW_SECONDS%s",
		req, limitsText(env)))
}

// blockedByCause makes res blocked by the check by, which grades the
// cause why; what the check itself saw stays as a second line, unless its
// setup had said the same already. The run's diagnosis says what to
// change, once, so res carries no hint.
func blockedByCause(res CheckResult, by, why string) CheckResult {
	seen := res.Message
	if res.Status == StatusBlocked && res.BlockedBy == by {
		seen = ""
	}
	res.Status, res.BlockedBy, res.Points = StatusBlocked, by, 0
	res.Message = why
	if seen != "" {
		res.Message += "\n(what the check saw: " + firstLineOf(seen) + ")"
	}
	res.Hint = ""
	return res
}

const throttledFix = "read the limit from RATE_LIMIT_REQUESTS and the window from RATE_LIMIT_WINDOW_SECONDS (the grader sets them generously before the rate-limiting stage); " +
	"if your limiter reads other names, map them in grader.yaml, e.g. env: {MAX_REQUESTS: ${RATE_LIMIT_REQUESTS}}"

// limitsText says what the grader set, e.g. " (the grader set 100000 per 60 seconds)".
func limitsText(env map[string]string) string {
	n, w := env["RATE_LIMIT_REQUESTS"], env["RATE_LIMIT_WINDOW_SECONDS"]
	if n == "" {
		return ", and the grader sets no limit before the rate-limiting stage"
	}
	return fmt.Sprintf(" (the grader set %s requests per %s seconds)", n, w)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// diagnose finds the patterns that broke the whole run in what the
// service answered (h's traffic) and in the number of checks blocked by
// 429s before the rate-limiting stage.
func diagnose(h *harness.H, throttled, refused int) []Diagnosis {
	if h == nil {
		return nil
	}
	t := h.Traffic()
	var out []Diagnosis
	if t.Responses >= 5 && t.Success == 0 && t.NotFound*10 >= t.Responses*8 {
		d := Diagnosis{Kind: "routes-404",
			Message: fmt.Sprintf("every route answered 404 Not Found (%d of the service's %d answers, none 2xx)", t.NotFound, t.Responses)}
		if h.BasePath == "" {
			d.Fix = "if your routes live under a prefix (e.g. /api/v1/health), set basePath: /api/v1 in grader.yaml; otherwise serve them at the root (GET /health, POST /todos)"
		} else {
			d.Fix = fmt.Sprintf("the grader sends every route under basePath %s (grader.yaml): make it the prefix your routes really have, or remove it if they live at the root", h.BasePath)
		}
		out = append(out, d)
	}
	if t.HealthDenied != "" && t.HealthOK == 0 {
		out = append(out, Diagnosis{Kind: "public-401",
			Message: "a public route asks for a token: " + t.HealthDenied + " without an Authorization header",
			Fix:     "put the authentication middleware on the /todos routes only: /health, /register and /login answer without a token"})
	}
	if refused > 0 {
		out = append(out, Diagnosis{Kind: "token-401", Checks: refused,
			Message: fmt.Sprintf("your service answered 401 Unauthorized to requests carrying a token its own /register or /login gave, so %d checks could not be graded", refused),
			Fix:     "accept `Authorization: Bearer <token>` with the token /login gives on every /todos route (and any route after the auth stage), signed and checked with JWT_SECRET"})
	}
	if throttled > 0 {
		out = append(out, Diagnosis{Kind: "throttled", Checks: throttled,
			Message: fmt.Sprintf("your service answered 429 Too Many Requests before the rate-limiting stage (%d of the service's answers), so %d checks before that stage could not be graded: it does not take its limit from RATE_LIMIT_REQUESTS / RATE_LIMIT_WINDOW_SECONDS",
				t.Throttled, throttled),
			Fix: throttledFix})
	}
	return out
}
