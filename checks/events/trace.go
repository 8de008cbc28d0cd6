package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// traceID is the trace-id part of a traceparent ("" when it is not one).
func traceID(tp string) string {
	p := strings.Split(strings.TrimSpace(tp), "-")
	if len(p) != 4 || len(p[1]) != 32 {
		return ""
	}
	return strings.ToLower(p[1])
}

func hexOf(h *harness.H, n int) string {
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%016x", h.Rand.Uint64())
	}
	return b.String()[:n]
}

// traceCarried: a valid traceparent's trace id reaches the event's AMQP
// header and the webhook's HTTP header; an invalid one is not passed on.
func traceCarried(ctx context.Context, h *harness.H) error {
	r, err := needReceiver(h)
	if err != nil {
		return err
	}
	l, err := listen(ctx, h)
	if err != nil {
		return err
	}
	url, box := r.newInbox(h.ServiceHost(), h.Rand, nil)
	if _, err := register(ctx, h, "", url, "todo.created"); err != nil {
		return err
	}
	tid := hexOf(h, 32)
	tp := "00-" + tid + "-" + hexOf(h, 16) + "-01"
	post := func(header string) (string, error) {
		hd := http.Header{}
		hd.Set("traceparent", header)
		v, err := send(ctx, h, harness.Request{Method: http.MethodPost, Path: "/todos", Header: hd, JSON: map[string]any{"title": expect.Title(h.Rand)}}, http.StatusCreated)
		if err != nil {
			return "", setup(err, "rest.create", "POST /todos with a traceparent")
		}
		return idText(v["id"]), nil
	}
	id, err := post(tp)
	if err != nil {
		return err
	}
	evs, err := l.waitFor(ctx, id, 1, "todo.created")
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return grader.Blockedf("events.created", "the todo.created event never came")
	}
	got := fmt.Sprint(evs[0].Msg.Headers["traceparent"])
	if traceID(got) != tid {
		h.MarkDecisive()
		return grader.Failf("POST /todos carried traceparent %s; its todo.created event has the AMQP header traceparent %s, expected trace id %s", tp, describeArg(evs[0].Msg.Headers["traceparent"]), tid).
			WithHint("keep the request's traceparent with the event (e.g. in the outbox row) and publish it as the message header traceparent, with the same trace id")
	}
	ds := box.wait(ctx, firstAttempt, func(ds []delivery) bool {
		for _, d := range ds {
			var e event
			if json.Unmarshal(d.Body, &e) == nil && e.todoID() == id {
				return true
			}
		}
		return false
	})
	found := false
	for _, d := range ds {
		var e event
		if json.Unmarshal(d.Body, &e) == nil && e.todoID() == id {
			found = true
			if traceID(d.Header.Get("traceparent")) != tid {
				return grader.Failf("the webhook request of that event has the header traceparent %q, expected trace id %s", d.Header.Get("traceparent"), tid).
					WithHint("send the event's traceparent as an HTTP header on its webhook requests")
			}
		}
	}
	if !found {
		return grader.Blockedf("events.webhook-delivery", "the webhook request of the todo.created event never came")
	}
	// Invalid: an all-zero trace id, and an unknown version.
	for _, bad := range []string{"00-" + strings.Repeat("0", 32) + "-" + hexOf(h, 16) + "-01", "ff-" + hexOf(h, 32) + "-" + hexOf(h, 16) + "-01"} {
		id, err := post(bad)
		if err != nil {
			return err
		}
		evs, err := l.waitFor(ctx, id, 1, "todo.created")
		if err != nil {
			return err
		}
		if len(evs) > 0 && traceID(fmt.Sprint(evs[0].Msg.Headers["traceparent"])) == traceID(bad) {
			return grader.Failf("POST /todos carried the invalid traceparent %s, and its event passed that trace id on", bad).
				WithHint("check a traceparent (version 00, 32 and 16 lower-case hex digits, not all zeros) and ignore an invalid one: start a new trace instead")
		}
	}
	return nil
}
