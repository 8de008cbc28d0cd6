// Package expect holds the small assertions that checks of every stage share.
// Each returns nil when the response is as expected, else a *grader.Failure
// (as an error) whose message says what was expected and what came back,
// often with a default hint for the usual mistake. Override the hint with
// Hint:
//
//	if err := expect.Status(resp, http.StatusCreated); err != nil {
//		return expect.Hint(err, "POST /todos should answer 201 Created")
//	}
//
// The API (stable; other stages import it):
//
//	Status(resp, want...)         status is one of want
//	JSONContentType(resp)         Content-Type is application/json (or +json)
//	Decode(resp, &v)              body decodes as JSON into v
//	Object(resp)                  body is a JSON object (map[string]any)
//	Message(resp)                 body is a JSON object with a non-empty "message"
//	FieldError(resp, field)       body has a non-empty errors.<field>
//	Fields(want, got)             JSON-path diff of want's keys only ("" when equal)
//	Diff(want, got)               every difference as "$.path: expected X, got Y"
//	Hint(err, format, args...)    sets the hint of a Failure
//	Note(err, format, args...)    adds " (what was sent)" to a Failure's message
//	Transport(err)                a Failure with a hint for "no response" errors
//	Time(s), IsUUID(s)            RFC 3339 time, UUID string
//	Title(r), TitleOfLen(r, n)    random Unicode titles
//	Word(r, n)                    random lower-case ASCII letters
package expect

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/verdict"
)

// Hint sets the hint of err when it is a *grader.Failure and returns err;
// any other error (nil included) is returned unchanged.
func Hint(err error, format string, args ...any) error {
	var f *grader.Failure
	if errors.As(err, &f) {
		f.WithHint(format, args...)
	}
	return err
}

// Note appends " (note)" to the message of err when it is a
// *grader.Failure, to say which of several similar requests failed, e.g.
// "POST /todos: expected status 400 Bad Request, got 201 Created (a body
// without a title)". Other errors are returned unchanged.
func Note(err error, format string, args ...any) error {
	var f *grader.Failure
	if errors.As(err, &f) {
		f.Message += " (" + fmt.Sprintf(format, args...) + ")"
	}
	return err
}

// Request names the request a response answers, e.g. "POST /todos".
func Request(resp *harness.Response) string {
	m := resp.Method
	if m == "" {
		m = http.MethodGet
	}
	return m + " " + resp.Path
}

// StatusText renders a status as "404 Not Found".
func StatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// Status fails unless resp's status is one of want.
func Status(resp *harness.Response, want ...int) error {
	if slices.Contains(want, resp.Status) {
		return nil
	}
	ws := make([]string, len(want))
	for i, w := range want {
		ws[i] = StatusText(w)
	}
	resp.MarkDecisive()
	f := grader.Failf("%s: expected status %s, got %s", Request(resp), strings.Join(ws, " or "), StatusText(resp.Status))
	if h := statusHint(resp, want); h != "" {
		f.WithHint("%s", h)
	}
	return f
}

// statusHint guesses the usual cause of an unexpected status from what the
// service answered.
func statusHint(resp *harness.Response, want []int) string {
	wantOK := slices.ContainsFunc(want, func(w int) bool { return w < 300 })
	switch {
	case resp.Status >= 500:
		return "your service failed while handling this request: look at its log (shown with --verbose) for the error"
	case resp.Status == http.StatusNotFound && wantOK:
		if msg := OwnMessage(resp); msg != "" {
			return fmt.Sprintf("the route answered with the service's own message %s: it is registered but did not find what was asked for (check how it reads the path and looks the item up)", strconv.Quote(msg))
		}
		return "this route is probably not registered (check the method and the path pattern, and basePath in grader.yaml if your routes live under a prefix)"
	case resp.Status == http.StatusMethodNotAllowed && wantOK:
		return "the path exists but not for this method: register a handler for this method too"
	case resp.Status == http.StatusUnauthorized && wantOK && !resp.SentToken:
		return "the grader sent no credentials because this route needs none: serve it without the authentication middleware"
	case resp.Status == http.StatusUnauthorized && wantOK:
		return "the request carried a Bearer token your service issued (from POST /register or /login): check how your middleware reads the Authorization header"
	case resp.Status == http.StatusTooManyRequests && wantOK:
		return "your service limited the grader's requests: read the limit from RATE_LIMIT_REQUESTS and RATE_LIMIT_WINDOW_SECONDS (set generously outside the rate-limiting stage)"
	case resp.Status >= 300 && resp.Status < 400:
		return "the service redirected instead of answering: serve the resource at this exact path (watch for trailing-slash redirects)"
	}
	return ""
}

// OwnMessage is the "message" (or "error") string of a JSON error body the
// service wrote itself, "" when the body is no such thing (a framework's
// default page, plain text, empty).
func OwnMessage(resp *harness.Response) string {
	tree, err := resp.JSON()
	if err != nil {
		return ""
	}
	m, _ := tree.(map[string]any)
	for _, k := range []string{"message", "error", "detail", "title"} {
		if s, ok := m[k].(string); ok && strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// JSONContentType fails unless the response's Content-Type is
// application/json or a structured-syntax +json type (parameters such as
// charset are allowed).
func JSONContentType(resp *harness.Response) error {
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return nil
	}
	resp.MarkDecisive()
	got := strconv.Quote(ct)
	if ct == "" {
		got = "no Content-Type header"
	}
	return grader.Failf("%s: expected Content-Type application/json, got %s", Request(resp), got).
		WithHint("set the Content-Type header to application/json before writing the status and body (headers set after the first write are ignored)")
}

// Decode decodes the body as JSON into v (a pointer).
func Decode(resp *harness.Response, v any) error {
	if err := resp.DecodeJSON(v); err != nil {
		resp.MarkDecisive()
		f := grader.Failf("%s (status %s): %v", Request(resp), StatusText(resp.Status), err)
		if _, jerr := resp.JSON(); jerr != nil {
			return f.WithHint("write the body with a JSON encoder and nothing else (no extra text, no HTML error page)")
		}
		return f.WithHint("give each field the JSON type of the contract (see grader explain for this stage)")
	}
	return nil
}

// Object decodes the body as a JSON object.
func Object(resp *harness.Response) (map[string]any, error) {
	var m map[string]any
	if err := Decode(resp, &m); err != nil {
		return nil, err
	}
	if m == nil {
		resp.MarkDecisive()
		return nil, grader.Failf("%s: expected a JSON object, got %s", Request(resp), harness.Excerpt(resp.Body, 200)).
			WithHint("answer with a JSON object ({...}), not null")
	}
	return m, nil
}

// Message fails unless the body is a JSON object whose "message" is a
// non-empty string (the error shape of the tasks track).
func Message(resp *harness.Response) error {
	m, err := Object(resp)
	if err != nil {
		return Hint(err, `error responses are JSON too: {"message": "what went wrong"}`)
	}
	if s, ok := m["message"].(string); ok && strings.TrimSpace(s) != "" {
		return nil
	}
	resp.MarkDecisive()
	return grader.Failf(`%s: expected a JSON body with a non-empty "message" string, got %s`, Request(resp), Show(m)).
		WithHint(`error responses carry {"message": "what went wrong"} so that clients can show it`)
}

// FieldError fails unless the body is {"errors": {field: "why", ...}} with a
// non-empty string for field.
func FieldError(resp *harness.Response, field string) error {
	m, err := Object(resp)
	if err != nil {
		return err
	}
	errs, ok := m["errors"].(map[string]any)
	if !ok {
		resp.MarkDecisive()
		return grader.Failf(`%s: expected "errors" to be an object naming the bad fields, e.g. {"errors": {%q: "..."}}, got %s`,
			Request(resp), field, Show(m)).
			WithHint(`validation failures answer {"message": "...", "errors": {"<field>": "why"}}: one entry per bad field`)
	}
	if why(errs[field]) {
		return nil
	}
	resp.MarkDecisive()
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if v, ok := errs[field]; ok {
		return grader.Failf(`%s: expected errors.%s to be a non-empty string (or list of strings) saying why, got %s`,
			Request(resp), field, Show(v)).
			WithHint(`give the reason as a string, e.g. {"errors": {%q: "is required"}}`, field)
	}
	return grader.Failf(`%s: expected errors.%s saying why, got errors with keys [%s]`,
		Request(resp), field, strings.Join(keys, ", ")).
		WithHint(`name the field exactly as in the JSON body (%q) and give the reason as a string`, field)
}

// why reports whether v says why a field is bad: a non-empty string, or a
// non-empty list of non-empty strings.
func why(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v) != ""
	case []any:
		if len(v) == 0 {
			return false
		}
		for _, x := range v {
			if s, ok := x.(string); !ok || strings.TrimSpace(s) == "" {
				return false
			}
		}
		return true
	}
	return false
}

// Describe renders a decoded JSON value for a message, as JSON.
func Describe(v any) string {
	return Show(v)
}

// Transport turns an error from h.Do (no response at all) into a Failure
// with a hint about the usual cause; nil and non-transport errors (a
// Failure, a Skipped, a Precondition when the run's user could not be had,
// ...) are returned unchanged.
func Transport(err error) error {
	if err == nil {
		return nil
	}
	var f *grader.Failure
	var s *grader.Skipped
	var b *grader.Broken
	var p *grader.Precondition
	if errors.As(err, &f) || errors.As(err, &s) || errors.As(err, &b) || errors.As(err, &p) || verdict.IsEnvironment(err) {
		return err
	}
	out := grader.Failf("%v", err)
	if h := TransportHint(err.Error()); h != "" {
		out.WithHint("%s", h)
	}
	return out
}

// TransportHint explains, from an error text, why no HTTP answer came
// back ("" when it cannot tell).
func TransportHint(msg string) string {
	switch {
	case strings.Contains(msg, `\x15\x03`) || strings.Contains(msg, "HTTPS server"):
		return "your service answers with TLS (HTTPS) on $PORT: serve plain HTTP"
	case strings.Contains(msg, "malformed HTTP"):
		return "what came back on $PORT is not HTTP/1.1: serve plain HTTP on the port given in $PORT"
	case strings.Contains(msg, "closed without") || strings.Contains(msg, "EOF") || strings.Contains(msg, "connection closed") || strings.Contains(msg, "reset"):
		return "the service closed the connection without answering: a handler probably crashed (look for a panic or an exception in its log)"
	case strings.Contains(msg, "timed out"):
		return "the connection was accepted but no answer came: a handler that blocks (a lock never released, a channel nobody reads, a slow call without a timeout)"
	case strings.Contains(msg, "connection refused"):
		return "nothing listens on $PORT any more: the service stopped or closed its listener"
	}
	return ""
}
