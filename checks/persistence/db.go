package persistence

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/jackc/pgx/v5"
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

// Column is one column of the learner's todos table.
type Column struct {
	Name     string
	Type     string // the type to cast to: "uuid", "text", "timestamptz", or a qualified user type
	DataType string // information_schema's data_type, for messages
	Nullable bool
}

// Table is the learner's todos table as the grader found it.
type Table struct {
	Columns []Column
	byName  map[string]Column
}

// required are the columns STAGES.md names; owner_id joins them from auth on.
var required = []string{"id", "title", "description", "status", "created_at", "updated_at"}

// Has reports whether the table has column name.
func (t *Table) Has(name string) bool { _, ok := t.byName[name]; return ok }

// Inspect reads the columns of table todos (in the grader's current schema)
// and fails, in a learner's terms, when the table or one of the columns the
// grader relies on is missing.
func Inspect(ctx context.Context, h *harness.H) (*Table, error) {
	rows, err := h.Query(ctx, `SELECT column_name, data_type, udt_schema, udt_name, is_nullable
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'todos'
		ORDER BY ordinal_position`)
	if err != nil {
		return nil, grader.Errorf("reading the columns of table todos: %v", err)
	}
	if len(rows) == 0 {
		return nil, grader.Failf("the database at DATABASE_URL has no table todos").
			WithHint("the service should create its schema at start-up (CREATE TABLE IF NOT EXISTS todos (...)) and keep the todos there, not in memory")
	}
	t := &Table{byName: map[string]Column{}}
	for _, r := range rows {
		c := Column{
			Name:     str(r["column_name"]),
			DataType: str(r["data_type"]),
			Nullable: str(r["is_nullable"]) == "YES",
		}
		schema, name := str(r["udt_schema"]), str(r["udt_name"])
		if schema == "pg_catalog" {
			c.Type = name
		} else {
			c.Type = pgx.Identifier{schema, name}.Sanitize()
		}
		t.Columns = append(t.Columns, c)
		t.byName[c.Name] = c
	}
	var missing []string
	for _, name := range required {
		if !t.Has(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, grader.Failf("table todos has no column %s (it has: %s)", strings.Join(missing, ", "), strings.Join(t.names(), ", ")).
			WithHint("the grader reads todos(id, title, description, status, created_at, updated_at) directly: name the columns exactly so (snake_case)")
	}
	return t, nil
}

func (t *Table) names() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// param renders placeholder $n for column name, cast so that a Go string or
// time is accepted whatever the column's type (uuid or text ids, an enum or
// text status, timestamptz or timestamp times).
func (t *Table) param(name string, n int) string {
	c := t.byName[name]
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
// owner and the table has the column). A failure names the statement's
// error: the learner's schema refused a row the contract allows.
func (t *Table) Insert(ctx context.Context, h *harness.H, r Row) error {
	if err := t.insert(ctx, h, r, nil); err != nil {
		return grader.Failf("the grader could not insert a todo into table todos: %v", err).
			WithHint("the grader fills id (a UUID), title, description, status, created_at, updated_at%s: any other column needs a default, and these columns must accept such values",
				map[bool]string{true: " and owner_id", false: ""}[r.OwnerID != ""])
	}
	return nil
}

// insert writes r, with raw SQL in place of the value of the columns named
// in raw (e.g. "title": "NULL"), and returns the database's error.
func (t *Table) insert(ctx context.Context, h *harness.H, r Row, raw map[string]string) error {
	cols := []string{"id", "title", "description", "status", "created_at", "updated_at"}
	vals := []any{r.ID, r.Title, r.Description, r.Status, r.CreatedAt.UTC(), r.UpdatedAt.UTC()}
	if r.OwnerID != "" && t.Has("owner_id") {
		cols = append(cols, "owner_id")
		vals = append(vals, r.OwnerID)
	}
	var args []any
	ps := make([]string, len(cols))
	for i, c := range cols {
		if sql, ok := raw[c]; ok {
			ps[i] = sql
			continue
		}
		args = append(args, vals[i])
		ps[i] = t.param(c, len(args))
	}
	sql := "INSERT INTO todos (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(ps, ", ") + ")"
	_, err := h.Exec(ctx, sql, args...)
	return err
}

// Delete removes the todo with id as the grader.
func Delete(ctx context.Context, h *harness.H, id string) error {
	_, err := h.Exec(ctx, "DELETE FROM todos WHERE id::text = $1", id)
	return err
}

// Select reads the todo with id from the table ("" owner when the table
// has no owner_id column). ok is false when there is no such row.
func (t *Table) Select(ctx context.Context, h *harness.H, id string) (r Row, ok bool, err error) {
	owner := ""
	if t.Has("owner_id") {
		owner = ", owner_id::text AS owner_id"
	}
	rows, err := h.Query(ctx, `SELECT id::text AS id, title, description, status::text AS status, created_at, updated_at`+owner+
		` FROM todos WHERE id::text = $1`, id)
	if err != nil {
		return Row{}, false, grader.Failf("reading todo %s from table todos: %v", id, err).
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
		return Row{}, false, grader.Failf("columns created_at and updated_at of todo %s are not timestamps: created_at=%v, updated_at=%v", id, x["created_at"], x["updated_at"]).
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

// Count returns the number of rows in todos.
func Count(ctx context.Context, h *harness.H) (int64, error) {
	rows, err := h.Query(ctx, "SELECT count(*) AS n FROM todos")
	if err != nil {
		return 0, grader.Errorf("counting the rows of table todos: %v", err)
	}
	n, _ := rows[0]["n"].(int64)
	return n, nil
}
