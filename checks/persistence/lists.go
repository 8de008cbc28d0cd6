package persistence

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// seed gives a check a list of its own holding n random rows inserted by
// SQL; edit, when not nil, may change titles, descriptions and statuses
// first. The rows come back newest first.
func seed(ctx context.Context, h *harness.H, n int, edit func(rows []Row)) (view, []Row, error) {
	t, err := Inspect(ctx, h)
	if err != nil {
		return view{}, nil, err
	}
	v, err := freshView(ctx, h, t)
	if err != nil {
		return view{}, nil, err
	}
	rows := randomRows(h.Rand, n, v)
	if edit != nil {
		edit(rows)
	}
	if err := insertShuffled(ctx, h, t, rows); err != nil {
		return view{}, nil, err
	}
	return v, rows, nil
}

// page is one expected page of a list.
type page struct {
	path  string
	page  int
	limit int
	ids   []string
	total int // -1: page, limit and total are not judged (another check's subject)
}

// checkPage fetches p.path as v and compares the page with p (rows are
// the rows inserted, to describe ids). hint is the hint for a wrong slice
// or order.
func checkPage(ctx context.Context, h *harness.H, v view, rows []Row, p page, hint string) error {
	l, _, err := list(ctx, h, v, p.path)
	if err != nil {
		return err
	}
	if d := orderDiff(p.ids, l.ids(), rows); d != "" {
		return grader.Failf("GET %s: the page does not hold the expected todos in the expected order\n%s", p.path, d).WithHint("%s", hint)
	}
	if p.total < 0 {
		return nil
	}
	want := map[string]any{"page": p.page, "limit": p.limit, "total": p.total}
	got := map[string]any{"page": deref(l.Page), "limit": deref(l.Limit), "total": deref(l.Total)}
	if d := expect.Diff(want, got); d != "" {
		h := "page and limit echo the page served and its size; total counts every todo that matches the query, on all pages (a COUNT(*) with the same filters)"
		if deref(l.Total) == len(l.Data) && p.total != len(l.Data) {
			h = "total is the number of matching todos across all pages (a separate COUNT(*) with the same filters), not the number on this page"
		}
		return grader.Failf("GET %s: page, limit or total is wrong (%d todos match) %s", p.path, p.total, d).WithHint("%s", h)
	}
	return nil
}

// deref shows a missing JSON number as "missing".
func deref(p *int) any {
	if p == nil {
		return "missing"
	}
	return *p
}

func slice(ids []string, pageNo, limit int) []string {
	lo := min((pageNo-1)*limit, len(ids))
	hi := min(lo+limit, len(ids))
	return append([]string{}, ids[lo:hi]...)
}

func note(h *harness.H, v view, rows []Row) {
	who := "table todos emptied first"
	if v.owner != "" {
		who = "owner_id " + v.owner + ", a user registered for this check"
	}
	h.Record("note", fmt.Sprintf("the grader inserted %d todos by SQL (%s), newest first:", len(rows), who), describeRows(rows))
}

func describeRows(rows []Row) string {
	var b strings.Builder
	for i, r := range rows {
		if i == 12 {
			fmt.Fprintf(&b, "... (%d in all)", len(rows))
			break
		}
		fmt.Fprintf(&b, "%s  created_at %s  status %-11s  %s\n", r.ID, showTime(r.CreatedAt), r.Status, harness.Shorten(r.Title, 60))
	}
	return strings.TrimRight(b.String(), "\n")
}

const orderHint = "order by created_at descending unless sort says otherwise, and serve rows OFFSET (page-1)*limit LIMIT limit"

// pagination: 15 to 40 rows inserted by SQL come back in the right pages,
// newest first, with the right total.
func pagination(ctx context.Context, h *harness.H) error {
	n := 15 + h.Rand.IntN(26)
	v, rows, err := seed(ctx, h, n, nil)
	if err != nil {
		return err
	}
	ids := rowIDs(rows)
	limit := 3 + h.Rand.IntN(7)
	pages := (n + limit - 1) / limit
	mid := 2 + h.Rand.IntN(max(1, pages-2))
	note(h, v, rows)
	checks := []page{
		{path: "/todos", page: 1, limit: 10, ids: slice(ids, 1, 10), total: n},
		{path: fmt.Sprintf("/todos?page=%d&limit=%d", mid, limit), page: mid, limit: limit, ids: slice(ids, mid, limit), total: n},
		{path: fmt.Sprintf("/todos?limit=%d&page=%d", limit, pages), page: pages, limit: limit, ids: slice(ids, pages, limit), total: n},
		{path: fmt.Sprintf("/todos?page=%d&limit=%d", pages+1, limit), page: pages + 1, limit: limit, ids: []string{}, total: n},
	}
	for _, p := range checks {
		hint := orderHint
		if p.path == "/todos" {
			hint = "without parameters, serve page 1 with 10 todos, newest (latest created_at) first"
		}
		if len(p.ids) == 0 {
			hint = "a page past the end is empty (\"data\": []) but still reports the total"
		}
		if err := checkPage(ctx, h, v, rows, p, hint); err != nil {
			return err
		}
	}
	return nil
}

// sorting: sort=createdAt is oldest first, sort=-createdAt newest first,
// over the whole list: a middle page of sort=createdAt holds the oldest
// rows after the first page (reversing a newest-first page is right only
// when the list fits on one page).
func sorting(ctx context.Context, h *harness.H) error {
	n := 8 + h.Rand.IntN(7)
	v, rows, err := seed(ctx, h, n, nil)
	if err != nil {
		return err
	}
	desc := rowIDs(rows)
	asc := make([]string, n)
	for i, id := range desc {
		asc[n-1-i] = id
	}
	note(h, v, rows)
	checks := []page{
		{path: "/todos?sort=createdAt&limit=50", page: 1, limit: 50, ids: asc, total: n},
		{path: "/todos?limit=50&sort=-createdAt", page: 1, limit: 50, ids: desc, total: n},
	}
	if h.Rand.IntN(2) == 0 {
		checks[0], checks[1] = checks[1], checks[0]
	}
	// n >= 8: page 2 is full and not the last; with n = 3*limit the
	// reversed newest-first page 2 would be the right one by chance.
	limit := 2 + h.Rand.IntN(2)
	if n == 3*limit {
		limit = 2
	}
	checks = append(checks, page{path: fmt.Sprintf("/todos?sort=createdAt&page=2&limit=%d", limit), page: 2, limit: limit, ids: slice(asc, 2, limit), total: -1})
	for _, p := range checks {
		if err := checkPage(ctx, h, v, rows, p, "sort=createdAt orders by created_at ascending (oldest first), sort=-createdAt descending: map the parameter to an ORDER BY from a fixed list"); err != nil {
			return err
		}
	}
	return nil
}

// randomCase changes the case of each letter of s at random, making sure at
// least one letter changes.
func randomCase(h *harness.H, s string) string {
	for {
		b := []byte(s)
		for i, c := range b {
			if c >= 'a' && c <= 'z' && h.Rand.IntN(2) == 0 {
				b[i] = c - 'a' + 'A'
			} else if c >= 'A' && c <= 'Z' && h.Rand.IntN(2) == 0 {
				b[i] = c - 'A' + 'a'
			}
		}
		if string(b) != s || strings.ToLower(s) == strings.ToUpper(s) {
			return string(b)
		}
	}
}

// termFilter: term matches title or description, ignoring case, with % and
// _ as literal characters.
func termFilter(ctx context.Context, h *harness.H) error {
	marker := expect.Word(h.Rand, 7)
	a, b := expect.Word(h.Rand, 4), expect.Word(h.Rand, 4)
	// What each row's title and description hold; the term queries below
	// select by these.
	type spec struct{ title, desc string }
	specs := []spec{
		{"Buy " + marker + " milk", "plain"},                        // 0: marker in the title
		{strings.ToUpper(marker) + " first", "plain"},               // 1: marker upper-cased
		{"Nothing here", "see " + randomCase(h, marker) + " below"}, // 2: marker in the description
		{"Near " + marker[:6] + " miss", "plain"},                   // 3: not a match
		{"Literal " + a + "_" + b + " underscore", "plain"},         // 4: matches a_b literally
		{"Wildcard " + a + "x" + b + " underscore", "plain"},        // 5: matches a_b only if _ is a wildcard
		{"Literal " + a + "%" + b + " percent", "plain"},            // 6: matches a%b literally
		{"Wildcard " + a + "zzz" + b + " percent", "plain"},         // 7: matches a%b only if % is a wildcard
		{"Unrelated " + expect.Word(h.Rand, 6), "plain"},            // 8
	}
	at := map[int]int{} // spec index -> index of the row holding it
	v, rows, err := seed(ctx, h, len(specs), func(rows []Row) {
		for i, si := range h.Rand.Perm(len(specs)) {
			rows[i].Title, rows[i].Description = specs[si].title, specs[si].desc
			at[si] = i
		}
	})
	if err != nil {
		return err
	}
	holder := map[int]string{} // spec index -> id of the row holding it (known once inserted)
	for si, i := range at {
		holder[si] = rows[i].ID
	}
	note(h, v, rows)
	expectIDs := func(specIdx ...int) []string {
		want := map[string]bool{}
		for _, si := range specIdx {
			want[holder[si]] = true
		}
		out := []string{}
		for _, r := range rows { // newest first
			if want[r.ID] {
				out = append(out, r.ID)
			}
		}
		return out
	}
	queries := []struct {
		term  string
		specs []int
		hint  func(got []string) string
	}{
		{randomCase(h, marker), []int{0, 1, 2}, func(got []string) string {
			switch {
			case !contains(got, holder[1]) || !contains(got, holder[0]):
				return "term must match whatever the case: compare lower-cased values (ILIKE, or lower() on both sides)"
			case !contains(got, holder[2]):
				return "term must match the description too, not only the title"
			}
			return "term selects the todos whose title or description contains it, ignoring case"
		}},
		{randomCase(h, a+"_"+b), []int{4}, wildcardHint},
		{randomCase(h, a+"%"+b), []int{6}, wildcardHint},
	}
	for _, q := range queries {
		want := expectIDs(q.specs...)
		path := "/todos?limit=100&term=" + url.QueryEscape(q.term)
		l, _, err := list(ctx, h, v, path)
		if err != nil {
			return err
		}
		got := l.ids()
		if d := orderDiff(want, got, rows); d != "" {
			return grader.Failf("GET %s: expected exactly the todos whose title or description contains %q in any case, newest first\n%s", path, q.term, d).
				WithHint("%s", q.hint(got))
		}
		if l.Total == nil || *l.Total != len(want) {
			return grader.Failf("GET %s: expected total %d (the todos matching the term), got %v", path, len(want), deref(l.Total)).
				WithHint("total counts the todos matching every filter, not all of the user's todos")
		}
	}
	return nil
}

func wildcardHint([]string) string {
	return "% and _ in term are literal characters: escape them (and the escape character) before putting the term into LIKE/ILIKE, or use strpos(lower(title), lower($1)) > 0"
}

func contains(ids []string, id string) bool { return slices.Contains(ids, id) }

// statusFilter: status selects todos by status, alone and with term.
func statusFilter(ctx context.Context, h *harness.H) error {
	marker := expect.Word(h.Rand, 7)
	n := 12 + h.Rand.IntN(7)
	// Every other row carries the marker; the six newest cover each
	// status with and without it, the others have random statuses.
	v, rows, err := seed(ctx, h, n, func(rows []Row) {
		for i := range rows {
			if i%2 == 0 {
				rows[i].Title = "Task " + marker + " " + rows[i].Title
			}
			if i < 6 {
				rows[i].Status = statuses[i/2]
			}
		}
	})
	if err != nil {
		return err
	}
	note(h, v, rows)
	want := func(status string, withMarker bool) []string {
		out := []string{}
		for _, r := range rows {
			if r.Status == status && (!withMarker || strings.Contains(strings.ToLower(r.Title+" "+r.Description), marker)) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	order := h.Rand.Perm(len(statuses))
	for _, i := range order[:2] {
		st := statuses[i]
		path := "/todos?limit=100&status=" + st
		if err := checkPage(ctx, h, v, rows, page{path: path, page: 1, limit: 100, ids: want(st, false), total: len(want(st, false))},
			"status selects the todos with exactly that status (WHERE status = $1), and total counts only those"); err != nil {
			return err
		}
	}
	st := statuses[order[2]]
	// The term's case matches here: term-filter checks case on its own.
	path := "/todos?status=" + st + "&term=" + marker + "&limit=100"
	ids := want(st, true)
	return checkPage(ctx, h, v, rows, page{path: path, page: 1, limit: 100, ids: ids, total: len(ids)},
		"filters combine: a todo is listed when it matches status and term (AND), and total counts those")
}

// limitCap: limit above 100 is refused with 400, from 101 (the boundary)
// on; 100 itself is fine.
func limitCap(ctx context.Context, h *harness.H) error {
	resp, err := h.Get(ctx, "/todos?limit=100")
	if err != nil {
		return err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return expect.Hint(err, "limit=100 is the largest page allowed, and allowed")
	}
	for _, over := range []int{101, 102 + h.Rand.IntN(899)} {
		resp, err = h.Get(ctx, fmt.Sprintf("/todos?limit=%d", over))
		if err != nil {
			return err
		}
		if err := expect.Status(resp, http.StatusBadRequest); err != nil {
			return expect.Hint(err, "cap limit at 100: answer 400 with a message when a client asks for more (101 included), so that nobody can fetch a whole table in one request")
		}
		if err := expect.Message(resp); err != nil {
			return err
		}
	}
	return nil
}

// orderDiff compares two lists of ids position by position and renders
// them side by side, each id with the created_at and title of its row when
// the grader inserted it. It is "" when they are equal.
func orderDiff(want, got []string, rows []Row) string {
	if slices.Equal(want, got) {
		return ""
	}
	byID := map[string]Row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	desc := func(id string) string {
		if id == "" {
			return "(none)"
		}
		if r, ok := byID[id]; ok {
			return fmt.Sprintf("%s  %s  %s", id, showTime(r.CreatedAt), short(r.Title, 30))
		}
		return id + "  (not one of the todos the grader inserted)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "expected %d todos, got %d:\n", len(want), len(got))
	n := max(len(want), len(got))
	for i := 0; i < n && i < 30; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w == g {
			fmt.Fprintf(&b, "  %2d   %s\n", i+1, desc(w))
			continue
		}
		fmt.Fprintf(&b, "  %2d - %s\n", i+1, desc(w))
		fmt.Fprintf(&b, "     + %s\n", desc(g))
	}
	if n > 30 {
		fmt.Fprintf(&b, "  ... (%d positions in all)\n", n)
	}
	b.WriteString("(- expected, + got)")
	return b.String()
}

// short cuts s to n code points, marking the cut with "…".
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
