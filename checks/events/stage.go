// Package events is stage 8 of the tasks track: the service publishes an
// event for every change of a todo to RabbitMQ (through an outbox, so that
// none is lost while the broker is away), applies commands from a queue
// once each, dead-letters what it cannot apply, and delivers signed
// webhooks with retries.
//
// The grader reads the broker directly (its own queue bound to
// tasks.events, the dead-letter queue, queue arguments through the
// management API), takes the broker and Postgres away through its fault
// proxy, and runs the webhook receiver itself.
package events

import (
	_ "embed"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// What the checks look into themselves (grader.Check.Needs).
var (
	needsBroker   = []grader.Service{grader.RabbitMQ}
	needsBrokerPG = []grader.Service{grader.RabbitMQ, grader.Postgres}
)

const (
	eventTimeout = 30 * time.Second
	hookTimeout  = 45 * time.Second
)

// Stage is the events stage.
var Stage = grader.Stage{
	ID:       "events",
	Title:    "Events, commands and webhooks",
	Spec:     spec,
	Services: []grader.Service{grader.Postgres, grader.Redis, grader.RabbitMQ},
	Env: func(r *rand.Rand) map[string]string {
		return map[string]string{
			TimeoutVar:   strconv.Itoa(800 + 100*r.IntN(8)), // 800–1500 ms
			RetryBaseVar: strconv.Itoa(300 + 50*r.IntN(5)),  // 300–500 ms
			AllowVar:     grader.ServiceHost + ":" + theReceiver().port,
		}
	},
	Checks: []grader.Check{
		{ID: "events.topology", Title: "Exchanges, the commands queue with its dead-letter exchange, and the DLQ are declared", Points: 2,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: topologyDeclared},
		{ID: "events.created", Title: "A create publishes todo.created: persistent JSON, message_id = id, the todo as the API shows it", Points: 3,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: createdEvent},
		{ID: "events.updated", Title: "PUT and PATCH publish todo.updated with the todo after the change", Points: 2,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: updatedEvents},
		{ID: "events.deleted", Title: "DELETE publishes todo.deleted", Points: 1,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: deletedEvent},
		{ID: "events.order", Title: "The events of one todo arrive in the order of its changes", Points: 2,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: eventsInOrder},
		{ID: "events.no-event-on-error", Title: "Requests that fail (400, 401, 403, 404) publish no event", Points: 2,
			Skills: []string{skills.MessageBrokers}, Needs: needsBroker, Timeout: eventTimeout, Run: noEventOnError},
		{ID: "events.outbox", Title: "With the broker down the API answers as usual, and no event is lost", Points: 4,
			Skills: []string{skills.MessageBrokers, skills.AsyncWork}, Needs: needsBroker, Timeout: 45 * time.Second, Run: outboxSurvives},
		{ID: "events.command-complete", Title: "A todo.complete command sets the todo done, with one todo.updated event", Points: 3,
			Skills: []string{skills.AsyncWork}, Needs: needsBroker, Timeout: eventTimeout, Run: commandCompletes},
		{ID: "events.command-idempotent", Title: "A command repeated with the same commandId changes nothing", Points: 3,
			Skills: []string{skills.AsyncWork, skills.Idempotency}, Needs: needsBroker, Timeout: 45 * time.Second, Run: commandIdempotent},
		{ID: "events.poison", Title: "Commands that cannot apply are dead-lettered and the consumer keeps going", Points: 3,
			Skills: []string{skills.AsyncWork}, Needs: needsBroker, Timeout: 45 * time.Second, Run: poisonDeadLettered},
		{ID: "events.command-durable", Title: "A command that meets Postgres down is applied once it is back, not lost", Points: 3,
			Skills: []string{skills.AsyncWork, skills.Idempotency}, Needs: needsBrokerPG, Timeout: 45 * time.Second, Run: commandDurable},
		{ID: "events.webhook-register", Title: "POST /webhooks answers 201 {id, secret}, 400 with errors for bad input", Points: 2,
			Skills: []string{skills.Webhooks}, Timeout: eventTimeout, Run: webhookRegistration},
		{ID: "events.webhook-delivery", Title: "Webhooks arrive within 2 s, signed with HMAC-SHA256 over timestamp and body", Points: 3,
			Skills: []string{skills.Webhooks}, Timeout: eventTimeout, Run: webhookDelivered},
		{ID: "events.webhook-retries", Title: "Failed webhook attempts are retried with growing delays, redirects not followed", Points: 3,
			Skills: []string{skills.Webhooks}, Timeout: hookTimeout, Run: webhookRetried},
		{ID: "events.webhook-isolation", Title: "Other users' events never reach a user's webhook", Points: 2,
			Skills: []string{skills.Webhooks, skills.Authorization}, Timeout: eventTimeout, Run: webhookIsolated},
		{ID: "events.traceparent", Title: "A request's trace id travels to its event and its webhook", Points: 2,
			Skills: []string{skills.Tracing}, Needs: needsBroker, Timeout: eventTimeout, Run: traceCarried},
	},
}
