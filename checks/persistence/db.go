package persistence

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/dbfind"
	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// Row is a todo as the grader writes it to, or reads it from, table todos.
type Row struct {
	ID          string
	Title       string
	Description string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// OwnerID is the owner's user id ("" = none: runs without auth).
	OwnerID string
}

// Table is the learner's todos table as the grader found it (package
// dbfind): its own name and column names, the grader's names for them.
type Table struct{ *dbfind.Table }

// createIsRowID grades the todos being rows: any other check that cannot
// find them is blocked by it.
const createIsRowID = "persistence.create-is-row"

// Inspect finds the todos table (once per run: a todo is created through
// the API and looked for by its title). When it cannot be found, the check
// is blocked by persistence.create-is-row, which grades that.
func Inspect(ctx context.Context, h *harness.H) (*Table, error) {
	return inspect(ctx, h, nil)
}

// inspect finds the table with sample as the todo to look for (nil: create
// one); a sample means the caller grades the row being there, and fails.
func inspect(ctx context.Context, h *harness.H, sample *dbfind.Todo) (*Table, error) {
	t, err := dbfind.Todos(ctx, h, func(ctx context.Context) (dbfind.Todo, error) {
		if sample != nil {
			return *sample, nil
		}
		return probe(ctx, h)
	})
	if err != nil {
		return nil, dbfind.As(err, createIsRowID, sample != nil)
	}
	return &Table{t}, nil
}

// probe creates a todo with only a title and a description (what every
// project accepts) for dbfind to look for.
func probe(ctx context.Context, h *harness.H) (dbfind.Todo, error) {
	title := expect.Title(h.Rand)
	got, err := create(ctx, h, title, "found "+expect.Title(h.Rand), "")
	if err != nil {
		return dbfind.Todo{}, grader.Blockedf("rest.create", "creating a todo to find the table it is stored in: %v", err)
	}
	return sampleOf(ctx, h, got)
}

// sampleOf is what dbfind looks for, from a todo as the API showed it.
func sampleOf(ctx context.Context, h *harness.H, got apiTodo) (dbfind.Todo, error) {
	s := dbfind.Todo{ID: got.ID, Title: got.Title, Description: got.Description, Status: got.Status}
	s.CreatedAt, _ = expect.Time(got.CreatedAt)
	s.UpdatedAt, _ = expect.Time(got.UpdatedAt)
	if h.Auth {
		u, err := h.User(ctx)
		if err != nil {
			return dbfind.Todo{}, err
		}
		s.OwnerID = u.ID
	}
	return s, nil
}

// param renders placeholder $n for column name, cast so that a Go string or
// time is accepted whatever the column's type (uuid or text ids, an enum or
// text status, timestamptz or timestamp times).
func (t *Table) param(name string, n int) string {
	c, _ := t.Column(name)
	p := fmt.Sprintf("$%d", n)
	switch c.Type {
	case "text", "varchar", "bpchar":
		return p
	case "timestamptz":
		return p + "::timestamptz"
	case "timestamp":
		// A time without zone holds UTC wall-clock time.
		return "(" + p + "::timestamptz AT TIME ZONE 'UTC')"
	}
	if name == "created_at" || name == "updated_at" {
		return p + "::timestamptz::" + c.Type
	}
	return p + "::" + c.Type
}

// Insert writes r into todos as the grader (owner_id only when r has an
// owner and the table has the column) and sets r.ID to the row's id. A
// failure names the statement's error: the learner's schema refused a row
// the contract allows.
func (t *Table) Insert(ctx context.Context, h *harness.H, r *Row) error {
	if err := t.insert(ctx, h, r, nil); err != nil {
		id := "id (a UUID)"
		if !t.GraderPicksID() {
			id = "id (the database's default)"
		}
		return grader.Failf("the grader could not insert a todo into table %s: %v", t.Shown, err).
			WithHint("the grader fills %s, title, description, status, created_at, updated_at%s: any other column needs a default, and these columns must accept such values",
				id, map[bool]string{true: " and owner_id", false: ""}[r.OwnerID != ""])
	}
	return nil
}

// GraderPicksID reports whether the grader writes the id of the rows it
// inserts itself (a random UUID, in a uuid or text column); otherwise (a
// serial, an identity, any other type) the database assigns it.
func (t *Table) GraderPicksID() bool {
	c, ok := t.Column("id")
	if !ok {
		return true
	}
	switch c.Type {
	case "uuid", "text", "varchar", "bpchar":
		return true
	}
	return false
}

// insert writes r, with raw SQL in place of the value of the columns named
// in raw (e.g. "title": "NULL"), and returns the database's error. When
// the database assigns the id (GraderPicksID is false), r.ID is set to it.
func (t *Table) insert(ctx context.Context, h *harness.H, r *Row, raw map[string]string) error {
	var cols []string
	var vals []any
	if t.GraderPicksID() {
		cols, vals = append(cols, "id"), append(vals, r.ID)
	}
	cols = append(cols, "title", "description")
	vals = append(vals, r.Title, r.Description)
	if t.Has("status") || raw["status"] != "" {
		cols = append(cols, "status")
		vals = append(vals, r.Status)
	}
	cols = append(cols, "created_at", "updated_at")
	vals = append(vals, r.CreatedAt.UTC(), r.UpdatedAt.UTC())
	if r.OwnerID != "" && t.Has("owner_id") {
		cols = append(cols, "owner_id")
		vals = append(vals, r.OwnerID)
	}
	var args []any
	ps := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = t.Col(c)
		if sql, ok := raw[c]; ok {
			ps[i] = sql
			continue
		}
		args = append(args, vals[i])
		ps[i] = t.param(c, len(args))
	}
	sql := "INSERT INTO " + t.Ident() + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(ps, ", ") + ")"
	if t.GraderPicksID() {
		_, err := h.Exec(ctx, sql, args...)
		return err
	}
	rows, err := h.Query(ctx, sql+" RETURNING "+t.Col("id")+"::text AS id", args...)
	if err != nil {
		return err
	}
	if len(rows) == 1 {
		r.ID = str(rows[0]["id"])
	}
	return nil
}

// Delete removes the todo with id as the grader.
func (t *Table) Delete(ctx context.Context, h *harness.H, id string) error {
	_, err := h.Exec(ctx, "DELETE FROM "+t.Ident()+" WHERE "+t.Col("id")+"::text = $1", id)
	return err
}

// Select reads the todo with id from the table ("" owner when the table
// has no owner_id column). ok is false when there is no such row.
func (t *Table) Select(ctx context.Context, h *harness.H, id string) (r Row, ok bool, err error) {
	owner, status := "", "'' AS status"
	if t.Has("owner_id") {
		owner = ", " + t.Col("owner_id") + "::text AS owner_id"
	}
	if t.Has("status") {
		status = t.Col("status") + "::text AS status"
	}
	rows, err := h.Query(ctx, "SELECT "+t.Col("id")+"::text AS id, "+t.Col("title")+" AS title, "+t.Col("description")+" AS description, "+status+
		", "+t.Col("created_at")+" AS created_at, "+t.Col("updated_at")+" AS updated_at"+owner+
		" FROM "+t.Ident()+" WHERE "+t.Col("id")+"::text = $1", id)
	if err != nil {
		return Row{}, false, grader.Failf("reading todo %s from table %s: %v", id, t.Shown, err).
			WithHint("the grader reads todos(id, title, description, status, created_at, updated_at) directly: these columns must hold plain values (text or uuid id, text status, timestamps)")
	}
	if len(rows) == 0 {
		return Row{}, false, nil
	}
	x := rows[0]
	r = Row{ID: str(x["id"]), Title: str(x["title"]), Description: str(x["description"]), Status: str(x["status"]), OwnerID: str(x["owner_id"])}
	var okC, okU bool
	r.CreatedAt, okC = dbTime(x["created_at"])
	r.UpdatedAt, okU = dbTime(x["updated_at"])
	if !okC || !okU {
		return Row{}, false, grader.Failf("columns %s and %s of todo %s are not timestamps: %v and %v", t.Name("created_at"), t.Name("updated_at"), id, x["created_at"], x["updated_at"]).
			WithHint("store times in timestamptz columns (timestamp with time zone), so that both the service and the grader read the same instant")
	}
	return r, true, nil
}

// dbTime reads a time the database returned (a timestamp, or text holding
// an RFC 3339 time).
func dbTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v, true
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// str renders a value the database returned as a string ("" for NULL).
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case [16]byte: // a uuid decoded without a cast
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	}
	return fmt.Sprint(v)
}

// Count returns the number of rows in the todos table.
func (t *Table) Count(ctx context.Context, h *harness.H) (int64, error) {
	rows, err := h.Query(ctx, "SELECT count(*) AS n FROM "+t.Ident())
	if err != nil {
		return 0, grader.Errorf("counting the rows of table %s: %v", t.Shown, err)
	}
	n, _ := rows[0]["n"].(int64)
	return n, nil
}
