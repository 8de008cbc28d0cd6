package observability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newRequestID makes an X-Request-ID the way clients and proxies do: a
// UUID, or n characters of [A-Za-z0-9] in dash-separated groups (8..64).
func newRequestID(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return expect.RandomUUID(r)
	}
	n := 8 + r.IntN(57)
	b := make([]byte, n)
	for i := range b {
		if i > 0 && i < n-1 && r.IntN(9) == 0 && b[i-1] != '-' {
			b[i] = '-'
			continue
		}
		b[i] = idChars[r.IntN(len(idChars))]
	}
	return string(b)
}

// sent is one request a logging check sent, and what came back.
type sent struct {
	method, path string // path as h.Do was given it (without the base path)
	id           string // the X-Request-ID it carried
	status       int
}

func (s sent) String() string { return s.method + " " + s.path }

// send sends r with a fresh X-Request-ID and remembers it.
func send(ctx context.Context, h *harness.H, r harness.Request, out *[]sent) (*harness.Response, error) {
	id := newRequestID(h.Rand)
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("X-Request-ID", id)
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	m := r.Method
	if m == "" {
		m = http.MethodGet
	}
	*out = append(*out, sent{method: m, path: r.Path, id: id, status: resp.Status})
	return resp, nil
}

// todoRequests sends a handful of /todos requests that answer with
// different statuses (created, found, listed, invalid, unknown, deleted),
// each with its own X-Request-ID.
func todoRequests(ctx context.Context, h *harness.H) ([]sent, error) {
	var out []sent
	resp, err := send(ctx, h, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": expect.Title(h.Rand)}}, &out)
	if err != nil {
		return nil, expect.Transport(err)
	}
	if err := todos.Created(resp); err != nil {
		return nil, grader.Blockedf(harness.CreateCheck, "creating a todo for this check failed: %v", err).
			WithHint("this check needs a working POST /todos to prepare its data: see rest.create")
	}
	obj, _ := resp.JSON()
	id := todos.ID(obj.(map[string]any))
	for _, r := range []harness.Request{
		{Path: "/todos/" + url.PathEscape(id)},
		{Path: fmt.Sprintf("/todos?limit=%d", 5+h.Rand.IntN(10))},
		{Method: http.MethodPatch, Path: "/todos/" + url.PathEscape(id), JSON: map[string]any{"title": ""}},
		{Path: "/todos/" + expect.RandomUUID(h.Rand)},
		{Method: http.MethodDelete, Path: "/todos/" + url.PathEscape(id)},
	} {
		if _, err := send(ctx, h, r, &out); err != nil {
			return nil, expect.Transport(err)
		}
	}
	return out, nil
}

// accessLog: each /todos request has exactly one JSON access line with its
// request id, method, path, status, duration, time and level.
func accessLog(ctx context.Context, h *harness.H) error {
	o, err := watchOutput(h)
	if err != nil {
		return err
	}
	reqs, err := todoRequests(ctx, h)
	if err != nil {
		return err
	}
	lines, err := o.waitFor(ctx, func(ls []logLine) bool {
		for _, r := range reqs {
			if len(accessLines(ls, r.id)) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		acc := accessLines(lines, r.id)
		switch {
		case len(acc) == 0:
			return noAccessLine(h, lines, r)
		case len(acc) > 1:
			recordLines(h, fmt.Sprintf("the access lines of %s (X-Request-ID: %s)", r, r.id), acc, true)
			return grader.Failf("%s (X-Request-ID: %s): expected exactly one access line (a JSON line with its request id and status), got %d", r, r.id, len(acc)).
				WithHint("log each request once, in one middleware around every route, after the handler has answered; other lines of the request may carry its request id but not a status")
		}
		if msg := checkAccessLine(h, acc[0], r); msg != "" {
			recordLines(h, fmt.Sprintf("the access line of %s (X-Request-ID: %s)", r, r.id), acc, true)
			return grader.Failf("%s (X-Request-ID: %s) answered %d; its access line %s", r, r.id, r.status, msg).
				WithHint("write the access line after the handler has answered, with the status it sent, the method, the path, how long it took in ms, the time and a level: e.g. {\"time\":\"2026-01-02T15:04:05Z\",\"level\":\"info\",\"method\":\"GET\",\"path\":\"/todos/42\",\"status\":200,\"durationMs\":3.1,\"requestId\":\"...\"}")
		}
	}
	return nil
}

// checkAccessLine says what is wrong with l as the access line of r ("" when nothing).
func checkAccessLine(h *harness.H, l logLine, r sent) string {
	var probs []string
	if v, _ := l.first(statusNames); !sameNumber(v, r.status) {
		probs = append(probs, fmt.Sprintf("has status %s, not %d", show(v), r.status))
	}
	if v, ok := l.first(methodNames); !ok {
		probs = append(probs, "has no method")
	} else if !strings.EqualFold(text(v), r.method) {
		probs = append(probs, fmt.Sprintf("has method %s, not %s", show(v), r.method))
	}
	if v, ok := l.first(pathNames); !ok {
		probs = append(probs, "has no path (\"path\" or \"url\")")
	} else if !samePath(text(v), r.path, h.BasePath) {
		probs = append(probs, fmt.Sprintf("has path %s, not %s", show(v), h.Path(r.path)))
	}
	if v, ok := l.first(durationNames); !ok {
		probs = append(probs, "has no duration (\"durationMs\", \"duration_ms\", \"responseTime\" or \"latency\")")
	} else if d, ok := number(v); !ok || isString(v) || d < 0 || d > 60000 {
		probs = append(probs, fmt.Sprintf("has duration %s, not a number of milliseconds", show(v)))
	}
	if v, ok := l.first(timeNames); !ok {
		probs = append(probs, "has no time (\"time\", \"ts\" or \"timestamp\")")
	} else if t, ok := logTime(v); !ok {
		probs = append(probs, fmt.Sprintf("has time %s, neither RFC 3339 nor epoch seconds or milliseconds", show(v)))
	} else if d := time.Since(t); d > 10*time.Minute || d < -10*time.Minute {
		probs = append(probs, fmt.Sprintf("has time %s, %s away from now", show(v), d.Round(time.Second)))
	}
	if v, ok := l.first(levelNames); !ok || text(v) == "" {
		probs = append(probs, "has no level (\"level\" or \"severity\")")
	}
	return strings.Join(probs, "; ")
}

func isString(v any) bool { _, ok := v.(string); return ok }

// sameNumber: v is the number n (or a string holding it).
func sameNumber(v any, n int) bool {
	f, ok := number(v)
	return ok && f == float64(n)
}

// samePath: the logged path (or URL, the query string allowed) is the
// path sent, with or without the base path.
func samePath(logged, path, basePath string) bool {
	if u, err := url.Parse(logged); err == nil {
		logged = u.EscapedPath()
		if u.Scheme == "" && u.Host == "" {
			logged, _, _ = strings.Cut(u.String(), "?")
		}
	}
	p, _, _ := strings.Cut(path, "?")
	return logged == p || logged == basePath+p
}

func show(v any) string {
	if v == nil {
		return "missing"
	}
	return harness.ShowJSON(v, 80)
}

// noAccessLine explains why no access line of r was found.
func noAccessLine(h *harness.H, lines []logLine, r sent) error {
	js := jsonLines(lines)
	mine := withID(lines, r.id)
	switch {
	case len(js) == 0:
		recordLines(h, "what the service printed during this check", lines, true)
		return grader.Failf("%s (X-Request-ID: %s): no JSON log line in the service's output within %s (%d lines printed, none a JSON object)", r, r.id, logWait, len(lines)).
			WithHint("log in JSON, one object per line on stdout or stderr (a structured logger such as slog, zap, pino or structlog does it), with one access line per request")
	case len(mine) > 0:
		recordLines(h, fmt.Sprintf("the lines carrying X-Request-ID %s", r.id), mine, true)
		return grader.Failf("%s (X-Request-ID: %s): lines carry its request id but none its status (\"status\" or \"statusCode\")", r, r.id).
			WithHint("log one access line per request after the handler has answered, with the status it sent")
	}
	var like []logLine
	for _, l := range js {
		if v, ok := l.first(pathNames); ok && samePath(text(v), r.path, h.BasePath) {
			like = append(like, l)
		}
	}
	if len(like) > 0 {
		recordLines(h, "JSON lines with the path of "+r.String(), like, true)
		return grader.Failf("%s (X-Request-ID: %s): no JSON line carries its request id (\"requestId\", \"request_id\", \"reqId\" or \"id\"); lines with its path do", r, r.id).
			WithHint("keep the request id (the incoming X-Request-ID, else one you make) in the request's context and put it on every line the request logs, the access line included")
	}
	recordLines(h, "the JSON lines the service printed during this check", js, true)
	return grader.Failf("%s (X-Request-ID: %s): no JSON line carries its request id within %s", r, r.id, logWait).
		WithHint("log one JSON access line per request to /todos*, with the request id (\"requestId\"), method, path, status, duration, time and level")
}

// noSecrets: no password, token or Authorization value in any line of
// output, after a register, logins (a right and a wrong password) and an
// authenticated request.
func noSecrets(ctx context.Context, h *harness.H) error {
	if !h.Auth {
		return grader.Skipf("this run has no users (the auth stage is not part of it), so there are no passwords or tokens to leak")
	}
	o, err := watchOutput(h)
	if err != nil {
		return err
	}
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	secrets := map[string]string{u.Password: "the password", u.Token: "the token"}
	var reqs []sent
	wrong := u.Password + "x" + expect.Word(h.Rand, 4)
	secrets[wrong] = "a wrong password"
	if _, err := send(ctx, h, harness.Request{Method: http.MethodPost, Path: "/login", NoAuth: true,
		JSON: map[string]string{"email": u.Email, "password": wrong}}, &reqs); err != nil {
		return expect.Transport(err)
	}
	login, err := send(ctx, h, harness.Request{Method: http.MethodPost, Path: "/login", NoAuth: true,
		JSON: map[string]string{"email": u.Email, "password": u.Password}}, &reqs)
	if err != nil {
		return expect.Transport(err)
	}
	tok := u.Token
	if t := harness.FindToken(login.Body); login.Status < 300 && t != "" {
		tok = t
		secrets[t] = "the token"
	}
	for _, t := range []string{u.Token, tok} {
		if parts := strings.Split(t, "."); len(parts) == 3 && len(parts[2]) >= 16 {
			secrets[parts[2]] = "the token's signature"
		}
	}
	if _, err := send(ctx, h, harness.Request{Path: "/todos", Token: tok}, &reqs); err != nil {
		return expect.Transport(err)
	}
	last := reqs[len(reqs)-1]
	lines, err := o.waitFor(ctx, func(ls []logLine) bool { return len(withID(ls, last.id)) > 0 })
	if err != nil {
		return err
	}
	for _, l := range lines {
		for s, what := range secrets {
			if s != "" && strings.Contains(l.raw, s) {
				shown := l
				for s2, what2 := range secrets {
					if s2 != "" {
						shown.raw = strings.ReplaceAll(shown.raw, s2, "‹"+what2+"›")
					}
				}
				recordLines(h, "a line of the service's output (the secret replaced by ‹what it is›)", []logLine{shown}, true)
				return grader.Failf("the service's output holds %s of a user: registering, logging in and GET /todos with its token put it in this line", what).
					WithHint("never log request bodies of /register and /login, nor the Authorization header or tokens: log the method, path, status and request id, and redact sensitive fields if you must log more")
			}
		}
	}
	if len(withID(lines, last.id)) == 0 {
		recordLines(h, "what the service printed during this check", lines, false)
		return grader.Blockedf("observability.access-log", "no line of the service's output carries the request id of %s (X-Request-ID: %s), so there is no log to look for secrets in", last, last.id).
			WithHint("log one JSON access line per request with its request id: see observability.access-log")
	}
	return nil
}
