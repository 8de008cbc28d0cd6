// Package broker holds what the checks that read a service's events share:
// a queue of the grader's own, bound to the events exchange.
package broker

import (
	"context"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// EventsExchange is where the service publishes its events (STAGES.md §8).
const EventsExchange = "tasks.events"

// TopologyCheck grades whether the exchange exists.
const TopologyCheck = "events.topology"

// BindEvents declares an exclusive queue of the grader's (gone when the
// check's connection closes) bound to every routing key of EventsExchange,
// and returns the client and the queue's name. A missing exchange blocks
// the check by TopologyCheck; what says what could then not be read.
func BindEvents(ctx context.Context, h *harness.H, what string) (*harness.AMQP, string, error) {
	a, err := h.AMQP(ctx)
	if err != nil {
		return nil, "", err
	}
	ok, err := a.ExchangeExists(ctx, EventsExchange)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", grader.Blockedf(TopologyCheck, "the exchange %s does not exist in the service's vhost, so %s cannot be read", EventsExchange, what)
	}
	q, err := a.DeclareQueue(ctx, "", harness.QueueOptions{Exclusive: true})
	if err != nil {
		return nil, "", err
	}
	if err := a.Bind(ctx, q.Name, EventsExchange, "#", nil); err != nil {
		return nil, "", err
	}
	return a, q.Name, nil
}
