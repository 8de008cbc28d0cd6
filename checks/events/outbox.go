package events

import (
	"context"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// outboxBudget is how long a write may take while the broker is away.
const outboxBudget = 2 * time.Second

// outboxCatchUp is how long after the broker's return the events may take.
const outboxCatchUp = 10 * time.Second

// outboxSurvives: with the broker taken away at the grader's proxy, writes
// answer as usual within 2 s; within 10 s of its return every event of
// those writes arrives, and duplicates carry the same message_id.
func outboxSurvives(ctx context.Context, h *harness.H) error {
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	if err := h.Fault("rabbitmq").Down(ctx); err != nil {
		return err
	}
	type want struct{ id, typ string }
	var wants []want
	timed := func(r harness.Request, status int, why string) (map[string]any, error) {
		start := time.Now()
		v, err := send(ctx, h, r, status)
		took := time.Since(start)
		if err != nil {
			return nil, expect.Hint(expect.Note(err, "%s while the broker was unreachable", why),
				"with the broker away the API must work as usual: write the event to an outbox table in the same transaction and let a relay publish it later")
		}
		if took > outboxBudget {
			h.MarkDecisive()
			return nil, grader.Failf("%s took %s while the broker was unreachable, expected an answer within %s", why, took.Round(time.Millisecond), outboxBudget).
				WithHint("never wait for the broker in a request: write the event to an outbox table and return")
		}
		return v, nil
	}
	var ids []string
	for i := 0; i < 2; i++ {
		t, err := timed(harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": expect.Title(h.Rand)}}, http.StatusCreated, "POST /todos")
		if err != nil {
			return err
		}
		id := idText(t["id"])
		if id == "" {
			return grader.Blockedf("rest.create", "POST /todos returned no id")
		}
		ids = append(ids, id)
		wants = append(wants, want{id, "todo.created"})
	}
	if _, err := timed(harness.Request{Method: http.MethodPatch, Path: "/todos/" + ids[0], JSON: map[string]any{"title": expect.Title(h.Rand)}}, http.StatusOK, "PATCH /todos/{id}"); err != nil {
		return err
	}
	wants = append(wants, want{ids[0], "todo.updated"})
	if _, err := timed(harness.Request{Method: http.MethodDelete, Path: "/todos/" + ids[1]}, http.StatusNoContent, "DELETE /todos/{id}"); err != nil {
		return err
	}
	wants = append(wants, want{ids[1], "todo.deleted"})
	if err := h.Fault("rabbitmq").Restore(ctx); err != nil {
		return err
	}
	complete := func(evs []event) bool {
		for _, w := range wants {
			if len(about(evs, w.id, w.typ)) == 0 {
				return false
			}
		}
		return true
	}
	if _, err := l.until(ctx, outboxCatchUp, complete); err != nil {
		return err
	}
	for _, w := range wants {
		if len(about(l.got, w.id, w.typ)) == 0 {
			h.MarkDecisive()
			return grader.Failf("the %s event of todo %s, written while the broker was unreachable, did not reach %s within %s of the broker's return: it was lost", w.typ, w.id, eventsExchange, outboxCatchUp).
				WithHint("store each event in an outbox table in the same transaction as the change; a relay publishes what is not yet confirmed, and retries after the broker comes back (reconnect)")
		}
	}
	// Duplicates only with the same message_id: one distinct id per change.
	for _, w := range wants {
		ids := map[string]bool{}
		for _, e := range l.got {
			if e.todoID() == w.id && e.Type == w.typ {
				ids[e.Msg.MessageID] = true
			}
		}
		if len(ids) > 1 {
			return grader.Failf("the %s event of todo %s arrived %d times with different message_ids: a consumer cannot tell them apart", w.typ, w.id, len(ids)).
				WithHint("give each event its id once, when it is written to the outbox, and publish that id as message_id every time the relay sends it")
		}
	}
	return nil
}
