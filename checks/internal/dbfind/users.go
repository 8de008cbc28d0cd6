package dbfind

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/backend-grader/grader/internal/harness"
)

// User is a user the API just registered.
type User struct {
	Email string
	// ID is the user's id as the service gave it (the token's sub; "" when
	// unknown).
	ID string
}

// hashFormat recognises a stored password hash, to find its column.
var hashFormat = regexp.MustCompile(`^(\\x)?(\$2[abxy]\$|\$argon2|\$scrypt\$|\$7\$|scrypt:|\$pbkdf2|pbkdf2)`)

// Users returns the run's users table, found on first use as the table
// with a column holding the e-mail of the user probe registers (in any
// case); id is its single-column primary key (or the column holding the
// user's id, or the column id), password_hash the column holding a
// recognisable hash. A table that cannot be found is a *NotFound.
func Users(ctx context.Context, h *harness.H, probe func(context.Context) (User, error)) (*Table, error) {
	return cached(ctx, h, "users", func() (*Table, error) {
		u, err := probe(ctx)
		if err != nil {
			return nil, err
		}
		return findUsers(ctx, h, u)
	})
}

func findUsers(ctx context.Context, h *harness.H, u User) (*Table, error) {
	named := h.Tables["users"]
	cands, err := locate(ctx, h, u.Email, true, named.Table)
	if err != nil {
		return nil, err
	}
	if c, ok := named.Columns["email"]; ok {
		var kept []candidate
		for _, x := range cands {
			if x.column == c {
				kept = append(kept, x)
			}
		}
		cands = kept
	}
	seen := map[string]bool{}
	var order []string
	for _, c := range cands {
		if k := c.schema + "." + c.table; !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	switch {
	case len(order) == 0:
		return nil, &NotFound{
			Message: fmt.Sprintf("no column of any table holds the e-mail %s, which POST /register had just registered", u.Email),
			Hint:    "store each user in a table of the database at DATABASE_URL, the e-mail in a text column; if it is there, name the table in grader.yaml: tables: {users: <table>}"}
	case len(order) > 1:
		return nil, &NotFound{
			Message: fmt.Sprintf("the e-mail %s is in more than one table (%s): the grader cannot tell which one holds the users", u.Email, strings.Join(order, ", ")),
			Hint:    "name the table that holds the users in grader.yaml: tables: {users: <table>}"}
	}
	t, keys, err := inspect(ctx, h, "users", cands[0].schema, cands[0].table)
	if err != nil {
		return nil, err
	}
	if err := t.override(h); err != nil {
		return nil, err
	}
	if !t.Has("email") {
		c, _ := t.byName(cands[0].column)
		t.set("email", c, "found by the user's e-mail")
	}
	rows, err := t.rows(ctx, h, t.cols["email"].Name, u.Email, true)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, &NotFound{
			Message: fmt.Sprintf("table %s has %d rows with the e-mail %s, expected 1", t.Shown, len(rows), u.Email),
			Hint:    "POST /register should store each user once"}
	}
	row := rows[0]
	if !t.Has("id") && len(keys) == 1 {
		if c, ok := t.byName(keys[0]); ok {
			t.set("id", c, "the primary key")
		}
	}
	if !t.Has("id") && u.ID != "" {
		if m := t.matching(row, u.ID, "id"); len(m) > 0 {
			t.set("id", m[0], "found by the user's id")
		}
	}
	if !t.Has("password_hash") {
		for _, c := range t.Columns {
			if v, ok := row[c.Name].(string); ok && hashFormat.MatchString(v) {
				t.set("password_hash", c, "the column holding a password hash")
				break
			}
		}
	}
	for _, name := range []string{"id", "password_hash"} {
		if !t.Has(name) {
			if c, ok := t.byName(name); ok {
				t.set(name, c, "")
			}
		}
	}
	if !t.Has("id") {
		return nil, &NotFound{
			Message: fmt.Sprintf("table %s holds the user %s, but the grader cannot tell which column is the user's id (the columns are %s)", t.Shown, u.Email, strings.Join(t.names(), ", ")),
			Hint:    fmt.Sprintf("give the table a primary key, or name the column in grader.yaml: tables: {users: {table: %s, columns: {id: <your column>}}}", t.Shown)}
	}
	return t, nil
}
