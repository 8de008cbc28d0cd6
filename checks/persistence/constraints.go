package persistence

import (
	"context"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// dbConstraints: the database itself refuses a todo with an unknown status
// or without a title, whatever code writes it. The grader first inserts a
// valid row the same way, so that a refusal is known to be about the value.
func dbConstraints(ctx context.Context, h *harness.H) error {
	t, owner, err := tableAndOwner(ctx, h)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	row := func() Row {
		return Row{ID: expect.RandomUUID(h.Rand), Title: "constraint probe " + expect.Title(h.Rand), Description: "",
			Status: "todo", CreatedAt: now, UpdatedAt: now, OwnerID: owner}
	}
	valid := row()
	if err := t.Insert(ctx, h, &valid); err != nil {
		return err
	}
	if err := t.Delete(ctx, h, valid.ID); err != nil {
		return grader.Errorf("removing the grader's probe row: %v", err)
	}

	bad := row()
	bad.Status = "archived_" + expect.Word(h.Rand, 5)
	if err := t.insert(ctx, h, &bad, nil); err == nil {
		_ = t.Delete(ctx, h, bad.ID)
		return grader.Failf("table %s accepted a row with status %q (inserted by the grader with SQL): the database does not restrict status", t.Shown, bad.Status).
			WithHint("let the database refuse bad data whatever code writes it: CHECK (status IN ('todo', 'in_progress', 'done')) or an enum type")
	}
	noTitle := row()
	if err := t.insert(ctx, h, &noTitle, map[string]string{"title": "NULL"}); err == nil {
		_ = t.Delete(ctx, h, noTitle.ID)
		return grader.Failf("table %s accepted a row whose title is NULL (inserted by the grader with SQL)", t.Shown).
			WithHint("declare title NOT NULL (and a CHECK on its length if you like): the database should refuse a todo without a title")
	}
	return nil
}
