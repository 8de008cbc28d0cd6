package persistence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// apiTodo is a todo as the API returns it.
type apiTodo struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
}

// apiList is the body of GET /todos. Pointers tell a missing field from 0.
type apiList struct {
	Data  []apiTodo `json:"data"`
	Page  *int      `json:"page"`
	Limit *int      `json:"limit"`
	Total *int      `json:"total"`
}

// ids returns the ids of the page, in order (never nil).
func (l apiList) ids() []string {
	out := make([]string, 0, len(l.Data))
	for _, t := range l.Data {
		out = append(out, t.ID)
	}
	return out
}

var statuses = []string{"todo", "in_progress", "done"}

// view is whose todos a list check looks at: a fresh user's when the run
// has auth (token and owner set), else every todo, the table emptied first.
type view struct {
	token string
	owner string
}

// freshView gives a check a list of its own, so that no other check's data
// shows up in it. Checks run one at a time.
func freshView(ctx context.Context, h *harness.H, t *Table) (view, error) {
	if h.Auth {
		if !t.Has("owner_id") {
			return view{}, noOwnerColumn(t)
		}
		u, err := h.NewUser(ctx)
		if err != nil {
			return view{}, err
		}
		if err := u.NeedID(); err != nil {
			return view{}, err
		}
		return view{token: u.Token, owner: u.ID}, nil
	}
	if _, err := h.Exec(ctx, "DELETE FROM "+t.Ident()); err != nil {
		return view{}, grader.Errorf("emptying table %s before the check: %v", t.Shown, err)
	}
	return view{}, nil
}

// tableAndOwner inspects table todos and returns it with the owner of the
// todos the default user sees ("" without auth).
func tableAndOwner(ctx context.Context, h *harness.H) (*Table, string, error) {
	t, err := Inspect(ctx, h)
	if err != nil {
		return nil, "", err
	}
	if !h.Auth {
		return t, "", nil
	}
	if !t.Has("owner_id") {
		return nil, "", noOwnerColumn(t)
	}
	u, err := h.User(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := u.NeedID(); err != nil {
		return nil, "", err
	}
	return t, u.ID, nil
}

// noOwnerColumn: with auth, a check that needs the owner's column and
// cannot find it is blocked by the check that grades the row (owner
// included).
func noOwnerColumn(t *Table) error {
	return grader.Blockedf(createIsRowID, "the grader cannot tell which column of table %s holds a todo's owner (no column held the creator's user id)", t.Shown).
		WithHint("from the auth stage on, each todo stores its owner's user id (the token's sub) in a column of its own; name it in grader.yaml if the grader cannot find it: tables: {todos: {columns: {owner_id: <your column>}}}")
}

// base is the instant the grader's rows are dated from: fixed, so that
// the same seed gives the same rows (and messages) on every run.
var base = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// randomRows makes n todos for v with distinct created_at values (whole
// seconds, minutes apart, in the past) and updated_at after them. They are
// returned newest first; insert them in another order.
func randomRows(r *rand.Rand, n int, v view) []Row {
	// Distinct slots, 7 minutes apart, plus a few seconds within the slot.
	slots := r.Perm(n * 4)[:n]
	rows := make([]Row, n)
	for i := range rows {
		created := base.Add(-time.Duration(slots[i]) * 7 * time.Minute).Add(time.Duration(r.IntN(300)) * time.Second)
		rows[i] = Row{
			ID:          expect.RandomUUID(r),
			Title:       expect.Title(r),
			Description: fmt.Sprintf("row %d of %d %s", i+1, n, expect.Title(r)),
			Status:      statuses[r.IntN(len(statuses))],
			CreatedAt:   created,
			UpdatedAt:   created.Add(time.Duration(1+r.IntN(3000)) * time.Minute),
			OwnerID:     v.owner,
		}
	}
	sortNewestFirst(rows)
	return rows
}

func sortNewestFirst(rows []Row) {
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].CreatedAt.After(rows[j-1].CreatedAt); j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

// insertShuffled inserts rows in a random order, so that neither insertion
// order nor id order matches created_at order.
func insertShuffled(ctx context.Context, h *harness.H, t *Table, rows []Row) error {
	for _, i := range h.Rand.Perm(len(rows)) {
		if err := t.Insert(ctx, h, &rows[i]); err != nil {
			return err
		}
	}
	return nil
}

func rowIDs(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// list fetches GET path as v and decodes the page.
func list(ctx context.Context, h *harness.H, v view, path string) (apiList, *harness.Response, error) {
	resp, l, err := todos.Send[apiList](ctx, h, harness.Request{Path: path, Token: v.token}, http.StatusOK)
	return l, resp, err
}

// create posts a todo as the run's default user and returns it as echoed.
func create(ctx context.Context, h *harness.H, title, description, status string) (apiTodo, error) {
	body := map[string]string{"title": title, "description": description}
	if status != "" { // only checks about status send it
		body["status"] = status
	}
	resp, t, err := todos.Create[apiTodo](ctx, h, "", body)
	if err != nil {
		return apiTodo{}, err
	}
	if t.ID == "" {
		return apiTodo{}, grader.Failf("POST /todos answered 201 without an id: %s", harness.Shorten(string(resp.Body), 200)).
			WithHint("return the created todo, with the id the database holds")
	}
	return t, nil
}

// createWithStatus creates a todo with status (for checks that compare
// every value sent). A project without status that refuses the field (400
// naming status) gets the todo without it: kept is the status the todo was
// created with ("" then).
func createWithStatus(ctx context.Context, h *harness.H, title, description, status string) (t apiTodo, kept string, err error) {
	body := map[string]string{"title": title, "description": description, "status": status}
	resp, t, err := todos.Create[apiTodo](ctx, h, "", body)
	if err != nil && resp != nil && resp.Status == http.StatusBadRequest && strings.Contains(string(resp.Body), "status") {
		h.Record("note", "the service refused the field status: the todo is created without it", "")
		t, err = create(ctx, h, title, description, "")
		return t, "", err
	}
	if err != nil {
		return apiTodo{}, "", err
	}
	if t.ID == "" {
		return apiTodo{}, "", grader.Failf("POST /todos answered 201 without an id: %s", harness.Shorten(string(resp.Body), 200)).
			WithHint("return the created todo, with the id the database holds")
	}
	return t, status, nil
}

// hasField reports whether resp's body is a JSON object with the field
// name (a todo of a project without status has none).
func hasField(resp *harness.Response, name string) bool {
	tree, err := resp.JSON()
	if err != nil {
		return true
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return true
	}
	_, ok = obj[name]
	return ok
}

// sameSecond reports whether two instants are less than a second apart
// (times are compared to the second).
func sameSecond(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Second && d > -time.Second
}

// showTime renders a time for messages.
func showTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
