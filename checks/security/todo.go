package security

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// todo is a todo as the API shows it.
type todo struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
}

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
		return "", grader.Errorf("%v", err)
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
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", Token: tok, JSON: body})
	if err != nil {
		return nil, todo{}, err
	}
	if err := expect.Status(resp, http.StatusCreated); err != nil {
		return resp, todo{}, err
	}
	var t todo
	if err := expect.Decode(resp, &t); err != nil {
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
	resp, err := h.Do(ctx, harness.Request{Path: "/todos?" + url.Values{"term": {term}, "limit": {"100"}}.Encode(), Token: tok})
	if err != nil {
		return nil, list{}, err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return resp, list{}, expect.Hint(err, "a search term is data: whatever characters it holds, GET /todos?term=... answers 200 with the matching todos (pass it to the database as a query parameter)")
	}
	var l list
	if err := expect.Decode(resp, &l); err != nil {
		return resp, list{}, err
	}
	return resp, l, nil
}

// ids lists the ids of todos.
func ids(ts []todo) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// diff lists the fields in which got differs from want, one per line
// ("" when equal): clearer than a character diff for short texts.
func diff(want, got todo) string {
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
