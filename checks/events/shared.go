package events

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/broker"
	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// The broker's names (STAGES §8).
const (
	eventsExchange = broker.EventsExchange
	dlxExchange    = "tasks.dlx"
	commandsQueue  = "tasks.commands"
	dlqQueue       = "tasks.commands.dlq"
)

// eventWait bounds how long a check waits for an event it caused.
const eventWait = 10 * time.Second

// event is a message the grader's own queue received from tasks.events.
type event struct {
	Msg        harness.Message
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt string         `json:"occurredAt"`
	Data       map[string]any `json:"data"`
	bad        string         // why the body is not an event ("" when it is)
}

// todoID is the id of the todo the event is about ("" when none).
func (e *event) todoID() string { return idText(e.Data["id"]) }

// idText is an id as text, whether the JSON had a string or a number.
func idText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

func parseEvent(m harness.Message) event {
	e := event{Msg: m}
	if err := json.Unmarshal(m.Body, &e); err != nil {
		e.bad = "the body is not a JSON object"
	}
	return e
}

// listener is the grader's own queue bound to tasks.events with "#".
type listener struct {
	h     *harness.H
	a     *harness.AMQP
	queue string
	got   []event
}

// listen binds a queue of the grader's (exclusive: gone when the check
// ends) to tasks.events. A missing exchange is a failure of this check's
// precondition, graded by events.topology.
func listen(ctx context.Context, h *harness.H) (*listener, error) {
	if !h.Has("rabbitmq") {
		return nil, grader.Errorf("the run has no RabbitMQ")
	}
	a, queue, err := broker.BindEvents(ctx, h, "no event")
	if err != nil {
		return nil, err
	}
	return &listener{h: h, a: a, queue: queue}, nil
}

// until reads events until done says so or wait has passed; it reports
// whether done was satisfied.
func (l *listener) until(ctx context.Context, wait time.Duration, done func([]event) bool) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		if done(l.got) {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		msgs, err := l.a.Consume(ctx, l.queue, 50, min(left, 500*time.Millisecond))
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			l.got = append(l.got, parseEvent(m))
		}
	}
}

// about lists the events about one todo, first deliveries only (a
// duplicate with the same message_id is dropped), in arrival order.
func about(evs []event, id string, types ...string) []event {
	var out []event
	seen := map[string]bool{}
	for _, e := range evs {
		if e.todoID() != id || (len(types) > 0 && !contains(types, e.Type)) {
			continue
		}
		key := e.Msg.MessageID
		if key == "" {
			key = e.ID
		}
		if key != "" && seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, e)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitFor waits for n first deliveries of the given types about todo id.
func (l *listener) waitFor(ctx context.Context, id string, n int, types ...string) ([]event, error) {
	_, err := l.until(ctx, eventWait, func(evs []event) bool { return len(about(evs, id, types...)) >= n })
	return about(l.got, id, types...), err
}

// noEvent is the failure when an event never came.
func noEvent(what, id string) error {
	return grader.Failf("no %s event about todo %s reached the exchange %s within %s", what, id, eventsExchange, eventWait).
		WithHint("after the change commits, publish one message to the topic exchange tasks.events with the routing key %s and the todo in data (an outbox table and a relay keep it from being lost)", what)
}

// setup is a precondition along the way: when it fails, the check is
// blocked by the check that grades it.
func setup(err error, by, what string) error {
	if err == nil {
		return nil
	}
	if f, ok := err.(*grader.Failure); ok {
		return grader.Blockedf(by, "%s: %s", what, f.Message)
	}
	return err
}

// create makes a todo as the user with token tok ("" is the run's user).
func create(ctx context.Context, h *harness.H, tok string) (map[string]any, string, error) {
	body := map[string]any{"title": expect.Title(h.Rand), "description": "ev " + expect.Word(h.Rand, 10)}
	_, t, err := todos.Create[map[string]any](ctx, h, tok, body)
	if err != nil {
		return nil, "", setup(err, "rest.create", "creating a todo for this check")
	}
	id := idText(t["id"])
	if id == "" {
		return nil, "", grader.Blockedf("rest.create", "POST /todos returned no id")
	}
	return t, id, nil
}

// send sends r and fails unless the status is want.
func send(ctx context.Context, h *harness.H, r harness.Request, want int) (map[string]any, error) {
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, expect.Transport(err)
	}
	if err := expect.Status(resp, want); err != nil {
		return nil, err
	}
	if len(resp.Body) == 0 || want == http.StatusNoContent {
		return nil, nil
	}
	var v map[string]any
	_ = json.Unmarshal(resp.Body, &v)
	return v, nil
}

// checkEnvelope grades what every event carries: a JSON body, the
// routing key equal to its type, a data object.
func checkEnvelope(e event, typ string) error {
	m := e.Msg
	switch {
	case e.bad != "":
		return grader.Failf("an event about the todo arrived, but %s: %s", e.bad, harness.Shorten(string(m.Body), 300)).
			WithHint(`publish {"id", "type", "occurredAt", "data"} as JSON`)
	case m.RoutingKey != typ:
		return grader.Failf("the %s event was published with routing key %q, expected %q", typ, m.RoutingKey, typ).
			WithHint("use the event's type as the routing key, so consumers can bind to todo.* or todo.created")
	case e.Type != typ:
		return grader.Failf("the event published with routing key %s has \"type\": %q, expected %q", m.RoutingKey, e.Type, typ)
	case e.Data == nil:
		return grader.Failf("the %s event has no \"data\" object", typ)
	}
	return nil
}

// checkProperties grades the message properties and the body's envelope:
// persistence, the content type, message_id equal to the body's id, the
// id a UUID, occurredAt a time (events.created grades them).
func checkProperties(e event, typ string) error {
	m := e.Msg
	switch {
	case !m.Persistent:
		return grader.Failf("the %s event was published with delivery mode 1 (transient), expected 2 (persistent)", typ).
			WithHint("set delivery_mode 2 (persistent) so that a broker restart does not lose queued events")
	}
	if mt, _, err := mime.ParseMediaType(m.ContentType); err != nil || mt != "application/json" {
		return grader.Failf("the %s event's content_type is %q, expected application/json", typ, m.ContentType).
			WithHint("set the content_type property of the message to application/json")
	}
	if !expect.IsUUID(e.ID) {
		return grader.Failf("the %s event's \"id\" is %q, expected a UUID", typ, e.ID).
			WithHint("give every event a new UUID as its id, so consumers can drop duplicates")
	}
	if m.MessageID != e.ID {
		return grader.Failf("the %s event's message_id property is %q, expected the body's id %q", typ, m.MessageID, e.ID).
			WithHint("set the message_id property to the event's id: consumers deduplicate by it")
	}
	if _, err := expect.Time(e.OccurredAt); err != nil {
		return grader.Failf("the %s event's \"occurredAt\": %v", typ, err)
	}
	return nil
}

// sameAsAPI compares the event's data with the todo as the API showed it,
// plus ownerId.
func sameAsAPI(e event, api map[string]any, owner string) error {
	var diffs []string
	for k, v := range api {
		if fmt.Sprint(e.Data[k]) != fmt.Sprint(v) {
			diffs = append(diffs, fmt.Sprintf("data.%s: expected %s (as the API answered), got %s", k, expect.Describe(v), expect.Describe(e.Data[k])))
		}
	}
	if owner != "" && idText(e.Data["ownerId"]) != owner {
		diffs = append(diffs, fmt.Sprintf("data.ownerId: expected %q (the user's id), got %s", owner, expect.Describe(e.Data["ownerId"])))
	}
	if len(diffs) > 0 {
		return grader.Failf("the %s event's data is not the todo as the API shows it:\n  %s", e.Type, strings.Join(diffs, "\n  ")).
			WithHint("put the todo exactly as the API returned it in data, plus ownerId, read in the same transaction as the change")
	}
	return nil
}

// userID is the id of the run's user (the token's sub).
func userID(ctx context.Context, h *harness.H) (string, error) {
	if !h.Auth {
		return "", nil
	}
	u, err := h.User(ctx)
	if err != nil {
		return "", grader.Blockedf("auth.register-login", "registering a user: %v", err)
	}
	return u.ID, nil
}
