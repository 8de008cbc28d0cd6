package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// topologyDeclared: the exchanges exist with their types and durability
// (a re-declaration with the expected properties is refused when they
// differ), tasks.commands dead-letters to tasks.dlx (read through the
// management API), and a message sent to tasks.dlx lands in the DLQ.
func topologyDeclared(ctx context.Context, h *harness.H) error {
	a, err := h.AMQP(ctx)
	if err != nil {
		return err
	}
	for _, x := range []struct{ name, kind string }{{eventsExchange, "topic"}, {dlxExchange, "fanout"}} {
		ok, err := a.ExchangeExists(ctx, x.name)
		if err != nil {
			return err
		}
		if !ok {
			h.MarkDecisive()
			return grader.Failf("the exchange %s does not exist in the service's vhost", x.name).
				WithHint("declare it at start-up: a durable %s exchange named %s", x.kind, x.name)
		}
		if err := a.DeclareExchange(ctx, x.name, x.kind, harness.ExchangeOptions{Durable: true}); err != nil {
			h.MarkDecisive()
			return grader.Failf("the exchange %s exists but is not a durable %s exchange: the broker refused the same declaration with those properties", x.name, x.kind).
				WithHint("declare %s as type %s, durable, not auto-delete; delete the old one (rabbitmqadmin delete exchange name=%s) if you change it", x.name, x.kind, x.name)
		}
	}
	for _, q := range []string{commandsQueue, dlqQueue} {
		if _, ok, err := a.InspectQueue(ctx, q); err != nil {
			return err
		} else if !ok {
			h.MarkDecisive()
			return grader.Failf("the queue %s does not exist in the service's vhost", q).
				WithHint("declare the durable queues tasks.commands (with x-dead-letter-exchange: tasks.dlx) and tasks.commands.dlq (bound to tasks.dlx) at start-up")
		}
	}
	info, err := queueInfo(ctx, a, commandsQueue)
	if err != nil {
		return err
	}
	if !info.Durable {
		return grader.Failf("the queue %s is not durable", commandsQueue).WithHint("declare it durable so that commands survive a broker restart")
	}
	if dlx := fmt.Sprint(info.Arguments["x-dead-letter-exchange"]); dlx != dlxExchange {
		h.MarkDecisive()
		return grader.Failf("the queue %s has x-dead-letter-exchange %s, expected %q", commandsQueue, describeArg(info.Arguments["x-dead-letter-exchange"]), dlxExchange).
			WithHint("declare tasks.commands with the argument x-dead-letter-exchange = tasks.dlx, so that rejected commands go to the dead-letter queue (an existing queue keeps its arguments: delete it first)")
	}
	dinfo, err := queueInfo(ctx, a, dlqQueue)
	if err != nil {
		return err
	}
	if !dinfo.Durable {
		return grader.Failf("the queue %s is not durable", dlqQueue).WithHint("declare tasks.commands.dlq durable: dead letters are kept for a person to look at")
	}
	probe := fmt.Sprintf("grader-probe-%08x", h.Rand.Uint32())
	if err := a.Publish(ctx, dlxExchange, commandsQueue, harness.Message{MessageID: probe, ContentType: "text/plain", Body: []byte("dead-letter routing probe")}); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m, err := a.Get(ctx, dlqQueue, time.Until(deadline))
		if err != nil {
			return err
		}
		if m == nil {
			break
		}
		if m.MessageID == probe {
			return nil
		}
	}
	h.MarkDecisive()
	return grader.Failf("a message published to %s did not reach %s within 5 s: the queue is not bound to the exchange", dlxExchange, dlqQueue).
		WithHint("bind tasks.commands.dlq to tasks.dlx at start-up (a fanout exchange ignores the routing key)")
}

func describeArg(v any) string {
	if v == nil {
		return "(not set)"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

// queueInfo reads a queue the broker says exists through the management
// API, which may take a few seconds to list a new queue.
func queueInfo(ctx context.Context, a *harness.AMQP, q string) (harness.QueueInfo, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, found, err := a.QueueInfo(ctx, q)
		if errors.Is(err, harness.ErrNoManagement) {
			return info, grader.Skipf("reading a queue's arguments needs the RabbitMQ management API: pass --amqp-management-url http://user:pass@host:15672")
		}
		if err != nil {
			return info, grader.Errorf("reading %s through the management API: %v", q, err)
		}
		if found {
			return info, nil
		}
		if time.Now().After(deadline) {
			return info, grader.Errorf("the broker has the queue %s, but its management API did not list it within 10 s", q)
		}
		select {
		case <-ctx.Done():
			return info, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
