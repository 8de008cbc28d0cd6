package persistence

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// createIsRow: a todo created through the API is a row of table todos
// holding the values sent (and, with auth, the creator as owner_id).
func createIsRow(ctx context.Context, h *harness.H) error {
	title := expect.Title(h.Rand)
	desc := "stored " + expect.Title(h.Rand)
	status := []string{"in_progress", "done"}[h.Rand.IntN(2)] // not the default: a forgotten column shows
	got, kept, err := createWithStatus(ctx, h, title, desc, status)
	status = kept
	if err != nil {
		return err
	}
	sample, err := sampleOf(ctx, h, got)
	if err != nil {
		return err
	}
	t, err := inspect(ctx, h, &sample)
	if err != nil {
		return err
	}
	owner := sample.OwnerID
	if owner != "" && !t.Has("owner_id") {
		return grader.Failf("no column of table %s holds the id of the user who created todo %s (%s)", t.Shown, got.ID, owner).
			WithHint("from the auth stage on, each todo stores its owner's user id (the token's sub) in a column of its own (owner_id)")
	}
	row, ok, err := t.Select(ctx, h, got.ID)
	if err != nil {
		return err
	}
	if !ok {
		return grader.Failf("POST /todos answered 201 with id %s, but table %s has no row with that id", got.ID, t.Shown).
			WithHint("the todo is probably kept in memory: insert it into the database at DATABASE_URL and return the id stored there")
	}
	want := map[string]string{"title": title, "description": desc}
	have := map[string]string{"title": row.Title, "description": row.Description}
	if status != "" {
		want["status"], have["status"] = status, row.Status
	}
	if owner != "" {
		want["owner_id"], have["owner_id"] = owner, row.OwnerID
	}
	if d := expect.Diff(want, have); d != "" {
		hint := "the INSERT probably leaves out a column or stores another value than the one sent: store each field as received"
		if want["owner_id"] != have["owner_id"] {
			hint = "owner_id must hold the id of the user who created the todo (the sub of their token)"
		}
		return grader.Failf("the row of todo %s in table %s does not hold the values sent to POST /todos %s", got.ID, t.Shown, d).WithHint("%s", hint)
	}
	for _, c := range []struct {
		name string
		api  string
		db   time.Time
	}{{"createdAt", got.CreatedAt, row.CreatedAt}, {"updatedAt", got.UpdatedAt, row.UpdatedAt}} {
		at, err := expect.Time(c.api)
		if err != nil {
			return grader.Failf("POST /todos: %s: %v", c.name, err).WithHint("timestamps are RFC 3339 strings")
		}
		if !sameSecond(at, c.db) {
			return grader.Failf("POST /todos answered %s %s, but the row holds %s (column %s)", c.name, showTime(at), showTime(c.db), t.Name(snake(c.name))).
				WithHint("answer with the timestamps stored in the row; when they differ by hours, the column is probably a timestamp without time zone written in local time: use timestamptz")
		}
	}
	return nil
}

// sqlRowServed: a todo the grader inserts with SQL is served by the API
// with the values of the row.
func sqlRowServed(ctx context.Context, h *harness.H) error {
	t, owner, err := tableAndOwner(ctx, h)
	if err != nil {
		return err
	}
	created := base.Add(-time.Duration(h.Rand.IntN(24*30*60)) * time.Minute)
	row := Row{
		ID:          expect.RandomUUID(h.Rand),
		Title:       expect.Title(h.Rand),
		Description: "inserted by SQL " + expect.Title(h.Rand),
		Status:      statuses[h.Rand.IntN(len(statuses))],
		CreatedAt:   created,
		UpdatedAt:   created.Add(time.Duration(1+h.Rand.IntN(36*60)) * time.Minute),
		OwnerID:     owner,
	}
	if err := t.Insert(ctx, h, &row); err != nil {
		return err
	}
	got, resp, err := getTodo(ctx, h, row.ID)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusNotFound {
		return grader.Failf("GET /todos/%s answered 404, but the grader had just inserted that todo into table %s", row.ID, t.Shown).
			WithHint("the API probably serves todos from memory: read them from table todos on every request, so that the database is the only source of truth")
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return err
	}
	want := apiTodo{ID: row.ID, Title: row.Title, Description: row.Description, Status: row.Status,
		CreatedAt: showTime(row.CreatedAt), UpdatedAt: showTime(row.UpdatedAt)}
	have := got
	if !hasField(resp, "status") {
		// A project without status: this check is about the row being
		// served, not about status.
		want.Status = ""
	}
	// Times are compared to the second, whatever their format.
	for _, p := range []struct {
		s    *string
		want time.Time
	}{{&have.CreatedAt, row.CreatedAt}, {&have.UpdatedAt, row.UpdatedAt}} {
		if at, err := expect.Time(*p.s); err == nil && sameSecond(at, p.want) {
			*p.s = showTime(p.want)
		}
	}
	if d := expect.Diff(want, have); d != "" {
		hint := "serve each field from its column: title, description, status, createdAt from created_at, updatedAt from updated_at"
		if have.CreatedAt == want.UpdatedAt || have.UpdatedAt == want.CreatedAt {
			hint = "createdAt and updatedAt look swapped: check the order of the columns in the SELECT against the order of the variables you scan them into"
		}
		return grader.Failf("GET /todos/%s does not serve the row the grader inserted %s", row.ID, d).WithHint("%s", hint)
	}
	return nil
}

// snake names a JSON time field's column.
func snake(field string) string {
	switch field {
	case "createdAt":
		return "created_at"
	case "updatedAt":
		return "updated_at"
	}
	return fmt.Sprintf("%q", field)
}
