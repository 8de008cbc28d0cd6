package events

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// createdEvent: a create publishes one todo.created event with every
// property and the todo as the API answered, plus ownerId.
func createdEvent(ctx context.Context, h *harness.H) error {
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	owner, err := userID(ctx, h)
	if err != nil {
		return err
	}
	t, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	evs, err := l.waitFor(ctx, id, 1)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return noEvent("todo.created", id)
	}
	if err := checkEnvelope(evs[0], "todo.created"); err != nil {
		return err
	}
	if err := checkProperties(evs[0], "todo.created"); err != nil {
		return err
	}
	return sameAsAPI(evs[0], t, owner)
}

// updatedEvents: PATCH and PUT each publish todo.updated with the todo as
// the API answered after the change.
func updatedEvents(ctx context.Context, h *harness.H) error {
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	owner, err := userID(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	patched, err := send(ctx, h, harness.Request{Method: http.MethodPatch, Path: "/todos/" + id, JSON: map[string]any{"title": expect.Title(h.Rand)}}, http.StatusOK)
	if err != nil {
		return setup(err, "rest.patch-partial", "PATCH /todos/{id}")
	}
	put, err := send(ctx, h, harness.Request{Method: http.MethodPut, Path: "/todos/" + id, JSON: map[string]any{"title": expect.Title(h.Rand), "description": expect.Word(h.Rand, 12)}}, http.StatusOK)
	if err != nil {
		return setup(err, "rest.put-replaces", "PUT /todos/{id}")
	}
	evs, err := l.waitFor(ctx, id, 2, "todo.updated")
	if err != nil {
		return err
	}
	if len(evs) < 2 {
		return grader.Failf("after a PATCH and a PUT of todo %s, %d todo.updated event(s) reached %s within %s, expected 2", id, len(evs), eventsExchange, eventWait).
			WithHint("every successful PUT and PATCH publishes one todo.updated event")
	}
	for i, want := range []map[string]any{patched, put} {
		if err := checkEnvelope(evs[i], "todo.updated"); err != nil {
			return err
		}
		if err := sameAsAPI(evs[i], want, owner); err != nil {
			return expect.Note(err, "the event of the %s", []string{"PATCH", "PUT"}[i])
		}
	}
	return nil
}

// deletedEvent: DELETE publishes todo.deleted naming the todo.
func deletedEvent(ctx context.Context, h *harness.H) error {
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if _, err := send(ctx, h, harness.Request{Method: http.MethodDelete, Path: "/todos/" + id}, http.StatusNoContent); err != nil {
		return setup(err, "rest.delete", "DELETE /todos/{id}")
	}
	evs, err := l.waitFor(ctx, id, 1, "todo.deleted")
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return noEvent("todo.deleted", id)
	}
	return checkEnvelope(evs[0], "todo.deleted")
}

// eventsInOrder: for one todo, the first deliveries come in the order of
// the API calls, sent one right after another.
func eventsInOrder(ctx context.Context, h *harness.H) error {
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	want := []string{"created"}
	for i := 0; i < 4; i++ {
		title := fmt.Sprintf("step %d %s", i+1, expect.Word(h.Rand, 6))
		if _, err := send(ctx, h, harness.Request{Method: http.MethodPatch, Path: "/todos/" + id, JSON: map[string]any{"title": title}}, http.StatusOK); err != nil {
			return setup(err, "rest.patch-partial", "PATCH /todos/{id}")
		}
		want = append(want, title)
	}
	evs, err := l.waitFor(ctx, id, len(want))
	if err != nil {
		return err
	}
	var got []string
	for _, e := range evs {
		if e.Type == "todo.created" {
			got = append(got, "created")
		} else {
			got = append(got, fmt.Sprint(e.Data["title"]))
		}
	}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		return grader.Failf("the events of todo %s (a create, then four PATCHes of its title) arrived as\n  %s\nexpected\n  %s", id, strings.Join(got, " | "), strings.Join(want, " | ")).
			WithHint("relay the outbox oldest first and publish one event at a time (waiting for the broker's confirm), so that the events of one todo keep the order of its changes")
	}
	return nil
}

// noEventOnError: requests that fail with 400, 401, 403 or 404 publish
// nothing; a successful create after them is the marker that the relay
// has gone past them.
func noEventOnError(ctx context.Context, h *harness.H) error {
	if !h.Auth {
		return grader.Skipf("needs the auth stage")
	}
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	other, err := h.NewUser(ctx)
	if err != nil {
		return grader.Blockedf("auth.register-login", "registering a second user: %v", err)
	}
	_, otherID, err := create(ctx, h, other.Token)
	if err != nil {
		return err
	}
	mark := "ne " + expect.Word(h.Rand, 12)
	missing := expect.RandomUUID(h.Rand)
	reqs := []struct {
		r    harness.Request
		want int
		why  string
	}{
		{harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": "", "description": mark}}, 400, "an invalid create (400)"},
		{harness.Request{Method: http.MethodPost, Path: "/todos", NoAuth: true, JSON: map[string]any{"title": mark}}, 401, "a create without a token (401)"},
		{harness.Request{Method: http.MethodPatch, Path: "/todos/" + otherID, JSON: map[string]any{"title": mark}}, 403, "a PATCH of another user's todo (403)"},
		{harness.Request{Method: http.MethodPatch, Path: "/todos/" + missing, JSON: map[string]any{"title": mark}}, 404, "a PATCH of a todo that does not exist (404)"},
	}
	for _, q := range reqs {
		if _, err := send(ctx, h, q.r, q.want); err != nil {
			return setup(err, "auth.ownership", q.why)
		}
	}
	_, marker, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if evs, err := l.waitFor(ctx, marker, 1); err != nil {
		return err
	} else if len(evs) == 0 {
		return grader.Blockedf("events.created", "the todo.created event of a todo created afterwards never came")
	}
	for _, e := range l.got {
		why := ""
		switch {
		case e.todoID() == missing:
			why = reqs[3].why
		case e.todoID() == otherID && e.Type != "todo.created":
			why = reqs[2].why
		case fmt.Sprint(e.Data["description"]) == mark:
			why = reqs[0].why
		case fmt.Sprint(e.Data["title"]) == mark:
			why = reqs[1].why
		}
		if why != "" {
			return grader.Failf("%s published a %s event (routing key %s): a request that failed changed nothing and must publish nothing", why, e.Type, e.Msg.RoutingKey).
				WithHint("write the event in the same transaction as the change, after validation and the ownership check, so that a refused request leaves no event")
		}
	}
	return nil
}
