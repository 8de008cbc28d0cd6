package caching

import (
	"context"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/harness"
)

// todo is the part of a todo the caching checks compare.
type todo = todos.Todo

// create makes a todo through the API as the user with token tok ("" is the
// run's default user) and returns it as the API echoed it. It sends no
// status (no caching check is about status); a todo that cannot be had
// blocks the check by rest.create.
func create(ctx context.Context, h *harness.H, tok string) (todo, error) {
	_, got, err := todos.Create[todo](ctx, h, tok,
		map[string]string{"title": expect.Title(h.Rand), "description": "cached " + expect.Title(h.Rand)})
	if err != nil {
		return todo{}, err
	}
	return got, nil
}

// get fetches /todos/{id} as the user with token tok, with extra headers.
func get(ctx context.Context, h *harness.H, tok, id string, header http.Header) (*harness.Response, error) {
	return h.Do(ctx, harness.Request{Path: "/todos/" + id, Token: tok, Header: header})
}

// getTodo fetches /todos/{id}, expects 200 and decodes the todo.
func getTodo(ctx context.Context, h *harness.H, tok, id string) (*harness.Response, todo, error) {
	return todos.Send[todo](ctx, h, harness.Request{Path: "/todos/" + id, Token: tok}, http.StatusOK)
}

// xCache is the response's X-Cache value, upper-cased ("" when missing).
func xCache(resp *harness.Response) string {
	return strings.ToUpper(strings.TrimSpace(resp.Header.Get("X-Cache")))
}

// describeXCache renders the X-Cache header for a message.
func describeXCache(resp *harness.Response) string {
	if v := resp.Header.Get("X-Cache"); v != "" {
		return "X-Cache: " + v
	}
	return "no X-Cache header"
}
