package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// command is a message the grader sends to tasks.commands.
func command(id, todoID, user string) map[string]any {
	return map[string]any{"commandId": id, "type": "todo.complete", "todoId": todoID, "userId": user}
}

// publishCommand sends a body to tasks.commands through the default exchange.
func publishCommand(ctx context.Context, a *harness.AMQP, msgID string, body any) error {
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	return a.Publish(ctx, "", commandsQueue, harness.Message{ContentType: "application/json", MessageID: msgID, Persistent: true, Body: raw})
}

// status reads a todo's status through the API.
func status(ctx context.Context, h *harness.H, tok, id string) (string, error) {
	v, err := send(ctx, h, harness.Request{Method: http.MethodGet, Path: "/todos/" + id, Token: tok}, http.StatusOK)
	if err != nil {
		return "", setup(err, "rest.get", "GET /todos/{id}")
	}
	return fmt.Sprint(v["status"]), nil
}

// completedBy waits for the todo.updated event that says the todo is done.
func completedBy(ctx context.Context, l *listener, id string, wait time.Duration) (bool, error) {
	return l.until(ctx, wait, func(evs []event) bool {
		for _, e := range about(evs, id, "todo.updated") {
			if fmt.Sprint(e.Data["status"]) == "done" {
				return true
			}
		}
		return false
	})
}

func commandSetup(ctx context.Context, h *harness.H) (*listener, string, error) {
	if !h.Auth {
		return nil, "", grader.Skipf("commands name the user: needs the auth stage")
	}
	l, err := listen(ctx, h)
	if err != nil {
		return nil, "", err
	}
	owner, err := userID(ctx, h)
	return l, owner, err
}

// commandCompletes: todo.complete sets status done, with one todo.updated.
func commandCompletes(ctx context.Context, h *harness.H) error {
	l, owner, err := commandSetup(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if err := publishCommand(ctx, l.a, "", command(expect.RandomUUID(h.Rand), id, owner)); err != nil {
		return err
	}
	done, err := completedBy(ctx, l, id, eventWait)
	if err != nil {
		return err
	}
	st, err := status(ctx, h, "", id)
	if err != nil {
		return err
	}
	if st != "done" {
		h.MarkDecisive()
		return grader.Failf("after a todo.complete command for todo %s, GET /todos/%s shows status %q, expected \"done\" (within %s)", id, id, st, eventWait).
			WithHint("consume tasks.commands; for todo.complete set the todo's status to done when it exists and belongs to userId, then acknowledge")
	}
	if !done {
		return grader.Failf("todo %s was completed by a command, but no todo.updated event with status done reached %s within %s", id, eventsExchange, eventWait).
			WithHint("a change made by a command is a change like any other: write its todo.updated event in the same transaction")
	}
	// Exactly one: a marker created afterwards flushes the relay.
	_, marker, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if _, err := l.waitFor(ctx, marker, 1); err != nil {
		return err
	}
	if n := len(about(l.got, id, "todo.updated")); n != 1 {
		return grader.Failf("one todo.complete command for todo %s published %d todo.updated events with different ids, expected 1", id, n).
			WithHint("apply a command once and write one event for it")
	}
	return nil
}

// commandIdempotent: the same commandId again is acknowledged and changes
// nothing, even when the todo was changed through the API in between.
func commandIdempotent(ctx context.Context, h *harness.H) error {
	l, owner, err := commandSetup(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	cmdID := expect.RandomUUID(h.Rand)
	if err := publishCommand(ctx, l.a, "", command(cmdID, id, owner)); err != nil {
		return err
	}
	if ok, err := completedBy(ctx, l, id, eventWait); err != nil {
		return err
	} else if !ok {
		return grader.Blockedf("events.command-complete", "the first todo.complete command for todo %s was not applied", id)
	}
	if _, err := send(ctx, h, harness.Request{Method: http.MethodPatch, Path: "/todos/" + id, JSON: map[string]any{"status": "todo"}}, http.StatusOK); err != nil {
		return setup(err, "rest.patch-partial", "PATCH /todos/{id} with status todo")
	}
	before := len(about(l.got, id, "todo.updated"))
	if _, err := l.waitFor(ctx, id, before+1, "todo.updated"); err != nil {
		return err
	}
	seen := len(about(l.got, id, "todo.updated"))
	if err := publishCommand(ctx, l.a, "", command(cmdID, id, owner)); err != nil {
		return err
	}
	// A second todo completed by a later command: once it is done, the
	// consumer has gone past the repeated one.
	_, marker, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if err := publishCommand(ctx, l.a, "", command(expect.RandomUUID(h.Rand), marker, owner)); err != nil {
		return err
	}
	if ok, err := completedBy(ctx, l, marker, eventWait); err != nil {
		return err
	} else if !ok {
		return grader.Failf("a todo.complete command sent after a repeated one was not applied within %s: the consumer stopped at the repeated command", eventWait).
			WithHint("acknowledge a command whose commandId was already processed, and go on with the next")
	}
	st, err := status(ctx, h, "", id)
	if err != nil {
		return err
	}
	if st != "todo" {
		h.MarkDecisive()
		return grader.Failf("a todo.complete command sent again with the same commandId set todo %s to %q again (it had been set back to \"todo\" through the API in between), expected no change", id, st).
			WithHint("record each processed commandId (e.g. a table with a unique key, in the same transaction as the change) and acknowledge a repeated one without applying it: brokers deliver at least once")
	}
	if n := len(about(l.got, id, "todo.updated")); n != seen {
		return grader.Failf("the repeated command published a todo.updated event for todo %s, expected none", id).
			WithHint("a command already processed changes nothing, so it publishes nothing")
	}
	return nil
}

// poisonDeadLettered: what cannot be applied is rejected without requeue
// and lands in tasks.commands.dlq; the consumer goes on.
func poisonDeadLettered(ctx context.Context, h *harness.H) error {
	l, owner, err := commandSetup(ctx, h)
	if err != nil {
		return err
	}
	other, err := h.NewUser(ctx)
	if err != nil {
		return grader.Blockedf("auth.register-login", "registering a second user: %v", err)
	}
	_, otherTodo, err := create(ctx, h, other.Token)
	if err != nil {
		return err
	}
	_, mine, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	tag := expect.Word(h.Rand, 8)
	poison := []struct {
		what string
		body any
	}{
		{"a body that is not JSON", []byte("complete " + mine + " please")},
		{"a command without userId", map[string]any{"commandId": expect.RandomUUID(h.Rand), "type": "todo.complete", "todoId": mine}},
		{"a command of an unknown type", map[string]any{"commandId": expect.RandomUUID(h.Rand), "type": "todo.archive", "todoId": mine, "userId": owner}},
		{"a command for a todo that does not exist", command(expect.RandomUUID(h.Rand), expect.RandomUUID(h.Rand), owner)},
		{"a command for another user's todo", command(expect.RandomUUID(h.Rand), otherTodo, owner)},
	}
	ids := map[string]string{}
	for i, p := range poison {
		id := fmt.Sprintf("poison-%s-%d", tag, i)
		ids[id] = p.what
		if err := publishCommand(ctx, l.a, id, p.body); err != nil {
			return err
		}
	}
	if err := publishCommand(ctx, l.a, "", command(expect.RandomUUID(h.Rand), mine, owner)); err != nil {
		return err
	}
	if ok, err := doneInAPI(ctx, h, mine, eventWait); err != nil {
		return err
	} else if !ok {
		h.MarkDecisive()
		return grader.Failf("a valid todo.complete command sent after five bad ones was not applied within %s: the consumer stopped or is stuck on them", eventWait).
			WithHint("reject a command you cannot apply (basic.reject or nack with requeue=false) and go on with the next; never let one bad message stop the consumer")
	}
	deadline := time.Now().Add(eventWait)
	for len(ids) > 0 && time.Now().Before(deadline) {
		m, err := l.a.Get(ctx, dlqQueue, time.Until(deadline))
		if err != nil {
			return err
		}
		if m == nil {
			break
		}
		delete(ids, m.MessageID)
	}
	for id, what := range ids {
		h.MarkDecisive()
		return grader.Failf("%s (message_id %s) did not reach %s within %s", what, id, dlqQueue, eventWait).
			WithHint("reject it without requeue (basic.reject requeue=false): the broker then moves it to tasks.dlx and the DLQ; acknowledging drops it, requeueing loops it forever")
	}
	st, err := status(ctx, h, other.Token, otherTodo)
	if err != nil {
		return err
	}
	if st == "done" {
		return grader.Failf("a command whose userId is not the owner of todo %s completed it", otherTodo).
			WithHint("apply a command only when the todo belongs to userId; otherwise reject it")
	}
	return nil
}

// commandDurable: with Postgres away when a command arrives, the command
// is not acknowledged and lost: it is applied once Postgres is back.
func commandDurable(ctx context.Context, h *harness.H) error {
	l, owner, err := commandSetup(ctx, h)
	if err != nil {
		return err
	}
	_, id, err := create(ctx, h, "")
	if err != nil {
		return err
	}
	if err := h.Fault("postgres").Down(ctx); err != nil {
		return err
	}
	if err := publishCommand(ctx, l.a, "", command(expect.RandomUUID(h.Rand), id, owner)); err != nil {
		return err
	}
	// Wait until the consumer has taken it (the queue holds no ready
	// message), then give it a moment to fail against the missing database.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		q, found, err := l.a.InspectQueue(ctx, commandsQueue)
		if err != nil {
			return err
		}
		if !found {
			return grader.Blockedf("events.topology", "the queue %s does not exist", commandsQueue)
		}
		if q.Messages == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // the attempt against the downed database
	if err := h.Fault("postgres").Restore(ctx); err != nil {
		return err
	}
	if ok, err := completedBy(ctx, l, id, 15*time.Second); err != nil {
		return err
	} else if ok {
		return nil
	}
	st, err := status(ctx, h, "", id)
	if err != nil {
		return err
	}
	if st == "done" {
		return nil // applied; its event is graded by events.command-complete
	}
	h.MarkDecisive()
	return grader.Failf("a todo.complete command that arrived while Postgres was unreachable was never applied (15 s after Postgres came back todo %s is %q): it was acknowledged before its change was committed, or dead-lettered", id, st).
		WithHint("acknowledge a command only after its transaction commits; when a dependency fails, nack it with requeue (or retry) instead of rejecting or acknowledging it")
}

// doneInAPI polls GET /todos/{id} until its status is done or wait passes.
func doneInAPI(ctx context.Context, h *harness.H, id string, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := status(ctx, h, "", id)
		if err != nil || st == "done" {
			return st == "done", err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
