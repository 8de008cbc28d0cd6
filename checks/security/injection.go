package security

import (
	"context"
	"github.com/backend-grader/grader/checks/internal/dbfind"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const paramHint = "never build SQL by pasting request values into the query string: pass them as query parameters ($1, ?) so the database treats them as data"

// sqlInjectionTerm searches with terms full of SQL metacharacters. Each must
// match exactly the caller's todos that contain it as text: no more (an
// injected OR 1=1), no fewer (a broken quote), never another user's. A
// stacked statement in the term must not have run.
func sqlInjectionTerm(ctx context.Context, h *harness.H) error {
	rw := randWord(h.Rand, 8)
	pwned := "grader_pwned_" + rw
	tok, err := freshToken(ctx, h)
	if err != nil {
		return err
	}
	quoteOr := rw + "' OR '1'='1"
	_, a, err := createSubject(ctx, h, tok, "Quarterly report "+quoteOr, "")
	if err != nil {
		return err
	}
	_, b, err := create(ctx, h, tok, "Plain note "+rw, "")
	if err != nil {
		return err
	}
	tab, err := todosTable(ctx, h, b)
	if err != nil {
		return err
	}
	if h.Auth {
		other, err := freshToken(ctx, h)
		if err != nil {
			return err
		}
		if _, _, err := createSubject(ctx, h, other, "Someone else's "+quoteOr, ""); err != nil {
			return err
		}
	}
	cases := []struct {
		term string
		want []string
	}{
		{quoteOr, []string{a.ID}},
		{rw + "%' OR 1=1 --", []string{}},
		{rw + `") OR ("1"="1`, []string{}},
		{rw + "'; CREATE TABLE " + pwned + " (x int); --", []string{}},
		{rw, []string{a.ID, b.ID}},
	}
	for _, c := range cases {
		_, l, err := search(ctx, h, tok, c.term)
		if err != nil {
			return err
		}
		got := ids(l.Data)
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(c.want, got) {
			return grader.Failf("GET /todos?term=%s should list exactly the caller's todos whose title contains %q: expected ids %s, got %s", url.QueryEscape(c.term), c.term, expect.Show(c.want), expect.Show(got)).
				WithHint("%s", paramHint)
		}
	}
	return tableNotCreated(ctx, h, pwned, tab)
}

// sqlInjectionBody stores titles and descriptions full of SQL
// metacharacters: they come back and sit in the table exactly as sent, a
// PATCH changes one row only, and a stacked statement never runs.
func sqlInjectionBody(ctx context.Context, h *harness.H) error {
	rw := randWord(h.Rand, 8)
	pwned := "grader_pwned_" + rw
	tok, err := freshToken(ctx, h)
	if err != nil {
		return err
	}
	title := rw + "'); CREATE TABLE " + pwned + " (x int); --"
	desc := `it's "quoted", a back\slash, $1, 50% and under_score; -- Ünïcödé 🚀`
	_, t1, err := createSubject(ctx, h, tok, title, desc)
	if err != nil {
		return expect.Hint(err, "%s", paramHint)
	}
	want := todo{ID: t1.ID, Title: title, Description: desc, Status: t1.Status}
	if d := todos.Diff(want, t1); d != "" {
		return grader.Failf("POST /todos did not echo the title and description exactly as sent:%s", d).
			WithHint("store and return text exactly as received: no escaping, stripping or quoting on the way in")
	}
	untouched := "Untouched " + rw
	_, t2, err := create(ctx, h, tok, untouched, "")
	if err != nil {
		return err
	}
	tab, err := todosTable(ctx, h, t2)
	if err != nil {
		return err
	}
	renamed := rw + " renamed' --"
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPatch, Path: "/todos/" + t1.ID, Token: tok, JSON: map[string]string{"title": renamed}})
	if err != nil {
		return err
	}
	// The rows tell more than the status: look at them first.
	statusErr := expect.Hint(expect.Status(resp, http.StatusOK), "%s", paramHint)
	if h.PG == nil {
		return statusErr
	}
	// An injected "--" may cut the title short too: count the rows whose
	// title starts like the new one.
	prefix := rw + " renamed"
	id, ttl := tab.Col("id")+"::text", tab.Col("title")
	rows, err := h.Query(ctx, "SELECT "+id+" AS id, "+ttl+" AS title, "+tab.Col("description")+" AS description FROM "+tab.Ident()+
		" WHERE "+id+" = $1 OR "+id+" = $2 OR strpos("+ttl+", $3) = 1 ORDER BY 2", t1.ID, t2.ID, prefix)
	if err != nil {
		return grader.Errorf("reading the todos back from Postgres: %v", err)
	}
	got := map[string][2]string{}
	renamedRows := 0
	for _, r := range rows {
		id, _ := r["id"].(string)
		t, _ := r["title"].(string)
		d, _ := r["description"].(string)
		got[id] = [2]string{t, d}
		if strings.HasPrefix(t, prefix) {
			renamedRows++
		}
	}
	if renamedRows > 1 {
		return grader.Failf("PATCH /todos/%s with title %q renamed %d rows of table %s (read back with SQL), expected exactly that one", t1.ID, renamed, tab.Shown, renamedRows).
			WithHint("%s", paramHint)
	}
	if statusErr != nil {
		return statusErr
	}
	for _, w := range []todo{{ID: t1.ID, Title: renamed, Description: desc}, {ID: t2.ID, Title: untouched}} {
		g, ok := got[w.ID]
		if !ok {
			return grader.Blockedf("persistence.create-is-row", "todo %s is not in table %s (SELECT ... WHERE %s = '%s' found nothing)", w.ID, tab.Shown, tab.Name("id"), w.ID)
		}
		if d := todos.Diff(w, todo{ID: w.ID, Title: g[0], Description: g[1]}); d != "" {
			return grader.Failf("the row of todo %s in table %s does not hold what the API was sent:%s", w.ID, tab.Shown, d).
				WithHint("%s", paramHint)
		}
	}
	return tableNotCreated(ctx, h, pwned, tab)
}

// todosTable finds the run's todos table (once per run) with t, a todo the
// API just created, as the example; without a database it is nil. When it
// cannot be found the check is blocked by persistence.create-is-row.
func todosTable(ctx context.Context, h *harness.H, t todo) (*dbfind.Table, error) {
	if h.PG == nil {
		return nil, nil
	}
	tab, err := dbfind.Todos(ctx, h, func(context.Context) (dbfind.Todo, error) {
		return dbfind.Todo{ID: t.ID, Title: t.Title, Description: t.Description, Status: t.Status}, nil
	})
	return tab, dbfind.As(err, "persistence.create-is-row", false)
}

// tableNotCreated checks that the table named in an injected CREATE TABLE
// does not exist (and removes it when it does), and that the todos table
// survived.
func tableNotCreated(ctx context.Context, h *harness.H, table string, tab *dbfind.Table) error {
	if h.PG == nil || tab == nil {
		return nil
	}
	rows, err := h.Query(ctx, "SELECT to_regclass($1) IS NOT NULL AS created, to_regclass($2) IS NOT NULL AS todos", table, tab.Ident())
	if err != nil || len(rows) != 1 {
		return grader.Errorf("looking for table %s in Postgres: %v", table, err)
	}
	if created, _ := rows[0]["created"].(bool); created {
		_, _ = h.Exec(ctx, "DROP TABLE IF EXISTS "+table)
		return grader.Failf("the statement \"CREATE TABLE %s\" that the grader hid in its input was executed by your service: table %s existed afterwards (the grader dropped it)", table, table).
			WithHint("%s", paramHint)
	}
	if ok, _ := rows[0]["todos"].(bool); !ok {
		return grader.Failf("table %s no longer exists after the grader's input with SQL in it", tab.Shown).WithHint("%s", paramHint)
	}
	return nil
}

// badSorts are sort values outside the allowed list: column names the API
// does not expose and SQL fragments.
var badSorts = []string{"owner_id", "(SELECT 1)", "createdAt;--", "1", "-password", "createdAt desc, id", "created_at) --"}

// sortAllowList: createdAt and -createdAt work; anything else is 400.
func sortAllowList(ctx context.Context, h *harness.H) error {
	for _, s := range []string{"createdAt", "-createdAt"} {
		resp, err := h.Get(ctx, "/todos?"+url.Values{"sort": {s}}.Encode())
		if err != nil {
			return err
		}
		if err := expect.Status(resp, http.StatusOK); err != nil {
			return expect.Hint(err, "sort=createdAt and sort=-createdAt are the allowed values (persistence stage)")
		}
	}
	bad := slices.Clone(badSorts)
	h.Rand.Shuffle(len(bad), func(i, j int) { bad[i], bad[j] = bad[j], bad[i] })
	for _, s := range bad[:4] {
		resp, err := h.Get(ctx, "/todos?"+url.Values{"sort": {s}}.Encode())
		if err != nil {
			return err
		}
		if resp.Status != http.StatusBadRequest {
			return grader.Failf("GET /todos?sort=%s: expected 400 (only createdAt and -createdAt are allowed), got %s", url.QueryEscape(s), expect.StatusText(resp.Status)).
				WithHint("column names cannot be query parameters, so check sort against an allow-list (createdAt -> created_at ASC, -createdAt -> created_at DESC) and answer 400 for anything else")
		}
		if err := expect.Message(resp); err != nil {
			return err
		}
	}
	return nil
}
