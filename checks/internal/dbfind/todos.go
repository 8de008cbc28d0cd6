package dbfind

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/harness"
)

// Todo is a todo the API just created, as the API showed it: what the
// grader looks for in the database.
type Todo struct {
	ID, Title, Description, Status string
	CreatedAt, UpdatedAt           time.Time // zero when the API did not show them
	// OwnerID is the creator's user id ("" without auth).
	OwnerID string
}

// todoColumns are the grader's columns of todos; the first six are needed
// (status only when the todo had one), owner_id from auth on.
var todoColumns = []string{"id", "title", "description", "status", "created_at", "updated_at", "owner_id"}

// Todos returns the run's todos table. On first use it calls probe for a
// todo the API just created (with a title no other row holds) and finds
// the table holding it; later calls reuse what was found. A table that
// cannot be found is a *NotFound.
func Todos(ctx context.Context, h *harness.H, probe func(context.Context) (Todo, error)) (*Table, error) {
	return cached(ctx, h, "todos", func() (*Table, error) {
		sample, err := probe(ctx)
		if err != nil {
			return nil, err
		}
		return findTodos(ctx, h, sample)
	})
}

func findTodos(ctx context.Context, h *harness.H, s Todo) (*Table, error) {
	named := h.Tables["todos"]
	cands, err := locate(ctx, h, s.Title, false, named.Table)
	if err != nil {
		return nil, err
	}
	where := "in any table of the database"
	if named.Table != "" {
		where = "in table " + named.Table + " (named in grader.yaml)"
	}
	if c, ok := named.Columns["title"]; ok {
		var kept []candidate
		for _, x := range cands {
			if x.column == c {
				kept = append(kept, x)
			}
		}
		cands = kept
	}
	tables := map[string][]candidate{}
	var order []string
	for _, c := range cands {
		k := c.schema + "." + c.table
		if _, seen := tables[k]; !seen {
			order = append(order, k)
		}
		tables[k] = append(tables[k], c)
	}
	switch {
	case len(order) == 0:
		return nil, &NotFound{
			Message: fmt.Sprintf("no column %s holds the title %q of todo %s, which POST /todos had just created", where, s.Title, s.ID),
			Hint:    "store each todo in a table of the database at DATABASE_URL, its title as sent in a text column; " + tablesHint}
	case len(order) > 1:
		return nil, &NotFound{
			Message: fmt.Sprintf("the title of todo %s is in more than one table (%s): the grader cannot tell which one holds the todos", s.ID, strings.Join(order, ", ")),
			Hint:    "name the table that holds the todos in grader.yaml: tables: {todos: <table>}"}
	}
	found := tables[order[0]]
	t, keys, err := inspect(ctx, h, "todos", found[0].schema, found[0].table)
	if err != nil {
		return nil, err
	}
	if err := t.override(h); err != nil {
		return nil, err
	}
	if !t.Has("title") {
		if len(found) > 1 {
			return nil, &NotFound{
				Message: fmt.Sprintf("more than one column of table %s holds the title of todo %s", t.Shown, s.ID),
				Hint:    "name the title's column in grader.yaml: tables: {todos: {columns: {title: <column>}}}"}
		}
		c, _ := t.byName(found[0].column)
		t.set("title", c, "found by the todo's title")
	}
	rows, err := t.rows(ctx, h, t.cols["title"].Name, s.Title, false)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, &NotFound{
			Message: fmt.Sprintf("table %s has %d rows with the title of todo %s, expected 1", t.Shown, len(rows), s.ID),
			Hint:    "POST /todos should store each todo once"}
	}
	row := rows[0]
	pick := func(logical, want, how string) {
		if t.Has(logical) || want == "" {
			return
		}
		if m := t.matching(row, want, logical); len(m) > 0 && (len(m) == 1 || m[0].Name == logical) {
			t.set(logical, m[0], how)
		}
	}
	// id: the single-column primary key when it holds the API's id, else
	// the column holding it.
	if !t.Has("id") && len(keys) == 1 {
		if c, ok := t.byName(keys[0]); ok {
			if v, _ := text(row[c.Name]); v == s.ID || s.ID == "" {
				t.set("id", c, "the primary key")
			}
		}
	}
	pick("id", s.ID, "found by the todo's id")
	pick("description", s.Description, "found by the todo's description")
	pick("status", s.Status, "found by the todo's status")
	pick("owner_id", s.OwnerID, "found by the owner's user id")
	t.pickTimes(row, s)
	// Columns the values could not single out keep the grader's names.
	for _, name := range todoColumns {
		if !t.Has(name) {
			if c, ok := t.byName(name); ok {
				t.set(name, c, "")
			}
		}
	}
	var missing []string
	for _, name := range todoColumns[:6] {
		if name == "status" && s.Status == "" {
			continue
		}
		if !t.Has(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, &NotFound{
			Message: fmt.Sprintf("table %s holds todo %s, but the grader cannot tell which column is its %s (the columns are %s)",
				t.Shown, s.ID, strings.Join(missing, ", "), strings.Join(t.names(), ", ")),
			Hint: fmt.Sprintf("name them in grader.yaml: tables: {todos: {table: %s, columns: {%s: <your column>}}}", t.Shown, missing[0])}
	}
	return t, nil
}

// pickTimes finds created_at and updated_at among the timestamp columns
// holding the API's times. A new todo has both equal, so the names decide:
// the grader's own, or, with two candidates, the one left once the other
// is known by its name.
func (t *Table) pickTimes(row map[string]any, s Todo) {
	if s.CreatedAt.IsZero() {
		return
	}
	var cands []Column
	for _, c := range t.times(row, s.CreatedAt) {
		taken := false
		for _, x := range t.cols {
			taken = taken || x.Name == c.Name
		}
		if !taken {
			cands = append(cands, c)
		}
	}
	for _, name := range []string{"created_at", "updated_at"} {
		for _, c := range cands {
			if c.Name == name && !t.Has(name) {
				t.set(name, c, "")
			}
		}
	}
	var left []Column
	for _, c := range cands {
		if t.cols["created_at"].Name != c.Name && t.cols["updated_at"].Name != c.Name {
			left = append(left, c)
		}
	}
	if len(left) != 1 {
		return
	}
	switch {
	case !t.Has("created_at") && t.Has("updated_at"):
		t.set("created_at", left[0], "the other timestamp holding the todo's createdAt")
	case t.Has("created_at") && !t.Has("updated_at"):
		t.set("updated_at", left[0], "the other timestamp holding the todo's updatedAt")
	}
}
