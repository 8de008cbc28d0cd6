package security

import (
	"context"
	"net/http"
	"net/url"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// todo is a todo as the API shows it.
type todo = todos.Todo

// list is the body of GET /todos.
type list struct {
	Data  []todo `json:"data"`
	Total int    `json:"total"`
}

// freshToken registers a fresh user (own, empty list) when the run includes
// auth and returns its token; without auth it returns "" (no token).
func freshToken(ctx context.Context, h *harness.H) (string, error) {
	if !h.Auth {
		return "", nil
	}
	u, err := h.NewUser(ctx)
	if err != nil {
		return "", err
	}
	return u.Token, nil
}

// create makes a todo as the user with token tok and returns the response
// and the todo as the API echoed it.
func create(ctx context.Context, h *harness.H, tok, title, description string) (*harness.Response, todo, error) {
	body := map[string]string{"title": title}
	if description != "" {
		body["description"] = description
	}
	resp, t, err := todos.Create[todo](ctx, h, tok, body)
	if err != nil {
		return resp, todo{}, err
	}
	if t.ID == "" {
		return resp, todo{}, grader.Failf(`POST /todos answered 201 without an "id": %s`, harness.Shorten(string(resp.Body), 200))
	}
	return resp, t, nil
}

// search lists the todos of the user with token tok whose title or
// description contains term.
func search(ctx context.Context, h *harness.H, tok, term string) (*harness.Response, list, error) {
	resp, l, err := todos.Send[list](ctx, h, harness.Request{Path: "/todos?" + url.Values{"term": {term}, "limit": {"100"}}.Encode(), Token: tok}, http.StatusOK)
	if err != nil && resp != nil && resp.Status != http.StatusOK {
		return resp, list{}, expect.Hint(err, "a search term is data: whatever characters it holds, GET /todos?term=... answers 200 with the matching todos (pass it to the database as a query parameter)")
	}
	return resp, l, err
}

// ids lists the ids of todos.
func ids(ts []todo) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
