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

// restart restarts the service and records it in the transcript.
func restart(ctx context.Context, h *harness.H, what string) error {
	h.Record("note", "restart the service ("+what+")", "")
	if err := h.Service.Restart(ctx); err != nil {
		h.Record("note", "restart failed", err.Error())
		return grader.Failf("your service did not start again after a restart (%s): %v", what, err).
			WithHint("the start-up must also succeed on a database that already has the schema: create it with CREATE TABLE IF NOT EXISTS (or record which migrations ran) and never fail because a table exists")
	}
	return nil
}

// getTodo fetches GET /todos/{id} and decodes it.
func getTodo(ctx context.Context, h *harness.H, id string) (apiTodo, *harness.Response, error) {
	resp, err := h.Get(ctx, "/todos/"+id)
	if err != nil {
		return apiTodo{}, nil, err
	}
	if resp.Status != http.StatusOK {
		return apiTodo{}, resp, nil
	}
	var t apiTodo
	if err := expect.Decode(resp, &t); err != nil {
		return apiTodo{}, resp, err
	}
	return t, resp, nil
}

// survivesRestart: a todo created through the API is still served, unchanged,
// after the service restarts.
func survivesRestart(ctx context.Context, h *harness.H) error {
	created, err := create(ctx, h, expect.Title(h.Rand), "survives "+expect.Title(h.Rand), "")
	if err != nil {
		return err
	}
	before, resp, err := getTodo(ctx, h, created.ID)
	if err != nil {
		return err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return expect.Hint(err, "GET /todos/{id} should serve the todo just created")
	}
	if err := restart(ctx, h, "to see whether the todo survives"); err != nil {
		return err
	}
	after, resp, err := getTodo(ctx, h, created.ID)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusNotFound {
		return grader.Failf("GET /todos/%s answered 404 after a restart: the todo created before the restart was lost", created.ID).
			WithHint("the todo was lost after a restart: it is probably kept in memory (or the start-up empties the table); store it in the database at DATABASE_URL")
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return err
	}
	if d := expect.Diff(stable(before), stable(after)); d != "" {
		return grader.Failf("GET /todos/%s serves another todo after the restart than before it %s", created.ID, d).
			WithHint("a restart must not change stored data: read every field back from the database")
	}
	return nil
}

// stable reduces a todo to what must survive a restart, times to the second.
func stable(t apiTodo) apiTodo {
	for _, s := range []*string{&t.CreatedAt, &t.UpdatedAt} {
		if at, err := expect.Time(*s); err == nil {
			*s = at.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
	}
	return t
}

// restartMigrated: the service starts again (twice) on a database it has
// already migrated, and the start-up leaves the table as it was: same
// columns, same rows.
func restartMigrated(ctx context.Context, h *harness.H) error {
	if _, err := create(ctx, h, expect.Title(h.Rand), "before restarts", ""); err != nil {
		return err
	}
	t0, err := Inspect(ctx, h)
	if err != nil {
		return err
	}
	cols0, err := t0.Current(ctx, h)
	if err != nil {
		return grader.Errorf("reading the columns of table %s: %v", t0.Shown, err)
	}
	n0, err := t0.Count(ctx, h)
	if err != nil {
		return err
	}
	for i := 1; i <= 2; i++ {
		if err := restart(ctx, h, fmt.Sprintf("%d of 2, on a database the service has already set up", i)); err != nil {
			return err
		}
		resp, err := h.Get(ctx, "/todos?limit=1")
		if err != nil {
			return err
		}
		if err := expect.Status(resp, http.StatusOK); err != nil {
			return expect.Hint(err, "after a restart the service must work as before: the start-up should create the schema only when it is missing")
		}
	}
	n1, err := t0.Count(ctx, h)
	if err != nil {
		return err
	}
	switch {
	case n1 > n0:
		return grader.Failf("table %s held %d rows before two restarts and %d after: the start-up added rows", t0.Shown, n0, n1).
			WithHint("the start-up seems to insert rows (sample data?) every time it runs: it should only create what is missing and never write todos")
	case n1 < n0:
		return grader.Failf("table %s held %d rows before two restarts and %d after: the start-up removed rows", t0.Shown, n0, n1).
			WithHint("the start-up deletes data (DROP TABLE, TRUNCATE or DELETE): it must only create what is missing and keep every row")
	}
	cols1, err := t0.Current(ctx, h)
	if err != nil {
		return grader.Errorf("reading the columns of table %s after the restarts: %v", t0.Shown, err)
	}
	if len(cols1) == 0 {
		return grader.Failf("table %s is gone after two restarts of the service", t0.Shown).
			WithHint("the start-up should create the schema only when it is missing, never drop it")
	}
	if d := expect.Diff(cols0, cols1); d != "" {
		return grader.Failf("the columns of table %s changed when the service restarted %s", t0.Shown, d).
			WithHint("the start-up should bring the schema to its current version once and leave it alone afterwards (IF NOT EXISTS, or a table of applied migrations)")
	}
	return nil
}
