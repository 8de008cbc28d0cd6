package security

import (
	"context"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/google/uuid"
)

// leakPatterns are signs of internals in a response body: database errors,
// stack traces and panics of common stacks.
var leakPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"an SQLSTATE code", regexp.MustCompile(`SQLSTATE`)},
	{"a lib/pq error", regexp.MustCompile(`\bpq: `)},
	{"a pgx error", regexp.MustCompile(`\bpgx\b|\bpgconn\b`)},
	{"a PostgreSQL error", regexp.MustCompile(`(?i)syntax error at or near|invalid input syntax for|violates (?:check|not-null|foreign key|unique) constraint|(?:relation|column) \\?"[^"\\]+\\?" does not exist`)},
	{"a Python traceback", regexp.MustCompile(`Traceback \(most recent call last\)|\.py\\?", line \d+|psycopg|sqlalchemy`)},
	{"a Go panic or stack trace", regexp.MustCompile(`goroutine \d+ \[|panic: |runtime error:|\.go:\d+`)},
	{"a JavaScript stack trace", regexp.MustCompile(`\.[cm]?js:\d+:\d+|node_modules`)},
	{"a Java stack trace", regexp.MustCompile(`\.java:\d+\)|Exception in thread|java\.lang\.`)},
}

// leak names what the body reveals, or "".
func leak(body []byte) string {
	for _, p := range leakPatterns {
		if m := p.re.Find(body); m != nil {
			return p.name + " (" + strings.TrimSpace(string(m)) + ")"
		}
	}
	return ""
}

// noLeaks sends malformed ids, wrong types and absurd paging: each gets an
// answer below 500 (a 4xx where the input is plainly wrong) whose body
// reveals no SQL, driver error or stack trace.
func noLeaks(ctx context.Context, h *harness.H) error {
	_, t, err := create(ctx, h, "", "leaks "+expect.Title(h.Rand), "")
	if err != nil {
		return err
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		req     harness.Request
		only4xx bool // else 200 is fine too (e.g. an empty page)
	}{
		{harness.Request{Path: "/todos/not-a-uuid"}, true},
		{harness.Request{Path: "/todos/" + url.PathEscape("1' OR '1'='1")}, true},
		{harness.Request{Path: "/todos/99999999999999999999999"}, true},
		{harness.Request{Method: http.MethodPut, Path: "/todos/" + url.PathEscape(`");--`), JSON: map[string]any{"title": "valid title"}}, true},
		{harness.Request{Method: http.MethodDelete, Path: "/todos/%27"}, true},
		{harness.Request{Method: http.MethodPatch, Path: "/todos/" + t.ID, JSON: map[string]any{"title": 12345}}, true},
		{harness.Request{Method: http.MethodPatch, Path: "/todos/" + t.ID, JSON: map[string]any{"status": []string{"done"}}}, true},
		{harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": map[string]any{"$ne": nil}}}, true},
		{harness.Request{Method: http.MethodPost, Path: "/todos", Header: jsonHeader, Body: []byte(`[{"title": "an array"}]`)}, true},
		{harness.Request{Path: "/todos?page=abc"}, false},
		{harness.Request{Path: "/todos?page=99999999999999999999"}, false},
		{harness.Request{Path: "/todos?page=-1&limit=-5"}, false},
		{harness.Request{Path: "/todos?page=2147483648&limit=100"}, false},
	}
	for _, c := range cases {
		resp, err := h.Do(ctx, c.req)
		if err != nil {
			return err
		}
		what := expect.Request(resp)
		if l := leak(resp.Body); l != "" && resp.Status >= 300 {
			return grader.Failf("%s: the %d response shows %s", what, resp.Status, l).
				WithHint("log the details server-side and answer with a generic JSON message: database errors and stack traces tell an attacker your schema, queries and versions")
		}
		switch {
		case resp.Status >= 500:
			return grader.Failf("%s: expected a 4xx (the input is wrong, not the server), got %s", what, expect.StatusText(resp.Status)).
				WithHint("validate ids, types and paging values before they reach the database and answer 400 (or 404 for an id that cannot exist); a 5xx means the bad input got through")
		case c.only4xx && (resp.Status < 400 || resp.Status > 499):
			return grader.Failf("%s: expected a 4xx for malformed input, got %s", what, expect.StatusText(resp.Status)).
				WithHint("reject malformed ids and wrongly typed fields with 400 (or 404 for an id that cannot exist)")
		}
	}
	return nil
}

// unguessableIDs: todo ids and user ids are not integers, and two created
// one after the other are not neighbours when read as numbers.
//
// What it cannot tell: ids that look random but come from a predictable
// generator (a PRNG seeded with the time, a hash of a counter) are not told
// apart from random UUIDs from outside; the check sees only the form.
func unguessableIDs(ctx context.Context, h *harness.H) error {
	var todoIDs []string
	for range 2 {
		_, t, err := create(ctx, h, "", "ids "+expect.Title(h.Rand), "")
		if err != nil {
			return err
		}
		todoIDs = append(todoIDs, t.ID)
	}
	if err := notSequential("todo", todoIDs); err != nil {
		return err
	}
	if !h.Auth {
		return nil
	}
	var userIDs []string
	for range 2 {
		u, err := h.NewUser(ctx)
		if err != nil {
			return err
		}
		userIDs = append(userIDs, u.ID)
	}
	return notSequential("user", userIDs)
}

var digits = regexp.MustCompile(`^\d+$`)

// notSequential fails when ids (created in this order) are integers or
// numerically close.
func notSequential(kind string, ids []string) error {
	hint := "use random ids (UUID v4, or v7) instead of a counter: with sequential ids anyone can enumerate the " + kind + "s and probe for ones that are not theirs"
	for _, id := range ids {
		if digits.MatchString(id) {
			return grader.Failf("the %s ids %s are integers", kind, expect.Show(ids)).WithHint("%s", hint)
		}
	}
	// Time-based UUIDs (v1, v6, v7) created in the same instant may
	// legitimately differ by one (RFC 9562 allows a +1 counter): they lead
	// with a timestamp, not with a counter from zero, so only other ids are
	// compared as numbers.
	a, okA := asNumber(ids[0])
	b, okB := asNumber(ids[1])
	if okA && okB && !timeBased(ids[0]) && !timeBased(ids[1]) {
		diff := new(big.Int).Sub(b, a)
		diff.Abs(diff)
		if diff.Cmp(big.NewInt(1<<32)) < 0 {
			return grader.Failf("two %ss created one after the other got ids %s and %s, only %s apart when read as numbers: they are sequential", kind, ids[0], ids[1], diff).WithHint("%s", hint)
		}
	}
	return nil
}

// timeBased reports whether id is a UUID of version 1, 6 or 7.
func timeBased(id string) bool {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return false
	}
	v := u.Version()
	return v == 1 || v == 6 || v == 7
}

// asNumber reads a hex id (dashes removed, such as a UUID) as a number.
func asNumber(id string) (*big.Int, bool) {
	s := strings.ReplaceAll(id, "-", "")
	if s == "" || len(s) > 32 {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, 16)
	return n, ok
}
