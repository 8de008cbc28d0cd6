package persistence

import (
	"github.com/backend-grader/grader/checks/internal/dbfind"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRandomRowsAreDistinctAndNewestFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 40; n++ {
		rows := randomRows(r, n, view{owner: "u1"})
		seen := map[int64]bool{}
		for i, row := range rows {
			sec := row.CreatedAt.Unix()
			if seen[sec] {
				t.Fatalf("n=%d: two rows share created_at %v", n, row.CreatedAt)
			}
			seen[sec] = true
			if i > 0 && !rows[i-1].CreatedAt.After(row.CreatedAt) {
				t.Fatalf("n=%d: rows not newest first at %d", n, i)
			}
			if !row.UpdatedAt.After(row.CreatedAt) || row.OwnerID != "u1" || row.ID == "" {
				t.Fatalf("bad row %+v", row)
			}
		}
	}
}

func TestSlice(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, c := range []struct {
		page, limit int
		want        []string
	}{
		{1, 3, []string{"a", "b", "c"}},
		{2, 3, []string{"d", "e", "f"}},
		{3, 3, []string{"g"}},
		{4, 3, []string{}},
		{1, 10, ids},
	} {
		if d := cmp.Diff(c.want, slice(ids, c.page, c.limit)); d != "" {
			t.Errorf("page %d limit %d: %s", c.page, c.limit, d)
		}
	}
}

func TestOrderDiff(t *testing.T) {
	if d := orderDiff([]string{"a", "b"}, []string{"a", "b"}, nil); d != "" {
		t.Errorf("equal lists: %q", d)
	}
	d := orderDiff([]string{"a", "b"}, []string{"b", "a", "x"}, []Row{{ID: "a", Title: "first"}, {ID: "b", Title: "second"}})
	for _, want := range []string{"expected 2 todos, got 3", "- a", "+ b", "first", "(none)", "x  (not one of the todos the grader inserted)"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

func TestParamCastsByColumnType(t *testing.T) {
	tab := &Table{dbfind.Known("todos", "public", "todos", []dbfind.Column{
		{Name: "id", Type: "uuid"},
		{Name: "title", Type: "text"},
		{Name: "status", Type: `"public"."todo_status"`},
		{Name: "created_at", Type: "timestamp"},
		{Name: "updated_at", Type: "timestamptz"},
		{Name: "owner_id", Type: "int8"},
	})}
	for col, want := range map[string]string{
		"id":         "$1::uuid",
		"title":      "$1",
		"status":     `$1::"public"."todo_status"`,
		"created_at": "($1::timestamptz AT TIME ZONE 'UTC')",
		"updated_at": "$1::timestamptz",
		"owner_id":   "$1::int8",
	} {
		if got := tab.param(col, 1); got != want {
			t.Errorf("%s: %s, want %s", col, got, want)
		}
	}
}

func TestShort(t *testing.T) {
	if got := short("日本語のタイトル", 3); got != "日本語…" {
		t.Errorf("short = %q", got)
	}
	if got := short("abc", 3); got != "abc" {
		t.Errorf("short = %q", got)
	}
}
