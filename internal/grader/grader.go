// Package grader holds the domain: a Track of Stages, each a list of Checks;
// the Status and Result of a check; the Report of a run and its scoring.
package grader

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/verdict"
)

// Status is the outcome of one check (verdict.Status; the values are part
// of the JSON report).
type Status = verdict.Status

const (
	StatusPass    = verdict.Pass
	StatusFail    = verdict.Fail
	StatusError   = verdict.Error
	StatusSkip    = verdict.Skip
	StatusBlocked = verdict.Blocked
)

// Check is plain data plus a function. nil from Run means pass; the
// values a check returns otherwise are described in package verdict.
type Check struct {
	ID      string // "<stage>.<slug>", never changes once released
	Title   string
	Points  int
	Skills  []string
	Timeout time.Duration // 0: the runner's default
	// Needs lists the backing services the check itself looks into (h.PG,
	// h.Redis, the broker). When the run lacks one, that is the grader's
	// environment failing, not the learner: the runner stops the run with a
	// verdict.Environment (exit 3) instead of running the check.
	Needs []Service
	Run   func(ctx context.Context, h *harness.H) error
}

// Service names a backing service a stage or a check needs.
type Service string

const (
	Postgres Service = "postgres"
	Redis    Service = "redis"
	RabbitMQ Service = "rabbitmq"
)

// Stage is one step of a track.
type Stage struct {
	ID       string
	Title    string
	Spec     string    // learner-facing markdown (embedded spec.md)
	Services []Service // what the service needs from this stage on
	// Env returns the variables this stage adds to the service's environment,
	// randomised from r so that hard-coded values fail. May be nil. In a
	// value, ServiceHost stands for the address where the service reaches
	// the grader (127.0.0.1, or a container network's gateway).
	Env    func(r *rand.Rand) map[string]string
	Checks []Check
	// Session: from this stage on, the checks of every stage act as a
	// logged-in user (harness.H.Auth); set by the stage that brings users.
	Session bool
}

// ServiceHost, in a value of Stage.Env, is replaced by the address where the
// service reaches the grader's own listeners.
const ServiceHost = "{grader-host}"

// Track is the ordered list of stages a learner builds.
type Track struct {
	ID     string
	Stages []Stage
}

// Stage returns the stage with the given id and its index.
func (t Track) Stage(id string) (Stage, int, bool) {
	for i, s := range t.Stages {
		if s.ID == id {
			return s, i, true
		}
	}
	return Stage{}, -1, false
}

// StageIDs lists the stage ids in order.
func (t Track) StageIDs() []string {
	ids := make([]string, len(t.Stages))
	for i, s := range t.Stages {
		ids[i] = s.ID
	}
	return ids
}

// The values a check returns live in the leaf package verdict; checks
// spell them grader.Failf and so on.
type (
	Failure      = verdict.Failure
	Skipped      = verdict.Skipped
	Broken       = verdict.Broken
	Precondition = verdict.Precondition
	Environment  = verdict.Environment
)

var (
	Failf        = verdict.Failf
	Skipf        = verdict.Skipf
	Errorf       = verdict.Errorf
	Blockedf     = verdict.Blockedf
	Environmentf = verdict.Environmentf
)
