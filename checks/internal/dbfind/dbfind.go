// Package dbfind finds where a learner's project keeps its data (DESIGN.md
// §3.1, STAGES.md "What the grader accepts along the way"): the table that
// holds a todo (or a user) the API just created, as the table with a text
// column holding the todo's unique title (the user's e-mail) exactly, and
// its columns by their values. JSON copies of the todo (an outbox, an
// audit log) do not count: a json or jsonb column never equals a title, and
// a text column holding JSON does not equal it exactly.
//
// What grader.yaml's tables: names wins over what is found. The result is
// found once per run and shared by every check.
package dbfind

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/jackc/pgx/v5"
)

// Column is one column of a table the grader found.
type Column struct {
	Name     string // the project's name
	Type     string // the type to cast to: "uuid", "text", "timestamptz", or a qualified user type
	DataType string // information_schema's data_type, for messages
	Nullable bool
}

// Table is a learner's table as the grader found it.
type Table struct {
	// Logical is the grader's name for it: todos or users.
	Logical string
	// Shown is the project's name for it, for messages ("tasks", "app.tasks").
	Shown string
	// Columns are all the table's columns, in order.
	Columns []Column

	schema, name string
	cols         map[string]Column // the grader's column name -> the project's column
	how          []string          // how each column was found, for the note
}

// Ident is the table as SQL names it (schema-qualified, quoted).
func (t *Table) Ident() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

// Has reports whether the table has the grader's column logical (todos:
// id, title, description, status, created_at, updated_at, owner_id; users:
// id, email, password_hash).
func (t *Table) Has(logical string) bool { _, ok := t.cols[logical]; return ok }

// Column returns the project's column for the grader's column logical.
func (t *Table) Column(logical string) (Column, bool) { c, ok := t.cols[logical]; return c, ok }

// Col is the grader's column logical as SQL names it (quoted). A column the
// table lacks is named as the grader would, so that the statement fails
// with the database's own words.
func (t *Table) Col(logical string) string {
	if c, ok := t.cols[logical]; ok {
		return pgx.Identifier{c.Name}.Sanitize()
	}
	return pgx.Identifier{logical}.Sanitize()
}

// Name is the project's name of the grader's column logical, for messages
// (e.g. "tasks.inserted_at").
func (t *Table) Name(logical string) string {
	if c, ok := t.cols[logical]; ok {
		return t.Shown + "." + c.Name
	}
	return t.Shown + "." + logical
}

// Describe says what was found, in one line: "table tasks (created_at is
// inserted_at; title found by its value)".
func (t *Table) Describe() string {
	if len(t.how) == 0 {
		return "table " + t.Shown
	}
	return "table " + t.Shown + " (" + strings.Join(t.how, "; ") + ")"
}

// note records in the check's transcript where the data was found.
func (t *Table) note(h *harness.H) {
	h.Record("note", fmt.Sprintf("the %s live in %s", t.Logical, t.Describe()), "")
}

// NotFound is returned when the data could not be found. The check whose
// subject is the data being stored fails with it (Fail); any other check is
// blocked by that one (Blocked).
type NotFound struct {
	Message string
	Hint    string
}

func (e *NotFound) Error() string { return e.Message }

// Fail is the failure of the check that grades the data being there.
func (e *NotFound) Fail() error { return grader.Failf("%s", e.Message).WithHint("%s", e.Hint) }

// Blocked is e for a check that needs the data along the way: blocked by
// check by, which grades it.
func (e *NotFound) Blocked(by string) error {
	return grader.Blockedf(by, "the grader could not find where the data lives: %s", e.Message).WithHint("%s", e.Hint)
}

// As returns err as a failure when the check's id is by (it grades the
// data), as blocked by by otherwise; other errors are returned as they are.
func As(err error, by string, grades bool) error {
	var nf *NotFound
	if !errors.As(err, &nf) {
		return err
	}
	if grades {
		return nf.Fail()
	}
	return nf.Blocked(by)
}

// tablesHint is the hint of a discovery failure.
const tablesHint = "the grader looks for the table holding what the API just created; if it is there, name it in grader.yaml, e.g. tables: {todos: {table: tasks, columns: {created_at: inserted_at}}}"

// candidate is a text column of some table.
type candidate struct{ schema, table, column string }

// locate finds the tables with a text column whose value equals value
// (lower-cased on both sides when fold), as (schema, table, column). With
// only set, it looks in that table alone.
func locate(ctx context.Context, h *harness.H, value string, fold bool, only string) ([]candidate, error) {
	q := `SELECT c.table_schema, c.table_name, c.column_name
		FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE t.table_type = 'BASE TABLE'
		  AND c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg\_%'
		  AND c.data_type IN ('text', 'character varying', 'character', 'citext', 'USER-DEFINED')`
	args := []any{}
	if only != "" {
		schema, table := splitTable(only)
		if schema == "" {
			q += ` AND c.table_schema = current_schema() AND c.table_name = $1`
			args = append(args, table)
		} else {
			q += ` AND c.table_schema = $1 AND c.table_name = $2`
			args = append(args, schema, table)
		}
	}
	rows, err := h.PG.Query(ctx, q+` ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return nil, err
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var c candidate
		return c, r.Scan(&c.schema, &c.table, &c.column)
	})
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	parts := make([]string, len(cands))
	for i, c := range cands {
		col := pgx.Identifier{c.column}.Sanitize() + "::text"
		if fold {
			col = "lower(" + col + ")"
		}
		parts[i] = fmt.Sprintf("(SELECT %d AS i FROM %s WHERE %s = $1 LIMIT 1)", i, pgx.Identifier{c.schema, c.table}.Sanitize(), col)
	}
	if fold {
		value = strings.ToLower(value)
	}
	sql := "SELECT i FROM (" + strings.Join(parts, " UNION ALL ") + ") AS found"
	hits, err := h.Query(ctx, sql, value)
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, r := range hits {
		if i, ok := r["i"].(int32); ok && int(i) < len(cands) {
			out = append(out, cands[i])
		}
	}
	return out, nil
}

func splitTable(s string) (schema, table string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// inspect reads a table's columns and primary key.
func inspect(ctx context.Context, h *harness.H, logical, schema, table string) (*Table, []string, error) {
	rows, err := h.PG.Query(ctx, `SELECT column_name, data_type, udt_schema, udt_name, is_nullable
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, table)
	if err != nil {
		return nil, nil, err
	}
	t := &Table{Logical: logical, schema: schema, name: table, cols: map[string]Column{}}
	for rows.Next() {
		var c Column
		var us, un, null string
		if err := rows.Scan(&c.Name, &c.DataType, &us, &un, &null); err != nil {
			rows.Close()
			return nil, nil, err
		}
		c.Nullable = null == "YES"
		if us == "pg_catalog" {
			c.Type = un
		} else {
			c.Type = pgx.Identifier{us, un}.Sanitize()
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var current string
	if err := h.PG.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return nil, nil, err
	}
	t.Shown = table
	if schema != current {
		t.Shown = schema + "." + table
	}
	pk, err := h.PG.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary`, t.Ident())
	if err != nil {
		return nil, nil, err
	}
	keys, err := pgx.CollectRows(pk, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	return t, keys, nil
}

func (t *Table) byName(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

func (t *Table) names() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// override applies grader.yaml's columns for the table; an unknown column
// is a discovery failure naming the columns there are.
func (t *Table) override(h *harness.H) error {
	for logical, name := range h.Tables[t.Logical].Columns {
		c, ok := t.byName(name)
		if !ok {
			return &NotFound{
				Message: fmt.Sprintf("grader.yaml names column %s of table %s as %s, but the table has no such column (it has: %s)", name, t.Shown, logical, strings.Join(t.names(), ", ")),
				Hint:    "correct tables: in grader.yaml to the column's name in your schema"}
		}
		t.set(logical, c, "named in grader.yaml")
	}
	return nil
}

// set records that the grader's column logical is c, and how it was found
// (said in the note when the names differ).
func (t *Table) set(logical string, c Column, how string) {
	t.cols[logical] = c
	if c.Name != logical {
		t.how = append(t.how, fmt.Sprintf("%s is %s, %s", logical, c.Name, how))
	}
}

// row reads the rows whose column col equals value as JSON objects.
func (t *Table) rows(ctx context.Context, h *harness.H, col, value string, fold bool) ([]map[string]any, error) {
	where := pgx.Identifier{col}.Sanitize() + "::text = $1"
	if fold {
		where = "lower(" + pgx.Identifier{col}.Sanitize() + "::text) = lower($1)"
	}
	rows, err := h.Query(ctx, "SELECT to_jsonb(x) AS row FROM "+t.Ident()+" x WHERE "+where, value)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		if m, ok := r["row"].(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// text renders a JSON value of a row as the text the grader compares.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

// matching returns the columns (not yet taken) whose value in row equals
// want, preferring the one named like the grader's column.
func (t *Table) matching(row map[string]any, want, logical string) []Column {
	var out []Column
	taken := map[string]bool{}
	for _, c := range t.cols {
		taken[c.Name] = true
	}
	for _, c := range t.Columns {
		if taken[c.Name] {
			continue
		}
		if s, ok := text(row[c.Name]); ok && s == want {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name == logical && out[j].Name != logical })
	return out
}

// times returns the timestamp columns whose value in row is at within a
// second.
func (t *Table) times(row map[string]any, at time.Time) []Column {
	var out []Column
	for _, c := range t.Columns {
		if !strings.HasPrefix(c.DataType, "timestamp") {
			continue
		}
		s, ok := row[c.Name].(string)
		if !ok {
			continue
		}
		v, ok := parseTime(s)
		if ok && v.Sub(at) < time.Second && at.Sub(v) < time.Second {
			out = append(out, c)
		}
	}
	return out
}

// parseTime reads a timestamp as to_jsonb writes it (a time without zone
// is UTC wall-clock time).
func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// cached returns the run's table for logical, finding it with find on
// first use. A failure is not kept: the next check tries again with its own
// data.
func cached(ctx context.Context, h *harness.H, logical string, find func() (*Table, error)) (*Table, error) {
	type slot struct {
		mu sync.Mutex
		t  *Table
	}
	s := h.RunValue("dbfind."+logical, func() any { return &slot{} }).(*slot)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.t; t != nil {
		t.note(h)
		return t, nil
	}
	if h.PG == nil {
		return nil, harness.ErrNoPostgres
	}
	t, err := find()
	if err != nil {
		// What the probe or the search already judged (a failed setup, a
		// blocked precondition, nothing found) goes back as it is; only
		// the grader's own SQL trouble is an error.
		var nf *NotFound
		var f *grader.Failure
		var p *grader.Precondition
		if errors.As(err, &nf) || errors.As(err, &f) || errors.As(err, &p) {
			return nil, err
		}
		return nil, grader.Errorf("finding the %s table: %v", logical, err)
	}
	h.Logf("the %s live in %s", logical, t.Describe())
	t.note(h)
	s.t = t
	return t, nil
}

// Current reads the table's columns as the database has them now (after a
// restart, say), in order.
func (t *Table) Current(ctx context.Context, h *harness.H) ([]Column, error) {
	now, _, err := inspect(ctx, h, t.Logical, t.schema, t.name)
	if err != nil {
		return nil, err
	}
	return now.Columns, nil
}

// Known makes a table whose columns carry the grader's names (for tests,
// and for tables named in full elsewhere).
func Known(logical, schema, name string, columns []Column) *Table {
	t := &Table{Logical: logical, Shown: name, schema: schema, name: name, Columns: columns, cols: map[string]Column{}}
	for _, c := range columns {
		t.cols[c.Name] = c
	}
	return t
}
