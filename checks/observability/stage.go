// Package observability is stage 9 of the tasks track: liveness and
// readiness endpoints, JSON access logs with request ids and trace ids,
// and Prometheus metrics (STAGES.md §9).
//
// The logging checks read the service's own output from the moment the
// check starts (harness.OutputReader): every line that parses as a JSON
// object is a log line. Each request they send carries its own
// X-Request-ID, which is how a line is tied to its request.
//
// The metrics checks read the counters, send their requests one after
// another, and poll /metrics for up to 2 s until the series they used
// moved by exactly what they sent.
//
// Readiness under a failing dependency (Postgres down -> 503, Redis or
// RabbitMQ down -> named in checks while still 200, all "ok" again once
// back) needs the fault proxy in the harness; those checks join this stage
// with it.
package observability

import (
	_ "embed"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// logTimeout covers a few requests and the wait for their lines.
const logTimeout = 20 * time.Second

// Stage is the observability stage.
var Stage = grader.Stage{
	ID:    "observability",
	Title: "Observability: health, logs, request ids, metrics",
	Spec:  spec,
	Checks: []grader.Check{
		{ID: "observability.live", Title: "GET /health/live answers 200", Points: 1,
			Skills: []string{skills.HealthChecks}, Run: live},
		{ID: "observability.ready", Title: "GET /health/ready answers 200 with status \"ok\" and an \"ok\" entry per dependency", Points: 2,
			Skills: []string{skills.HealthChecks, skills.JSON}, Run: ready},
		{ID: "observability.health-methods", Title: "Other methods on /health/live and /health/ready answer 405 with Allow", Points: 1,
			Skills: []string{skills.HealthChecks, skills.HTTP}, Run: healthMethods},
		{ID: "observability.access-log", Title: "Each /todos request has exactly one JSON access line with its request id, method, path, status, duration, time and level", Points: 3,
			Skills: []string{skills.Logging}, Timeout: logTimeout, Run: accessLog},
		{ID: "observability.no-secrets", Title: "No password, token or Authorization value in the service's output", Points: 3,
			Skills: []string{skills.Logging, skills.OWASP}, Timeout: logTimeout, Run: noSecrets},
		{ID: "observability.request-id-echo", Title: "An incoming X-Request-ID is echoed on the response and logged", Points: 2,
			Skills: []string{skills.Observability, skills.Logging}, Timeout: logTimeout, Run: requestIDEcho},
		{ID: "observability.request-id-generated", Title: "Without X-Request-ID the service makes a unique one, returns it and logs it", Points: 2,
			Skills: []string{skills.Observability, skills.Logging}, Timeout: logTimeout, Run: requestIDGenerated},
		{ID: "observability.trace-id", Title: "A valid traceparent's trace id is on the request's log lines; an invalid one is not taken", Points: 2,
			Skills: []string{skills.Observability, skills.Logging}, Timeout: logTimeout, Run: traceID},
		{ID: "observability.metrics-format", Title: "GET /metrics is Prometheus text with the counter http_requests_total and the histogram http_request_duration_seconds", Points: 2,
			Skills: []string{skills.Metrics}, Run: metricsFormat},
		{ID: "observability.metrics-count", Title: "http_requests_total moves by exactly the requests sent, per method, route and status", Points: 3,
			Skills: []string{skills.Metrics}, Run: metricsCount},
		{ID: "observability.metrics-routes", Title: "Metrics label routes by template (/todos/{id}), never by a raw id", Points: 2,
			Skills: []string{skills.Metrics}, Run: metricsRoutes},
		{ID: "observability.metrics-duration", Title: "http_request_duration_seconds observes every request's duration in seconds", Points: 2,
			Skills: []string{skills.Metrics}, Run: metricsDuration},
	},
}
