package caching

import (
	"context"
	"net/http"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// cached creates a todo and GETs it twice, so that it is in the cache
// whether the service fills it on the first or the second read.
func cached(ctx context.Context, h *harness.H, tok string) (todo, error) {
	t, err := create(ctx, h, tok)
	if err != nil {
		return todo{}, err
	}
	for range 2 {
		if _, _, err := getTodo(ctx, h, tok, t.ID); err != nil {
			return todo{}, err
		}
	}
	return t, nil
}

const staleHint = "every write (PUT, PATCH, DELETE) must delete or overwrite the todo's cache entry after the database change, or readers get the old copy until it expires"

// freshAfterPut: PUT through the API, then GET shows the replaced todo.
func freshAfterPut(ctx context.Context, h *harness.H) error {
	t, err := cached(ctx, h, "")
	if err != nil {
		return err
	}
	// Not about status: the PUT leaves it out, so it stays the default the
	// create gave it.
	want := todo{ID: t.ID, Title: "replaced " + expect.Title(h.Rand), Description: "new " + expect.Title(h.Rand), Status: t.Status}
	if err := write(ctx, h, http.MethodPut, t.ID,
		map[string]string{"title": want.Title, "description": want.Description}); err != nil {
		return err
	}
	return expectFresh(ctx, h, "PUT", want)
}

// freshAfterPatch: PATCH through the API, then GET shows the change.
func freshAfterPatch(ctx context.Context, h *harness.H) error {
	t, err := cached(ctx, h, "")
	if err != nil {
		return err
	}
	want := t
	want.Title = "patched " + expect.Title(h.Rand)
	if err := write(ctx, h, http.MethodPatch, t.ID, map[string]string{"title": want.Title}); err != nil {
		return err
	}
	return expectFresh(ctx, h, "PATCH", want)
}

// writeCheck is the rest check that grades each write.
var writeCheck = map[string]string{
	http.MethodPut:    "rest.put-replaces",
	http.MethodPatch:  "rest.patch-partial",
	http.MethodDelete: "rest.delete",
}

// write sends method /todos/{id} as the default user, with body as JSON
// (nil: no body). Any 2xx will do (the rest stage grades the exact status);
// another answer blocks the check by the rest check of that method.
func write(ctx context.Context, h *harness.H, method, id string, body any) error {
	resp, err := h.Do(ctx, harness.Request{Method: method, Path: "/todos/" + id, JSON: body})
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return grader.Blockedf(writeCheck[method], "%s /todos/%s (a todo just created and read) answered %s", method, id, expect.StatusText(resp.Status)).
			WithHint("this check needs %s /todos/{id} to work before it can look at the cache: see %s", method, writeCheck[method])
	}
	return nil
}

// expectFresh GETs want.ID and compares it with want.
func expectFresh(ctx context.Context, h *harness.H, method string, want todo) error {
	resp, got, err := getTodo(ctx, h, "", want.ID)
	if err != nil {
		return err
	}
	if d := todos.Diff(want, got); d != "" {
		return grader.Failf("after %s /todos/%s answered 200, the next GET (%s) did not show the update:%s", method, want.ID, describeXCache(resp), d).
			WithHint("%s", staleHint)
	}
	return nil
}

// freshAfterDelete: DELETE through the API, then GET is 404.
func freshAfterDelete(ctx context.Context, h *harness.H) error {
	t, err := cached(ctx, h, "")
	if err != nil {
		return err
	}
	if err := write(ctx, h, http.MethodDelete, t.ID, nil); err != nil {
		return err
	}
	resp, err := get(ctx, h, "", t.ID, nil)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return grader.Failf("after DELETE /todos/%s answered 204, the next GET answered 200 (%s) with the deleted todo: expected 404", t.ID, describeXCache(resp)).
			WithHint("%s", staleHint)
	}
	return expect.Status(resp, http.StatusNotFound)
}

// hitEnforcesOwnership: a todo in the cache is not served to another user.
func hitEnforcesOwnership(ctx context.Context, h *harness.H) error {
	if !h.Auth {
		return grader.Skipf("ownership needs users: this run does not include the auth stage")
	}
	t, err := cached(ctx, h, "")
	if err != nil {
		return err
	}
	other, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	resp, err := get(ctx, h, other.Token, t.ID, nil)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return grader.Failf("another user's GET /todos/%s answered 200 (%s) with a todo they do not own: expected 403 or 404", t.ID, describeXCache(resp)).
			WithHint("check ownership on every read, HIT or MISS: compare the cached todo's owner with the caller (or put the owner in the cache key) before answering")
	}
	return expect.Status(resp, http.StatusForbidden, http.StatusNotFound)
}
