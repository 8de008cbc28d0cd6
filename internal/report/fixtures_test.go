package report

import (
	"fmt"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
	"github.com/backend-grader/grader/internal/verdict"
)

// Hand-made reports the golden files are built from. Scores are filled in
// by Tally, as in a real run.

func baseReport() *grader.Report {
	return &grader.Report{
		SchemaVersion: grader.SchemaVersion,
		Grader:        grader.GraderInfo{Version: "0.9.0"},
		Submission:    grader.SubmissionInfo{Path: "/home/learner/tasks-api", Run: "go build -o server . && ./server"},
		Track:         "tasks",
		Stage:         "caching",
		Seed:          42,
		Timings:       grader.Timings{ProvisionMs: 2310, BuildMs: 4120, StartMs: 380, ChecksMs: 12940, TotalMs: 19750},
	}
}

// allPassReport: every check passes.
func allPassReport() *grader.Report {
	r := baseReport()
	r.Stage = "rest"
	r.Stages = []grader.StageResult{
		{ID: "http", Title: "HTTP fundamentals", Checks: []grader.CheckResult{
			{ID: "http.health", Title: "Health endpoint answers 200", Status: grader.StatusPass, MaxPoints: 2,
				Skills: []string{skills.HTTP}, DurationMs: 12},
			{ID: "http.port", Title: "Listens on $PORT", Status: grader.StatusPass, MaxPoints: 1,
				Skills: []string{skills.Deployment}, DurationMs: 3},
			{ID: "http.not-found", Title: "Unknown paths answer 404", Status: grader.StatusPass, MaxPoints: 2,
				Skills: []string{skills.HTTP}, DurationMs: 9},
		}},
		{ID: "rest", Title: "A REST resource", Checks: []grader.CheckResult{
			{ID: "rest.create", Title: "POST /tasks creates a task", Status: grader.StatusPass, MaxPoints: 3,
				Skills: []string{skills.RESTDesign, skills.JSON}, DurationMs: 41},
			{ID: "rest.list", Title: "GET /tasks lists tasks", Status: grader.StatusPass, MaxPoints: 2,
				Skills: []string{skills.RESTDesign}, DurationMs: 18},
		}},
	}
	r.Tally()
	return r
}

// mixedReport: passes, failures with HTTP / SQL evidence, an error with
// redis evidence, a skip, notes; evidence with characters every format
// must escape.
func mixedReport() *grader.Report {
	r := baseReport()
	r.Notes = []string{
		"no grader.yaml: found go.mod, running `go build -o server . && ./server`",
		"RabbitMQ vhosts need --amqp-management-url: broker state is shared with other runs",
	}
	r.Stages = []grader.StageResult{
		{ID: "http", Title: "HTTP fundamentals", Checks: []grader.CheckResult{
			{ID: "http.health", Title: "Health endpoint answers 200", Status: grader.StatusPass, MaxPoints: 2,
				Skills: []string{skills.HTTP}, DurationMs: 12},
			{ID: "http.not-found", Title: "Unknown paths answer 404", Status: grader.StatusFail, MaxPoints: 2,
				Skills:  []string{skills.HTTP},
				Message: "GET /no-such-path: expected status 404 Not Found, got 200 OK",
				Hint:    "your router probably has a catch-all route; only known paths should answer, the rest 404",
				Evidence: []verdict.Step{{Kind: "http",
					Command: "curl -i 'http://127.0.0.1:41234/no-such-path'",
					Output:  "HTTP 200 OK\nContent-Type: text/html; charset=utf-8\n\n<html><body>| welcome | ```home```</body></html>"}},
				DurationMs: 7},
		}},
		{ID: "rest", Title: "A REST resource", Checks: []grader.CheckResult{
			{ID: "rest.create", Title: "POST /tasks creates a task", Status: grader.StatusPass, MaxPoints: 3,
				Skills: []string{skills.RESTDesign, skills.JSON}, DurationMs: 41},
			{ID: "rest.persisted", Title: "Created tasks are stored in Postgres", Status: grader.StatusFail, MaxPoints: 3,
				Skills: []string{skills.Postgres},
				Message: "the task created through the API is not in the tasks table:\n" +
					"  -: {title: \"buy milk 3f9a\", done: false}\n  +: (0 rows)",
				Hint: "write to the database given in DATABASE_URL, not to memory: the grader reads the table directly",
				Evidence: []verdict.Step{
					{Kind: "http",
						Command: `curl -i -X POST 'http://127.0.0.1:41234/tasks' -H 'Content-Type: application/json' --data-raw '{"title":"buy milk 3f9a"}'`,
						Output:  "HTTP 201 Created\nContent-Type: application/json\n\n{\"id\":7,\"title\":\"buy milk 3f9a\",\"done\":false}"},
					{Kind: "sql",
						Command: "SELECT id, title, done FROM tasks WHERE title = $1  -- $1=buy milk 3f9a",
						Output:  "(0 rows)"},
				},
				DurationMs: 56},
		}},
		{ID: "caching", Title: "Caching with Redis", Checks: []grader.CheckResult{
			{ID: "caching.hit", Title: "Repeated reads come from the cache", Status: grader.StatusPass, MaxPoints: 2,
				Skills: []string{skills.RedisCache}, DurationMs: 120},
			{ID: "caching.ttl", Title: "Cached entries expire after CACHE_TTL_SECONDS", Status: grader.StatusError, MaxPoints: 2,
				Skills:  []string{skills.RedisCache},
				Message: "timed out after 30s: the service did not answer in time",
				Evidence: []verdict.Step{
					{Kind: "redis", Command: "TTL tasks:7", Output: "(integer) -1"},
					{Kind: "http", Command: "curl -i 'http://127.0.0.1:41234/tasks/7'",
						Output: "(no response: timed out waiting for the response)\x1b[2J"},
				},
				DurationMs: 30002},
			{ID: "caching.redis-down", Title: "Survives Redis going away", Status: grader.StatusSkip, MaxPoints: 2,
				Skills:  []string{skills.RedisCache},
				Message: "fault injection needs the grader's own service containers (--services docker)"},
		}},
	}
	r.Tally()
	return r
}

// problemReport: the project did not build; nothing ran.
func problemReport() *grader.Report {
	r := baseReport()
	r.Stage = "rest"
	var log []string
	for i := 1; i <= 25; i++ {
		log = append(log, fmt.Sprintf("go: downloading example.com/mod%02d v1.0.0", i))
	}
	log = append(log, "./main.go:14:2: undefined: handleTasks")
	r.Problem = &grader.Problem{
		Kind:    "build",
		Message: "the build command `go build -o server .` failed (exit status 1)",
		Hint:    "run the build command yourself in the project directory and fix the first error it prints",
		Log:     strings.Join(log, "\n") + "\n",
	}
	r.Timings = grader.Timings{ProvisionMs: 1900, BuildMs: 3120, TotalMs: 5020}
	notRun := "not run: " + r.Problem.Message
	r.Stages = []grader.StageResult{
		{ID: "http", Title: "HTTP fundamentals", Checks: []grader.CheckResult{
			{ID: "http.health", Title: "Health endpoint answers 200", Status: grader.StatusError, MaxPoints: 2,
				Skills: []string{skills.HTTP}, Message: notRun, NotRun: true},
			{ID: "http.port", Title: "Listens on $PORT", Status: grader.StatusError, MaxPoints: 1,
				Skills: []string{skills.Deployment}, Message: notRun, NotRun: true},
		}},
		{ID: "rest", Title: "A REST resource", Checks: []grader.CheckResult{
			{ID: "rest.create", Title: "POST /tasks creates a task", Status: grader.StatusError, MaxPoints: 3,
				Skills: []string{skills.RESTDesign, skills.JSON}, Message: notRun, NotRun: true},
		}},
	}
	r.Tally()
	return r
}

// blockedReport: registering fails, which blocks most of the auth stage
// (the root cause, with a decisive step in its evidence); one check is
// blocked by a check this run did not include (--check); a check overran
// its timeout and tainted the run.
func blockedReport() *grader.Report {
	r := baseReport()
	r.Stage = "auth"
	reg := "registering a user failed: POST /register answered 500 Internal Server Error"
	blocked := func(id, title string, pts int, skill string) grader.CheckResult {
		return grader.CheckResult{ID: id, Title: title, Status: grader.StatusBlocked, MaxPoints: pts,
			Skills: []string{skill}, Message: reg, BlockedBy: "auth.register-login", DurationMs: 4}
	}
	r.Notes = []string{"check caching.hit was still running 2s after its 30s timeout; its cleanups ran anyway and the next checks started: " +
		"what it did late may have disturbed them, so re-run them alone (--check) before trusting a failure"}
	r.Tainted = []string{"caching.hit"}
	r.Stages = []grader.StageResult{
		{ID: "auth", Title: "Users and tokens", Checks: []grader.CheckResult{
			{ID: "auth.register-login", Title: "POST /register answers 201 {token}, POST /login 200 {token}", Status: grader.StatusFail,
				MaxPoints: 2, Skills: []string{skills.Auth},
				Message: "POST /register: expected 201 Created, got 500 Internal Server Error",
				Hint:    "your service failed while saving the user: look at what it printed for the error",
				Evidence: []verdict.Step{
					{Kind: "http", Command: `curl -i -X POST 'http://127.0.0.1:41234/register' -H 'Content-Type: application/json' --data-raw '{"email":"mara.quinn@example.org","password":"k3!vQ9-pLm2"}'`,
						Output: "HTTP 500 Internal Server Error\nContent-Type: application/json\n\n{\"error\":\"pq: relation \\\"users\\\" does not exist\"}", Decisive: true},
					{Kind: "sql", Command: "SELECT count(*) AS n FROM users", Output: "ERROR: relation \"users\" does not exist"},
				},
				DurationMs: 31},
			blocked("auth.unauthorized", "/todos without a valid Bearer token answers 401", 2, skills.Auth),
			blocked("auth.token-claims", "Tokens are HS256 with JWT_SECRET", 2, skills.JWT),
			blocked("auth.forged-tokens", "Unsigned, wrongly signed and tampered tokens are refused", 3, skills.JWT),
			{ID: "auth.ownership", Title: "Another user's todo: PUT/PATCH/DELETE 403", Status: grader.StatusBlocked, MaxPoints: 3,
				Skills: []string{skills.Authorization}, Message: "creating a todo failed: POST /todos answered 404",
				Hint: "make POST /todos work first", BlockedBy: "rest.create", DurationMs: 9},
			{ID: "auth.register-validation", Title: "A bad e-mail or a short password answers 400", Status: grader.StatusPass,
				MaxPoints: 1, Skills: []string{skills.Validation}, DurationMs: 12},
		}},
		{ID: "caching", Title: "Caching with Redis", Checks: []grader.CheckResult{
			{ID: "caching.hit", Title: "The second GET is a HIT with the same todo", Status: grader.StatusError, MaxPoints: 2,
				Skills: []string{skills.RedisCache}, Message: "timed out after 30s: the service did not answer in time", DurationMs: 32000},
		}},
	}
	r.Tally()
	return r
}

// manyFailuresReport: n failing checks, each with evidence of size bytes.
func manyFailuresReport(n, size int) *grader.Report {
	r := baseReport()
	body := strings.Repeat(strings.Repeat("0123456789", 9)+"abcdefghi\n", size/100+1)[:size]
	st := grader.StageResult{ID: "rest", Title: "A REST resource"}
	for i := range n {
		st.Checks = append(st.Checks, grader.CheckResult{
			ID: fmt.Sprintf("rest.check-%03d", i), Title: "A check that fails", Status: grader.StatusFail, MaxPoints: 1,
			Skills: []string{skills.RESTDesign}, Message: "expected 200, got 500", Hint: "look at your handler",
			Evidence: []verdict.Step{
				{Kind: "http", Command: fmt.Sprintf("curl -i 'http://127.0.0.1:41234/tasks/%d'", i), Output: "HTTP 500\n\n" + body},
				{Kind: "sql", Command: "SELECT * FROM tasks", Output: body},
			},
		})
	}
	r.Stages = []grader.StageResult{st}
	r.Tally()
	return r
}

var fixtures = []struct {
	name string
	make func() *grader.Report
}{
	{"allpass", allPassReport},
	{"mixed", mixedReport},
	{"problem", problemReport},
	{"blocked", blockedReport},
}
