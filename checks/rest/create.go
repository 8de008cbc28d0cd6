package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// clockSkew is how far a timestamp may be from the grader's clock.
const clockSkew = 5 * time.Minute

// create: POST /todos with a title and a description -> 201, JSON, the
// fields echoed, an id (a string or a number: whether ids are unguessable is
// security.unguessable-ids's subject), createdAt = updatedAt = now; a second
// create gets another id.
func create(ctx context.Context, h *harness.H) error {
	body := newTodo(h)
	before := time.Now()
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: body})
	if err != nil {
		return expect.Transport(err)
	}
	after := time.Now()
	if err := expect.Status(resp, http.StatusCreated); err != nil {
		if resp.Status == http.StatusOK {
			return expect.Hint(err, "a request that creates a resource answers 201 Created, not 200")
		}
		return err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return err
	}
	got, err := expect.Object(resp)
	if err != nil {
		return expect.Hint(err, "answer the created todo as a JSON object")
	}
	if d := expect.Fields(body, got); d != "" {
		return grader.Failf("POST /todos: the created todo does not echo the fields sent %s", d).
			WithHint("store title and description exactly as received and answer the stored todo; field names are camelCase as in the contract")
	}
	newID := todos.ID(got)
	if newID == "" {
		return grader.Failf(`POST /todos: expected the created todo to carry its "id" (a string or a number), got %s`, expect.Describe(got["id"])).
			WithHint("the server chooses the id and answers it with the created todo, e.g. a random UUID")
	}
	created, err := timeField(got, "createdAt")
	if err != nil {
		return timeFailure(err)
	}
	updated, err := timeField(got, "updatedAt")
	if err != nil {
		return timeFailure(err)
	}
	if created.Before(before.Add(-clockSkew)) || created.After(after.Add(clockSkew)) {
		return grader.Failf("POST /todos: expected createdAt to be the time of the request (%s), got %s", before.UTC().Format(time.RFC3339), got["createdAt"]).
			WithHint("set createdAt from the server's clock when the todo is created (a zero or unset time shows as year 0001), and give the right offset (Z for UTC)")
	}
	if d := updated.Sub(created); d < -time.Second || d > time.Second {
		return grader.Failf("POST /todos: expected updatedAt to equal createdAt on a new todo, got createdAt %s and updatedAt %s", got["createdAt"], got["updatedAt"]).
			WithHint("a new todo has never been updated: set updatedAt to the same instant as createdAt")
	}

	second, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	if id(second) == newID {
		return grader.Failf("two POST /todos got the same id %q", newID).
			WithHint("give every todo a new id (e.g. a new random UUID)")
	}
	return nil
}

func timeFailure(err error) error {
	return grader.Failf("POST /todos: %v", err).
		WithHint("timestamps are strings in RFC 3339 (ISO 8601 with an offset), e.g. \"2026-01-02T15:04:05Z\": not Unix numbers, not a format without the T or the zone")
}

// createDefaults: POST /todos with only a title -> status "todo",
// description "".
func createDefaults(ctx context.Context, h *harness.H) error {
	body := map[string]any{"title": expect.Title(h.Rand)}
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: body})
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusCreated, http.StatusOK); err != nil {
		if resp.Status == http.StatusBadRequest {
			return expect.Hint(err, "only title is required: description and status are optional and get defaults")
		}
		return err
	}
	got, err := expect.Object(resp)
	if err != nil {
		return err
	}
	want := map[string]any{"title": body["title"], "description": "", "status": "todo"}
	if d := expect.Fields(want, got); d != "" {
		return grader.Failf("POST /todos with only a title: unexpected defaults %s", d).
			WithHint(`an omitted description is "" (a string, not null or absent) and an omitted status is "todo"`)
	}
	return nil
}

// location: the Location of a create, relative or absolute, leads to the
// new todo on this service.
func location(ctx context.Context, h *harness.H) error {
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: newTodo(h)})
	if err != nil {
		return expect.Transport(err)
	}
	if err := todos.Created(resp); err != nil {
		return grader.Blockedf(harness.CreateCheck, "creating a todo for this check failed: %v", err).
			WithHint("this check reads the Location of a working POST /todos: see rest.create")
	}
	created, err := expect.Object(resp)
	if err != nil {
		return err
	}
	newID := todos.ID(created)
	loc := resp.Header.Get("Location")
	if loc == "" {
		return grader.Failf("POST /todos: expected a Location header with the new todo's URL (/todos/%s), got none", newID).
			WithHint("a 201 Created names the new resource: set Location to /todos/{id} (relative is fine)")
	}
	// Resolved against the request's URL, as a client would; path
	// includes the base path, so it is requested as a full URL.
	path, err := resolve(h.URL("/todos"), loc)
	if err != nil {
		return grader.Failf("POST /todos: Location %q: %v", loc, err).
			WithHint("build Location from the path only (/todos/{id}): a hard-coded host or port is wrong wherever the service really runs")
	}
	got, err := h.Get(ctx, h.Service.URL()+path)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(got, http.StatusOK); err != nil {
		return expect.Hint(err, "Location must be the path of the new todo, /todos/{id}, with the id the body shows (%s)", newID)
	}
	t, err := expect.Object(got)
	if err != nil {
		return err
	}
	if id := todos.ID(t); id != newID {
		return grader.Failf("GET %s (the Location of the create): expected the todo with id %q, got id %s", path, newID, expect.Describe(t["id"])).
			WithHint("put the id of the todo just created into Location")
	}
	return nil
}

// resolve resolves a Location against the service's URL and returns the
// path (and query) to request. An absolute Location must point at the
// service itself (any loopback name for its host, and its port).
func resolve(base, loc string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("grader bug: service URL %q: %v", base, err)
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("not a URL: %v", err)
	}
	u := b.ResolveReference(l)
	if l.IsAbs() || l.Host != "" {
		if u.Port() != b.Port() || !sameHost(u.Hostname(), b.Hostname()) {
			return "", fmt.Errorf("it points to %s, not to the service (%s)", u.Host, b.Host)
		}
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("no path in it")
	}
	return u.RequestURI(), nil
}

func sameHost(a, b string) bool {
	loopback := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, "0.0.0.0": true}
	return strings.EqualFold(a, b) || (loopback[strings.ToLower(a)] && loopback[strings.ToLower(b)])
}

// get: two todos created; GET of the first answers it, with the values the
// create answered.
func get(ctx context.Context, h *harness.H) error {
	first, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	if _, err := createTodo(ctx, h, newTodo(h)); err != nil {
		return err
	}
	resp, err := h.Get(ctx, todoPath(id(first)))
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return err
	}
	got, err := expect.Object(resp)
	if err != nil {
		return err
	}
	if d := sameTodo(first, got); d != "" {
		return grader.Failf("GET /todos/{id}: expected the todo as the create answered it, got %s", d).
			WithHint("answer the stored todo itself as the JSON object (not wrapped in another object), looked up by the id in the path")
	}
	return nil
}
