package rest

import (
	"context"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// updatedAtWait is how long putReplaces waits so that updatedAt, compared
// to the second, must move.
const updatedAtWait = 1100 * time.Millisecond

// putReplaces: a todo with every field set; after a second, PUT with only a
// title: the other fields return to their defaults, createdAt stays,
// updatedAt moves, and a GET shows the same.
func putReplaces(ctx context.Context, h *harness.H) error {
	orig, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	select {
	case <-time.After(updatedAtWait):
	case <-ctx.Done():
		return ctx.Err()
	}
	title := expect.Title(h.Rand)
	path := todoPath(id(orig))
	got, err := okObject(ctx, h, harness.Request{Method: http.MethodPut, Path: path, JSON: map[string]any{"title": title}},
		"answer the replaced todo as a JSON object")
	if err != nil {
		return err
	}
	// Not about status (its default is rest.create-defaults's subject):
	// the description shows the replacement.
	want := map[string]any{"id": id(orig), "title": title, "description": ""}
	if d := expect.Fields(want, got); d != "" {
		return grader.Failf("PUT %s with only a title: expected the fields left out to return to their defaults %s", path, d).
			WithHint("PUT replaces the whole todo: a field not in the body gets its default (description \"\"); merging is what PATCH does")
	}
	if err := timestampsAfterUpdate(orig, got, "PUT "+path); err != nil {
		return err
	}
	// The change must be stored, not only answered.
	stored, err := okObject(ctx, h, harness.Request{Method: http.MethodGet, Path: path}, "")
	if err != nil {
		return err
	}
	if d := sameTodo(got, stored); d != "" {
		return grader.Failf("GET %s after the PUT: expected the todo the PUT answered, got %s", path, d).
			WithHint("store the replaced todo before answering it")
	}
	return nil
}

// timestampsAfterUpdate: createdAt unchanged, updatedAt later (to the
// second) than before the update, which came more than a second later.
func timestampsAfterUpdate(orig, got todo, what string) error {
	oc, err1 := timeField(orig, "createdAt")
	ou, err2 := timeField(orig, "updatedAt")
	if err1 != nil || err2 != nil {
		return nil // rest.create reports bad timestamps
	}
	gc, err := timeField(got, "createdAt")
	if err != nil {
		return grader.Failf("%s: %v", what, err)
	}
	gu, err := timeField(got, "updatedAt")
	if err != nil {
		return grader.Failf("%s: %v", what, err)
	}
	if !sameSecond(oc, gc) {
		return grader.Failf("%s: expected createdAt to stay %s, got %s", what, orig["createdAt"], got["createdAt"]).
			WithHint("an update keeps the creation time: only updatedAt changes")
	}
	if !gu.Truncate(time.Second).After(ou.Truncate(time.Second)) {
		return grader.Failf("%s, more than a second after the create: expected updatedAt to move past %s, got %s", what, orig["updatedAt"], got["updatedAt"]).
			WithHint("set updatedAt to the current time on every change")
	}
	return nil
}

// patchPartial: three PATCHes, each with one field, the first more than a
// second after the create; the others keep their values (an empty
// description is a value, not an absent field), createdAt stays and
// updatedAt moves ("every change moves updatedAt", not only PUT's); a GET
// shows the result.
func patchPartial(ctx context.Context, h *harness.H) error {
	orig, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	select {
	case <-time.After(updatedAtWait):
	case <-ctx.Done():
		return ctx.Err()
	}
	path := todoPath(id(orig))
	want := fields(orig, "id", "title", "description", "status")
	newTitle := expect.Title(h.Rand)
	steps := []struct {
		patch map[string]any
		hint  string
	}{
		{map[string]any{"description": "patched " + expect.Title(h.Rand)}, "PATCH changes only the fields present in the body: the title must keep its value (resetting fields is what PUT does)"},
		{map[string]any{"title": newTitle}, "PATCH changes only the fields present in the body: the description must keep its value"},
		{map[string]any{"description": ""}, "a field sent as \"\" is present and must be applied: tell a missing field from an empty one (e.g. decode into pointers or a map)"},
	}
	var last todo
	for _, s := range steps {
		got, err := okObject(ctx, h, harness.Request{Method: http.MethodPatch, Path: path, JSON: s.patch},
			"answer the updated todo as a JSON object")
		if err != nil {
			return err
		}
		for k, v := range s.patch {
			want[k] = v
		}
		if d := expect.Fields(want, got); d != "" {
			return grader.Failf("PATCH %s with %s: expected only that field to change %s", path, describePatch(s.patch), d).WithHint("%s", s.hint)
		}
		if last == nil {
			if err := timestampsAfterUpdate(orig, got, "PATCH "+path); err != nil {
				return err
			}
		}
		last = got
	}
	stored, err := okObject(ctx, h, harness.Request{Method: http.MethodGet, Path: path}, "")
	if err != nil {
		return err
	}
	if d := sameTodo(last, stored); d != "" {
		return grader.Failf("GET %s after three PATCHes: expected the todo the last PATCH answered, got %s", path, d).
			WithHint("store the patched todo before answering it")
	}
	return nil
}

func describePatch(p map[string]any) string {
	for k, v := range p {
		return "only " + k + "=" + expect.Describe(v)
	}
	return "{}"
}

// okObject sends r and fails unless the answer is 200 OK with a JSON object
// as its body; objectHint, when not "", replaces the hint for a body that is
// not one. No response at all is a failure too (expect.Transport).
func okObject(ctx context.Context, h *harness.H, r harness.Request, objectHint string) (todo, error) {
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return nil, err
	}
	got, err := expect.Object(resp)
	if err != nil && objectHint != "" {
		return nil, expect.Hint(err, "%s", objectHint)
	}
	return got, err
}
