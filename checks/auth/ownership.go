package auth

import (
	"context"
	"fmt"
	"github.com/backend-grader/grader/checks/internal/dbfind"
	"net/http"
	"slices"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

var forbiddenBody = map[string]any{"message": "Forbidden"}

// ownership: another user's PUT, PATCH and DELETE on a todo answer 403
// {"message":"Forbidden"} and change nothing; their GET answers 403 or 404.
func ownership(ctx context.Context, h *harness.H) error {
	owner, intruder, err := twoUsers(ctx, h)
	if err != nil {
		return err
	}
	title, desc := expect.Title(h.Rand), "owned "+expect.Title(h.Rand)
	t, err := createAs(ctx, h, owner.Token, map[string]any{"title": title, "description": desc})
	if err != nil {
		return err
	}
	path := "/todos/" + t.ID
	writes := []harness.Request{
		{Method: http.MethodPut, Path: path, Token: intruder.Token, JSON: map[string]string{"title": "taken over", "description": "taken over"}},
		{Method: http.MethodPatch, Path: path, Token: intruder.Token, JSON: map[string]string{"description": "taken over"}},
		{Method: http.MethodDelete, Path: path, Token: intruder.Token},
	}
	for _, req := range writes {
		resp, err := h.Do(ctx, req)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusForbidden {
			hint := "before changing a todo, compare its owner_id with the user id of the token, on every route (PUT, PATCH and DELETE), and answer 403"
			if resp.Status == http.StatusNotFound {
				hint = "a todo that exists but belongs to someone else answers 403 Forbidden to PUT, PATCH and DELETE (404 is for ids that do not exist)"
			}
			return grader.Failf("%s %s by another user than the todo's owner: expected 403 Forbidden, got %s", req.Method, path, expect.StatusText(resp.Status)).
				WithHint("%s", hint)
		}
		if err := exactBody(resp, forbiddenBody, `answer another user's todo with exactly {"message":"Forbidden"}`); err != nil {
			return err
		}
	}
	resp, err := h.Do(ctx, harness.Request{Path: path, Token: intruder.Token})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusForbidden && resp.Status != http.StatusNotFound {
		return grader.Failf("GET %s by another user than the todo's owner: expected 403 Forbidden or 404 Not Found, got %s", path, expect.StatusText(resp.Status)).
			WithHint("a user may read only their own todos: check the owner on GET /todos/{id} too")
	}
	resp, err = h.Do(ctx, harness.Request{Path: path, Token: owner.Token})
	if err != nil {
		return err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return expect.Hint(err, "the todo must still be there for its owner after another user's attempts to change and delete it")
	}
	var after struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	if err := expect.Decode(resp, &after); err != nil {
		return err
	}
	if after.Title != title || after.Description != desc {
		return grader.Failf("GET %s by its owner: the todo changed although every other user's write was refused%s", path,
			expect.Diff(map[string]string{"title": title, "description": desc}, map[string]string{"title": after.Title, "description": after.Description})).
			WithHint("check the owner before writing, not after: a refused request must change nothing")
	}
	return nil
}

// listIsolation: GET /todos lists only the caller's todos, and total counts
// only those.
func listIsolation(ctx context.Context, h *harness.H) error {
	a, b, err := twoUsers(ctx, h)
	if err != nil {
		return err
	}
	marker := expect.Word(h.Rand, 8)
	var aIDs, bIDs []string
	for i := range 2 + h.Rand.IntN(3) {
		t, err := createAs(ctx, h, a.Token, map[string]any{"title": fmt.Sprintf("%s A%d %s", marker, i, expect.Title(h.Rand))})
		if err != nil {
			return err
		}
		aIDs = append(aIDs, t.ID)
	}
	t, err := createAs(ctx, h, b.Token, map[string]any{"title": marker + " B " + expect.Title(h.Rand)})
	if err != nil {
		return err
	}
	bIDs = append(bIDs, t.ID)
	for _, c := range []struct {
		who   string
		u     *harness.User
		own   []string
		other []string
		path  string
	}{
		{"the second user", b, bIDs, aIDs, "/todos?limit=100"},
		{"the second user", b, bIDs, aIDs, "/todos?limit=100&term=" + marker},
		{"the first user", a, aIDs, bIDs, "/todos?limit=100"},
	} {
		ids, total, err := listIDs(ctx, h, c.u.Token, c.path)
		if err != nil {
			return err
		}
		for _, id := range c.other {
			if slices.Contains(ids, id) {
				return grader.Failf("GET %s as %s lists todo %s, which belongs to another user", c.path, c.who, id).
					WithHint("filter every list by the caller: WHERE owner_id = <the token's sub>, in the count for total as well")
			}
		}
		slices.Sort(ids)
		want := slices.Clone(c.own)
		slices.Sort(want)
		if d := expect.Diff(want, ids); d != "" {
			return grader.Failf("GET %s as %s (a new user): expected exactly their own %d todos %s", c.path, c.who, len(want), d).
				WithHint("a user's list holds their own todos and nothing else")
		}
		if total != len(want) {
			return grader.Failf("GET %s as %s: total is %d, but the user owns %d todos", c.path, c.who, total, len(want)).
				WithHint("total counts the caller's matching todos only: apply the owner filter to the COUNT(*) too")
		}
	}
	return nil
}

// ownerIDIgnored: an ownerId in the body of POST /todos is ignored: the
// todo belongs to the token's user.
func ownerIDIgnored(ctx context.Context, h *harness.H) error {
	a, b, err := twoUsers(ctx, h)
	if err != nil {
		return err
	}
	if err := b.NeedID(); err != nil {
		return err
	}
	hint := "take the owner from the token only and ignore any owner field in the body; otherwise anyone can create todos in someone else's name"
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", Token: a.Token,
		JSON: map[string]any{"title": expect.Title(h.Rand), "ownerId": b.ID}})
	if err != nil {
		return err
	}
	if resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnprocessableEntity {
		// Refusing the unknown field keeps the owner out of the body's
		// hands too, as long as nothing was created for the other user.
		ids, _, err := listIDs(ctx, h, b.Token, "/todos")
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return grader.Failf("POST /todos by user %s with \"ownerId\": %q answered %s, yet user %s now lists %d todo(s)", a.ID, b.ID, expect.StatusText(resp.Status), b.ID, len(ids)).WithHint("%s", hint)
		}
		return nil
	}
	if err := todos.Created(resp); err != nil {
		return grader.Blockedf(harness.CreateCheck, "creating a todo for this check failed: %v", err).
			WithHint("a body with an extra ownerId field is still a valid todo (ignore the field) or a 400: see rest.create for what a create answers")
	}
	var t todo
	if err := expect.Decode(resp, &t); err != nil {
		return err
	}
	if t.OwnerID != nil && fmt.Sprint(t.OwnerID) != a.ID {
		return grader.Failf("POST /todos with \"ownerId\": %q in the body by user %s answered ownerId %s", b.ID, a.ID, expect.Show(t.OwnerID)).WithHint("%s", hint)
	}
	// The stored owner, where the grader can find it (the row itself is
	// graded by persistence.create-is-row).
	if tab, err := dbfind.Todos(ctx, h, func(context.Context) (dbfind.Todo, error) {
		return dbfind.Todo{ID: t.ID, Title: t.Title, OwnerID: a.ID}, nil
	}); err == nil && tab.Has("owner_id") {
		rows, err := h.Query(ctx, "SELECT "+tab.Col("owner_id")+"::text AS owner_id FROM "+tab.Ident()+" WHERE "+tab.Col("id")+"::text = $1", t.ID)
		if err == nil && len(rows) == 1 {
			if got, _ := rows[0]["owner_id"].(string); got != a.ID {
				return grader.Failf("POST /todos by user %s with \"ownerId\": %q in the body: the row in table %s has %s %q", a.ID, b.ID, tab.Shown, tab.Name("owner_id"), got).WithHint("%s", hint)
			}
		}
	}
	for _, x := range []struct {
		u    *harness.User
		want []int
		text string
		who  string
	}{
		{a, []int{http.StatusOK}, "200 OK", "its creator"},
		{b, []int{http.StatusForbidden, http.StatusNotFound}, "403 or 404", "the user named in ownerId"},
	} {
		resp, err := h.Do(ctx, harness.Request{Path: "/todos/" + t.ID, Token: x.u.Token})
		if err != nil {
			return err
		}
		if !slices.Contains(x.want, resp.Status) {
			return grader.Failf("GET /todos/%s by %s: expected %s, got %s", t.ID, x.who, x.text, expect.StatusText(resp.Status)).WithHint("%s", hint)
		}
	}
	return nil
}
