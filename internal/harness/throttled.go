package harness

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// What the harness notices in the service's answers, for the runner: a
// check that met a 429 before the rate-limiting stage is blocked by
// LimitCheck whatever else went wrong (DESIGN.md §4), and patterns that
// break a whole run are diagnosed once (DESIGN.md §3.1).

// Met429 returns the first request of this check that was answered 429
// Too Many Requests, as "METHOD /path" ("" when none was).
func (h *H) Met429() string {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	return h.check.first429
}

// Met401 returns the first request of this check that carried a token the
// service's own register or login gave and was answered 401 Unauthorized,
// as "METHOD /path" ("" when none was): outside the auth stage, the cause
// of whatever else went wrong is the service refusing its own tokens,
// which RegisterCheck grades.
func (h *H) Met401() string {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	return h.check.first401
}

// Traffic counts the service's answers over the whole run.
type Traffic struct {
	// Responses is the number of HTTP responses the service sent to the
	// grader's requests; NotFound and Success how many were 404 and 2xx.
	Responses, NotFound, Success int
	// Throttled is how many were 429 Too Many Requests.
	Throttled int
	// HealthDenied is the first request for a public route (GET /health
	// without a token) that was answered 401 or 403, "" when none was;
	// HealthOK counts the public requests answered 2xx.
	HealthDenied string
	HealthOK     int
}

type traffic struct {
	mu sync.Mutex
	t  Traffic
}

// Traffic returns the counts of the run so far.
func (h *H) Traffic() Traffic {
	h.shared.traffic.mu.Lock()
	defer h.shared.traffic.mu.Unlock()
	return h.shared.traffic.t
}

// notice counts a response to r (the route as the track names it, before
// the base path); sentToken says whether it carried an Authorization
// header, loginToken whether that was a token register or login gave.
func (h *H) notice(r Request, status int, sentToken, loginToken bool) {
	if status == http.StatusTooManyRequests || status == http.StatusUnauthorized && loginToken {
		h.check.mu.Lock()
		first := &h.check.first429
		if status == http.StatusUnauthorized {
			first = &h.check.first401
		}
		if *first == "" {
			*first = r.Method + " " + r.Path
		}
		h.check.mu.Unlock()
	}
	if strings.HasPrefix(r.Path, "http://") || strings.HasPrefix(r.Path, "https://") {
		return // another instance, or a URL a check built itself
	}
	tr := &h.shared.traffic
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.t.Responses++
	switch {
	case status == http.StatusNotFound:
		tr.t.NotFound++
	case status == http.StatusTooManyRequests:
		tr.t.Throttled++
	case status >= 200 && status < 300:
		tr.t.Success++
	}
	path, _, _ := strings.Cut(r.Path, "?")
	if path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !sentToken {
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			if tr.t.HealthDenied == "" {
				tr.t.HealthDenied = fmt.Sprintf("%s %s answered %s", r.Method, path, statusText(status))
			}
		case status >= 200 && status < 300:
			tr.t.HealthOK++
		}
	}
}

// Answered tells the harness about a response a check received outside Do
// (over a raw connection or its own client), so that a 429 counts as one
// and the run's traffic stays whole. path is the route as the track names
// it ("/todos"), before the base path.
func (h *H) Answered(method, path string, status int, sentToken bool) {
	h.notice(Request{Method: method, Path: path}, status, sentToken, false)
}
