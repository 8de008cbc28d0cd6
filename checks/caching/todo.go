package caching

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// todo is the part of a todo the caching checks compare.
type todo struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
}

// create makes a todo through the API as the user with token tok ("" is the
// run's default user) and returns it.
func create(ctx context.Context, h *harness.H, tok string) (todo, error) {
	want := todo{Title: expect.Title(h.Rand), Description: "cached " + expect.Title(h.Rand), Status: "in_progress"}
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", Token: tok,
		JSON: map[string]string{"title": want.Title, "description": want.Description, "status": want.Status}})
	if err != nil {
		return todo{}, err
	}
	if err := expect.Status(resp, http.StatusCreated); err != nil {
		return todo{}, setup(err)
	}
	var got todo
	if err := expect.Decode(resp, &got); err != nil {
		return todo{}, setup(err)
	}
	if got.ID == "" {
		return todo{}, grader.Failf(`setting up: POST /todos answered 201 without an "id": %s`, harness.Shorten(string(resp.Body), 200)).
			WithHint("the created todo, id included, is the body of the 201 (rest stage)")
	}
	return got, nil
}

// setup marks a failure that happened while preparing the data a check needs.
func setup(err error) error {
	if f, ok := err.(*grader.Failure); ok {
		f.Message = "setting up (creating a todo to cache): " + f.Message
	}
	return err
}

// get fetches /todos/{id} as the user with token tok, with extra headers.
func get(ctx context.Context, h *harness.H, tok, id string, header http.Header) (*harness.Response, error) {
	return h.Do(ctx, harness.Request{Path: "/todos/" + id, Token: tok, Header: header})
}

// getTodo fetches /todos/{id}, expects 200 and decodes the todo.
func getTodo(ctx context.Context, h *harness.H, tok, id string) (*harness.Response, todo, error) {
	resp, err := get(ctx, h, tok, id, nil)
	if err != nil {
		return nil, todo{}, err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return resp, todo{}, err
	}
	var t todo
	if err := expect.Decode(resp, &t); err != nil {
		return resp, todo{}, err
	}
	return resp, t, nil
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
