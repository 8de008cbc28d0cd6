package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned by the SQL helpers when the run has no database.
var ErrNoPostgres = errors.New("this run has no Postgres (grader bug: the stage should declare it)")

// Row is one row of a query result, by column name.
type Row map[string]any

// Query runs SQL on the run's database as the grader, records it (with its
// result) in the transcript and returns the rows.
func (h *H) Query(ctx context.Context, sql string, args ...any) ([]Row, error) {
	if h.PG == nil {
		return nil, ErrNoPostgres
	}
	cmd := sqlLine(sql, args)
	rows, err := h.PG.Query(ctx, sql, args...)
	if err != nil {
		h.Record("sql", cmd, "ERROR: "+err.Error())
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		row := Row{}
		for i, fd := range r.FieldDescriptions() {
			row[fd.Name] = vals[i]
		}
		return row, nil
	})
	if err != nil {
		h.Record("sql", cmd, "ERROR: "+err.Error())
		return nil, err
	}
	h.Record("sql", cmd, formatRows(out))
	return out, nil
}

// Exec runs a statement as the grader and records it; it returns the number
// of rows affected.
func (h *H) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if h.PG == nil {
		return 0, ErrNoPostgres
	}
	cmd := sqlLine(sql, args)
	tag, err := h.PG.Exec(ctx, sql, args...)
	if err != nil {
		h.Record("sql", cmd, "ERROR: "+err.Error())
		return 0, err
	}
	h.Record("sql", cmd, tag.String())
	return tag.RowsAffected(), nil
}

func sqlLine(sql string, args []any) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(args) == 0 {
		return s
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprintf("$%d=%s", i+1, Shorten(fmt.Sprintf("%v", a), 80))
	}
	return s + "  -- " + strings.Join(parts, ", ")
}

func formatRows(rows []Row) string {
	if len(rows) == 0 {
		return "(0 rows)"
	}
	var b strings.Builder
	for i, r := range rows {
		if i == 10 {
			fmt.Fprintf(&b, "... (%d rows in all)\n", len(rows))
			break
		}
		b.WriteString(Shorten(fmt.Sprintf("%v", map[string]any(r)), 300))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "(%d rows)", len(rows))
	return b.String()
}
