// Package resilience is stage 10 of the tasks track: dependencies fail,
// the service does not (STAGES.md §10). The grader takes Postgres, Redis
// and RabbitMQ away from the service at its own fault proxy (down, slow,
// reset) — the machine's servers keep running for everyone else — and
// sends SIGTERM to the run command for the graceful-shutdown check.
//
// Postgres faults are judged with reads no cache can answer: lists, and
// todos never read before.
package resilience

import (
	_ "embed"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

const faultTimeout = 40 * time.Second

var needsRedis = []grader.Service{grader.Redis}

// Stage is the resilience stage.
var Stage = grader.Stage{
	ID:    "resilience",
	Title: "Resilience: dependencies fail, the service does not",
	Spec:  spec,
	Checks: []grader.Check{
		{ID: "resilience.redis-down-limiter", Title: "With Redis down the rate limiter lets requests through (fails open)", Points: 2,
			Skills: []string{skills.Degradation, skills.RateLimiting}, Timeout: faultTimeout, Run: redisDownLimiter},
		{ID: "resilience.redis-down-reads", Title: "With Redis down GET /todos/{id} answers 200 from Postgres within 2 s", Points: 3,
			Skills: []string{skills.Degradation, skills.RedisCache}, Timeout: faultTimeout, Run: redisDownReads},
		{ID: "resilience.redis-down-writes", Title: "With Redis down creates, updates and deletes succeed", Points: 3,
			Skills: []string{skills.Degradation, skills.RedisCache}, Timeout: faultTimeout, Run: redisDownWrites},
		{ID: "resilience.redis-recovers", Title: "Within 5 s of Redis coming back caching resumes, without a restart", Points: 2,
			Skills: []string{skills.Degradation, skills.RedisCache}, Needs: needsRedis, Timeout: faultTimeout, Run: redisRecovers},
		{ID: "resilience.postgres-down", Title: "With Postgres down requests answer 503 JSON with a message and Retry-After within 3 s", Points: 3,
			Skills: []string{skills.Degradation, skills.Postgres}, Timeout: faultTimeout, Run: postgresDown},
		{ID: "resilience.postgres-recovers", Title: "Within 5 s of Postgres coming back the service answers normally, without a restart", Points: 3,
			Skills: []string{skills.Degradation, skills.Postgres}, Timeout: faultTimeout, Run: postgresRecovers},
		{ID: "resilience.reset", Title: "After every database connection is reset the service answers normally within 1 s", Points: 2,
			Skills: []string{skills.Degradation, skills.Postgres}, Timeout: faultTimeout, Run: connectionsReset},
		{ID: "resilience.graceful-shutdown", Title: "On SIGTERM the request in flight completes, the process exits 0 within 10 s, and its event is not lost", Points: 4,
			Skills: []string{skills.GracefulShutdown, skills.Deployment}, Timeout: 60 * time.Second, Run: gracefulShutdown},
		{ID: "resilience.postgres-slow", Title: "With Postgres slow the service answers within 3 s (503 or 504), and normally again once it is not (no leaked pool)", Points: 3,
			Skills: []string{skills.Degradation, skills.Postgres, skills.Concurrency}, Timeout: faultTimeout, Run: postgresSlow},
	},
}
