// Package checks lists the tracks the grader knows. Each stage lives in its
// own package (checks/http, checks/rest, ...), which declares its checks as
// data and embeds its learner-facing spec.md.
package checks

import (
	"github.com/backend-grader/grader/checks/auth"
	"github.com/backend-grader/grader/checks/caching"
	"github.com/backend-grader/grader/checks/events"
	"github.com/backend-grader/grader/checks/http"
	"github.com/backend-grader/grader/checks/observability"
	"github.com/backend-grader/grader/checks/persistence"
	"github.com/backend-grader/grader/checks/ratelimiting"
	"github.com/backend-grader/grader/checks/rest"
	"github.com/backend-grader/grader/checks/security"
	"github.com/backend-grader/grader/internal/grader"
)

// Tasks is the "tasks" track (STAGES.md): one Tasks API that grows stage by
// stage. The order is the order a learner builds it in.
var Tasks = grader.Track{
	ID: "tasks",
	Stages: []grader.Stage{
		http.Stage,
		rest.Stage,
		persistence.Stage,
		auth.Stage,
		caching.Stage,
		security.Stage,
		ratelimiting.Stage,
		events.Stage,
		observability.Stage,
	},
}
