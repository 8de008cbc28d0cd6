package rest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/harness"
)

// todo is a todo as decoded from the service's JSON.
type todo = map[string]any

// newTodo returns a random valid todo body with a title and a
// description. It has no status: only the checks about status send one.
func newTodo(h *harness.H) map[string]any {
	return map[string]any{
		"title":       expect.Title(h.Rand),
		"description": "Description: " + expect.Title(h.Rand),
	}
}

// createTodo POSTs body to /todos as a preparation step: any 2xx with a JSON
// object holding an id (a string or a number) will do; rest.create is
// strict. When no todo can be had the check is blocked by rest.create.
func createTodo(ctx context.Context, h *harness.H, body map[string]any) (todo, error) {
	_, t, err := todos.Create[todo](ctx, h, "", body)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// id returns the todo's id as a string (createTodo made sure there is one).
func id(t todo) string { return todos.ID(t) }

// todoPath is /todos/{id}.
func todoPath(id string) string { return "/todos/" + url.PathEscape(id) }

// fields picks the given keys of a body sent or a todo received, for Fields.
func fields(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// timeField parses t[key] as an RFC 3339 time; the error names the field.
func timeField(t todo, key string) (time.Time, error) {
	s, ok := t[key].(string)
	if !ok {
		return time.Time{}, fmt.Errorf("%s should be an RFC 3339 string such as \"2026-01-02T15:04:05Z\", got %s", key, expect.Describe(t[key]))
	}
	v, err := expect.Time(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %v", key, err)
	}
	return v, nil
}

// sameSecond reports whether two times agree to the second.
func sameSecond(a, b time.Time) bool {
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// sameTodo compares got with want: id, title, description and status
// exactly, createdAt and updatedAt to the second. It returns "" when they
// agree, else what differs.
func sameTodo(want, got todo) string {
	var diffs []string
	if d := expect.Fields(fields(want, "id", "title", "description", "status"), got); d != "" {
		diffs = append(diffs, d)
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		w, werr := timeField(want, k)
		g, gerr := timeField(got, k)
		switch {
		case werr != nil:
			// The earlier response was already wrong; rest.create says so.
		case gerr != nil:
			diffs = append(diffs, gerr.Error())
		case !sameSecond(w, g):
			diffs = append(diffs, fmt.Sprintf("%s: expected %s (to the second), got %s", k, want[k], got[k]))
		}
	}
	return strings.Join(diffs, "\n")
}
