// Package todos holds the todo requests that checks of several stages make
// to prepare or read their data: send a request and decode its JSON answer,
// create a todo as a user, and compare two todos field by field.
//
// Errors come back as they are: a transport error from h.Do unchanged (no
// response), else the *grader.Failure of package expect (with the response),
// so that each stage can add its own words (a setup note, a hint) and keep
// its messages. Create, which only prepares a check, is the exception: a
// todo that cannot be had blocks the check by rest.create.
package todos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// Todo is the part of a todo as the API shows it that most checks compare.
type Todo struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
}

// Send sends r and fails unless the answer has status want and a JSON body
// that decodes into a T. The response is returned whenever there is one
// (nil only for a transport error), the T only on success.
func Send[T any](ctx context.Context, h *harness.H, r harness.Request, want int) (*harness.Response, T, error) {
	var zero T
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, zero, err
	}
	if err := expect.Status(resp, want); err != nil {
		return resp, zero, err
	}
	var v T
	if err := expect.Decode(resp, &v); err != nil {
		return resp, zero, err
	}
	return resp, v, nil
}

// Create POSTs body to /todos as a step that prepares a check, as the user
// with token tok ("" is the run's default user, or nobody without auth).
// It is lenient about what rest.create grades: any 2xx will do, with a
// JSON object holding an id (a string or a number) that decodes into a T.
// When no todo can be had, the error blocks the check by rest.create; a
// transport error (no response) comes back unchanged.
//
// Send only the fields the check is about: a check that is not about
// status sends no "status".
func Create[T any](ctx context.Context, h *harness.H, tok string, body any) (*harness.Response, T, error) {
	return createVia[T](ctx, h, harness.Request{Method: http.MethodPost, Path: "/todos", Token: tok, JSON: body})
}

func createVia[T any](ctx context.Context, h *harness.H, r harness.Request) (*harness.Response, T, error) {
	var zero T
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, zero, err
	}
	if err := Created(resp); err != nil {
		if (resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnprocessableEntity) && !hasField(r.JSON, "description") {
			// A service that insists on a description fails the check that
			// grades creating without one.
			return resp, zero, grader.Blockedf(DefaultsCheck, "creating a todo for this check failed: %v, for a todo with a title and no description", err).
				WithHint("a todo created with only a title gets an empty description: see " + DefaultsCheck)
		}
		return resp, zero, grader.Blockedf(harness.CreateCheck, "creating a todo for this check failed: %v", err).
			WithHint("this check needs a working POST /todos to prepare its data: see rest.create")
	}
	var v T
	if err := resp.DecodeJSON(&v); err != nil {
		return resp, zero, grader.Blockedf(harness.CreateCheck, "creating a todo for this check failed: POST /todos answered %s: %v", expect.StatusText(resp.Status), err).
			WithHint("this check needs a working POST /todos to prepare its data: see rest.create")
	}
	return resp, v, nil
}

// DefaultsCheck grades creating a todo with a title alone.
const DefaultsCheck = "rest.create-defaults"

// hasField reports whether a JSON body given as a map has key.
func hasField(body any, key string) bool {
	switch b := body.(type) {
	case map[string]any:
		_, ok := b[key]
		return ok
	case map[string]string:
		_, ok := b[key]
		return ok
	}
	return true // not a map: nothing to tell
}

// Created says, in a few words, why resp is not a todo just created (any
// 2xx with a JSON object holding a non-empty id), or nil when it is one.
func Created(resp *harness.Response) error {
	if resp.Status < 200 || resp.Status > 299 {
		return fmt.Errorf("%s answered %s", expect.Request(resp), expect.StatusText(resp.Status))
	}
	tree, err := resp.JSON()
	if err != nil {
		return fmt.Errorf("%s answered %s: %v", expect.Request(resp), expect.StatusText(resp.Status), err)
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return fmt.Errorf("%s answered %s with %s, expected the created todo as a JSON object", expect.Request(resp), expect.StatusText(resp.Status), harness.ShowJSON(tree, 100))
	}
	if ID(obj) == "" {
		return fmt.Errorf(`%s answered %s without an "id": %s`, expect.Request(resp), expect.StatusText(resp.Status), harness.ShowJSON(obj, 200))
	}
	return nil
}

// ID is the "id" of a decoded todo as a string (a number is written as it
// stands), "" when there is none.
func ID(t map[string]any) string {
	switch v := t["id"].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	}
	return ""
}

// Diff lists the fields in which got differs from want, one per line
// ("" when equal): clearer than a character diff for short texts.
func Diff(want, got Todo) string {
	var b strings.Builder
	field := func(name, w, g string) {
		if w != g {
			fmt.Fprintf(&b, "\n  $.%s: expected %s, got %s", name, harness.ShowJSON(w, 200), harness.ShowJSON(g, 200))
		}
	}
	field("id", want.ID, got.ID)
	field("title", want.Title, got.Title)
	field("description", want.Description, got.Description)
	field("status", want.Status, got.Status)
	return b.String()
}
