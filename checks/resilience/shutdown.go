package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/broker"
	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const (
	shutdownSlow  = 300 * time.Millisecond // Postgres held back while the request is in flight
	inFlightAfter = 300 * time.Millisecond // SIGTERM this long after the request left
	exitWithin    = 10 * time.Second
	eventWithin   = 10 * time.Second
	eventsExch    = broker.EventsExchange
)

// gracefulShutdown: with Postgres slowed by 300 ms, a POST /todos is in
// flight when the run command's process group gets SIGTERM: the request
// completes with 201 and the todo, the process exits 0 within 10 s, and
// the todo.created event reaches tasks.events before the exit or within
// 10 s of the next start.
func gracefulShutdown(ctx context.Context, h *harness.H) error {
	term, ok := h.Service.(harness.Terminator)
	if !ok {
		return grader.Skipf("this check sends SIGTERM to the run command itself, which the grader does not do for a service in a container")
	}
	// Whatever happens, the next check meets a running service: one that
	// still ran after SIGTERM is stuck in its shutdown (its listener most
	// likely closed) and is restarted too, or the checks after this one
	// would fail for this one's cause.
	var stuck bool
	h.Cleanup(func(ctx context.Context) error {
		if stuck || h.Service.Exited() != nil {
			return h.Service.Restart(ctx)
		}
		return nil
	})
	var ev *eventReader
	if h.Has("rabbitmq") {
		r, err := readEvents(ctx, h)
		if err != nil {
			return err
		}
		ev = r
	}
	// The service serves before the fault (it may still be recovering
	// from an earlier check's outage).
	if _, _, err := newTodo(ctx, h); err != nil {
		return err
	}
	if err := h.Fault("postgres").Slow(ctx, shutdownSlow); err != nil {
		return err
	}
	type answer struct {
		resp *harness.Response
		err  error
	}
	done := make(chan answer, 1)
	title := expect.Title(h.Rand)
	go func() {
		resp, err := h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": title}})
		done <- answer{resp, err}
	}()
	// The request has no sign of its arrival that the grader could wait
	// for; with every database round trip 300 ms late it is still being
	// served well after this.
	select {
	case a := <-done:
		if a.err != nil {
			return expect.Transport(a.err)
		}
		return grader.Errorf("POST /todos answered %s within %s although Postgres answered %s late: the request was no longer in flight at SIGTERM", expect.StatusText(a.resp.Status), inFlightAfter, shutdownSlow)
	case <-time.After(inFlightAfter):
	}
	h.Record("signal", "kill -TERM -<pgid of the run command>", "SIGTERM sent to the service's process group with POST /todos in flight")
	code, ended, err := term.Terminate(ctx, exitWithin)
	if err != nil {
		return grader.Errorf("sending SIGTERM to the service: %v", err)
	}
	stuck = !ended
	a := <-done
	if a.err != nil {
		return grader.Failf("POST /todos, in flight at SIGTERM, got no answer: %v", expect.Transport(a.err)).
			WithHint("on SIGTERM stop accepting new connections and let the requests in flight finish (http.Server.Shutdown, server.close(callback), uvicorn's graceful timeout) before exiting")
	}
	if err := todos.Created(a.resp); err != nil {
		a.resp.MarkDecisive()
		return grader.Failf("POST /todos, in flight at SIGTERM, did not complete normally: %v", err).
			WithHint("let the requests in flight finish with their usual answer before closing the database pool and exiting")
	}
	if !ended {
		return grader.Failf("the service still ran %s after SIGTERM", exitWithin).
			WithHint("after the requests in flight are done and the outbox is drained, close the pools and return from main; a forgotten goroutine, timer or open consumer keeps the process alive until it is killed")
	}
	h.Record("exit", "wait for the service's process", "exited with code "+itoaCode(code))
	if code != 0 {
		return grader.Failf("after SIGTERM the service exited with code %d; expected 0", code).
			WithHint("a shutdown asked for is not a failure: exit 0 once it is done (http.ErrServerClosed from ListenAndServe is the normal end, not an error)")
	}
	if ev == nil {
		return nil
	}
	var created map[string]any
	_ = json.Unmarshal(a.resp.Body, &created)
	id := todos.ID(created)
	if ev.has(id) {
		return nil
	}
	if err := h.Fault("postgres").Restore(ctx); err != nil {
		return err
	}
	if err := h.Service.Restart(ctx); err != nil {
		return grader.Errorf("starting the service again after its shutdown: %v", err)
	}
	found, err := until(ctx, eventWithin, func() (bool, error) {
		if err := ev.read(ctx); err != nil {
			return false, err
		}
		return ev.has(id), nil
	})
	if err != nil || found {
		return err
	}
	return grader.Failf("the todo.created event of todo %s (created by the request in flight at SIGTERM) reached %s neither before the exit nor within %s of the next start: it was lost", id, eventsExch, eventWithin).
		WithHint("write the event in the request's transaction (an outbox) and let the relay publish what is left before exiting, or at the next start")
}

func itoaCode(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// eventReader collects the events on the grader's own queue bound to
// tasks.events.
type eventReader struct {
	a     *harness.AMQP
	queue string
	ids   map[string]bool // todo ids with a todo.created event
}

func readEvents(ctx context.Context, h *harness.H) (*eventReader, error) {
	a, queue, err := broker.BindEvents(ctx, h, "the event of the request in flight")
	if err != nil {
		return nil, err
	}
	return &eventReader{a: a, queue: queue, ids: map[string]bool{}}, nil
}

func (r *eventReader) read(ctx context.Context) error {
	msgs, err := r.a.Consume(ctx, r.queue, 50, 300*time.Millisecond)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	for _, m := range msgs {
		var e struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal(m.Body, &e) == nil && e.Type == "todo.created" {
			r.ids[todos.ID(e.Data)] = true
		}
	}
	return nil
}

// has reads what is there and says whether id's todo.created came.
func (r *eventReader) has(id string) bool {
	_ = r.read(context.Background())
	return id != "" && r.ids[id]
}
