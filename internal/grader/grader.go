// Package grader holds the domain: a Track of Stages, each a list of Checks;
// the Status and Result of a check; the Report of a run and its scoring.
package grader

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/backend-grader/grader/internal/harness"
)

// Status is the outcome of one check. The values are part of the JSON report.
type Status string

const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusError Status = "error" // could not be judged: crash, timeout, the service died
	StatusSkip  Status = "skip"  // cannot run here (the reason is in Message)
)

// Check is plain data plus a function. nil from Run means pass.
type Check struct {
	ID      string // "<stage>.<slug>", never changes once released
	Title   string
	Points  int
	Skills  []string
	Timeout time.Duration // 0: the runner's default
	Run     func(ctx context.Context, h *harness.H) error
}

// Service names a backing service a stage needs.
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
	// randomised from r so that hard-coded values fail. May be nil.
	Env    func(r *rand.Rand) map[string]string
	Checks []Check
}

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

// Failure is what a check returns when the service is wrong. Message says
// what was expected and what came back; Hint says, in one sentence, what is
// probably wrong and how it should work.
type Failure struct {
	Message string
	Hint    string
}

func (f *Failure) Error() string { return f.Message }

// WithHint sets the hint and returns f.
func (f *Failure) WithHint(format string, args ...any) *Failure {
	f.Hint = fmt.Sprintf(format, args...)
	return f
}

// Failf makes a Failure.
func Failf(format string, args ...any) *Failure {
	return &Failure{Message: fmt.Sprintf(format, args...)}
}

// Skipped is returned by a check that cannot run in this environment.
type Skipped struct{ Reason string }

func (s *Skipped) Error() string { return s.Reason }

// Skipf makes a Skipped.
func Skipf(format string, args ...any) error { return &Skipped{Reason: fmt.Sprintf(format, args...)} }

// Broken is returned when a check could not judge the service (status error),
// as opposed to judging it wrong.
type Broken struct{ Reason string }

func (b *Broken) Error() string { return b.Reason }

// Errorf makes a Broken.
func Errorf(format string, args ...any) error { return &Broken{Reason: fmt.Sprintf(format, args...)} }

// classify maps what a check returned to a status, message and hint.
// A plain error is a failure: it is the service's answer (or silence) that
// was wrong.
func classify(err error) (Status, string, string) {
	if err == nil {
		return StatusPass, "", ""
	}
	var f *Failure
	var s *Skipped
	var b *Broken
	switch {
	case errors.As(err, &f):
		return StatusFail, f.Message, f.Hint
	case errors.As(err, &s):
		return StatusSkip, s.Reason, ""
	case errors.As(err, &b):
		return StatusError, b.Reason, ""
	default:
		return StatusFail, err.Error(), ""
	}
}
