// Package http is stage 1 of the tasks track: HTTP basics. The service
// listens on $PORT and answers GET /health; the checks look at status codes,
// headers and bodies as a client would, including HEAD, 404, 405 and a burst
// of concurrent requests.
package http

import (
	_ "embed"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// Stage is the http stage.
var Stage = grader.Stage{
	ID:    "http",
	Title: "HTTP basics",
	Spec:  spec,
	Checks: []grader.Check{
		{ID: "http.listens", Title: "The service listens on $PORT and answers HTTP", Points: 2,
			Skills: []string{skills.Deployment, skills.HTTP}, Run: listens},
		{ID: "http.health", Title: "GET /health answers 200 with JSON {\"status\":\"ok\"}", Points: 2,
			Skills: []string{skills.HTTP, skills.JSON}, Run: health},
		{ID: "http.not-found", Title: "An unknown path answers 404 with a JSON message", Points: 2,
			Skills: []string{skills.HTTP, skills.JSON}, Run: notFound},
		{ID: "http.method-not-allowed", Title: "A wrong method on /health answers 405 with an Allow header", Points: 2,
			Skills: []string{skills.HTTP}, Run: methodNotAllowed},
		{ID: "http.head", Title: "HEAD /health answers 200 without a body", Points: 1,
			Skills: []string{skills.HTTP}, Run: head},
		{ID: "http.concurrent", Title: "20 concurrent requests are all answered", Points: 2,
			Skills: []string{skills.Concurrency, skills.HTTP}, Timeout: 30 * time.Second, Run: concurrent},
	},
}
