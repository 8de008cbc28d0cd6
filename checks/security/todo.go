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

// create makes a todo as the user with token tok, as a step that prepares
// the check, and returns the response and the todo as the API echoed it.
// A todo that cannot be had blocks the check by rest.create.
func create(ctx context.Context, h *harness.H, tok, title, description string) (*harness.Response, todo, error) {
	return todos.Create[todo](ctx, h, tok, body(title, description))
}

// createSubject is create for a todo whose text is what the check is about
// (SQL or script in it): when the service cannot store it, the check fails.
func createSubject(ctx context.Context, h *harness.H, tok, title, description string) (*harness.Response, todo, error) {
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", Token: tok, JSON: body(title, description)})
	if err != nil {
		return nil, todo{}, err
	}
	if err := todos.Created(resp); err != nil {
		f := grader.Failf("%v (a title with %s)", err, expect.Show(title))
		if resp.Status >= 500 {
			f.WithHint("the text broke the service: pass user input to the database as query parameters, never pasted into the SQL")
		} else {
			f.WithHint("these characters are valid in a title: accept and store them as they are")
		}
		return resp, todo{}, f
	}
	var t todo
	if err := expect.Decode(resp, &t); err != nil {
		return resp, todo{}, err
	}
	return resp, t, nil
}

func body(title, description string) map[string]string {
	b := map[string]string{"title": title}
	if description != "" {
		b["description"] = description
	}
	return b
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
