// Package todos holds the todo requests that checks of several stages make
// to prepare or read their data: send a request and decode its JSON answer,
// create a todo as a user, and compare two todos field by field.
//
// Errors come back as they are: a transport error from h.Do unchanged (no
// response), else the *grader.Failure of package expect (with the response),
// so that each stage can add its own words (a setup note, a hint) and keep
// its messages.
package todos

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
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

// Create POSTs body to /todos as the user with token tok ("" is the run's
// default user, or nobody without auth) and fails unless the answer is 201
// Created with a JSON body that decodes into a T. It does not look at the
// id: each stage says in its own words what a missing one means.
func Create[T any](ctx context.Context, h *harness.H, tok string, body any) (*harness.Response, T, error) {
	return Send[T](ctx, h, harness.Request{Method: http.MethodPost, Path: "/todos", Token: tok, JSON: body}, http.StatusCreated)
}

// Diff lists the fields in which got differs from want, one per line
// ("" when equal): clearer than a character diff for short texts.
func Diff(want, got Todo) string {
	var b strings.Builder
	field := func(name, w, g string) {
		if w != g {
			fmt.Fprintf(&b, "\n  %s: expected %q, got %q", name, w, g)
		}
	}
	field("id", want.ID, got.ID)
	field("title", want.Title, got.Title)
	field("description", want.Description, got.Description)
	field("status", want.Status, got.Status)
	return b.String()
}
