package rest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const (
	defaultLimit = 10
	listCreates  = 3  // todos the list check creates
	maxPages     = 30 // pages it reads at most looking for them
)

// page is one decoded GET /todos answer.
type page struct {
	data  []any
	page  float64
	limit float64
	total float64
}

// getPage reads GET path and checks the {data, page, limit, total} shape.
func getPage(ctx context.Context, h *harness.H, path string) (*page, error) {
	resp, err := h.Get(ctx, path)
	if err != nil {
		return nil, expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return nil, err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return nil, err
	}
	var raw any
	if err := expect.Decode(resp, &raw); err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, grader.Failf(`GET %s: expected an object {"data": [...], "page": 1, "limit": 10, "total": N}, got %s`, path, expect.Show(raw)).
			WithHint("wrap the list: the todos go in data, with page, limit and total next to it, so that clients can page through")
	}
	var p page
	var missing []string
	if p.data, ok = obj["data"].([]any); !ok {
		missing = append(missing, "data (an array)")
	}
	for _, f := range []struct {
		key string
		dst *float64
	}{{"page", &p.page}, {"limit", &p.limit}, {"total", &p.total}} {
		if *f.dst, ok = obj[f.key].(float64); !ok {
			missing = append(missing, f.key+" (a number)")
		}
	}
	if len(missing) > 0 {
		return nil, grader.Failf("GET %s: expected the keys data, page, limit and total; missing or of the wrong type: %s", path, strings.Join(missing, ", ")).
			WithHint(`answer {"data": [todos], "page": 1, "limit": 10, "total": <all todos, not only this page>}; data is [] (not null) when there are none`)
	}
	return &p, nil
}

// list: the total before; three todos created; GET /todos shows
// page 1, limit 10, total + 3, at most 10 items, and the three todos
// (on later pages if the list is long).
func list(ctx context.Context, h *harness.H) error {
	before, err := getPage(ctx, h, "/todos")
	if err != nil {
		return err
	}
	created := map[string]todo{}
	for range listCreates {
		t, err := createTodo(ctx, h, newTodo(h))
		if err != nil {
			return err
		}
		created[id(t)] = t
	}
	p, err := getPage(ctx, h, "/todos")
	if err != nil {
		return err
	}
	if d := expect.Diff(
		map[string]float64{"page": 1, "limit": defaultLimit, "total": before.total + listCreates},
		map[string]float64{"page": p.page, "limit": p.limit, "total": p.total}); d != "" {
		return grader.Failf("GET /todos after creating %d todos (total was %v): unexpected page, limit or total %s", listCreates, before.total, d).
			WithHint("without query parameters the list is page 1 with limit 10, and total counts every todo (not only those on this page)")
	}
	if len(p.data) > defaultLimit {
		return grader.Failf("GET /todos: expected at most %d todos on a page (the default limit), got %d", defaultLimit, len(p.data)).
			WithHint("return at most limit todos per page; total tells the client how many there are in all")
	}
	if want := min(int(p.total), defaultLimit); len(p.data) != want {
		return grader.Failf("GET /todos: total is %v, so page 1 should hold %d todos, got %d", p.total, want, len(p.data)).
			WithHint("page 1 holds the first limit todos of the list")
	}
	// Find the created todos, page by page.
	pages := min(int(p.total+defaultLimit-1)/defaultLimit, maxPages)
	for n := 1; ; n++ {
		for _, item := range p.data {
			got, _ := item.(map[string]any)
			gid := todos.ID(got)
			want, ok := created[gid]
			if !ok {
				continue
			}
			if d := expect.Fields(fields(want, "id", "title", "description", "status"), got); d != "" {
				return grader.Failf("GET /todos?page=%d: todo %s is listed with other values than it was created with %s", n, gid, d).
					WithHint("list the todos as GET /todos/{id} shows them")
			}
			delete(created, gid)
		}
		if len(created) == 0 {
			return nil
		}
		if n >= pages {
			break
		}
		if p, err = getPage(ctx, h, fmt.Sprintf("/todos?page=%d", n+1)); err != nil {
			return err
		}
	}
	ids := make([]string, 0, len(created))
	for k := range created {
		ids = append(ids, k)
	}
	return grader.Failf("GET /todos (%d page(s) read): %d of the %d todos just created are not listed: %s", pages, len(ids), listCreates, strings.Join(ids, ", ")).
		WithHint("every created todo appears in the list; when the list spans pages, ?page=N gives page N in a stable order")
}
