// Package verdict is the leaf every layer shares: the status of a check and
// the values a check (or the harness on its behalf) returns to say why it
// did not pass. It imports nothing of this module.
//
// What a check returns decides its status:
//
//	nil          pass
//	*Failure     fail      the service is wrong (Failf)
//	*Skip        skip      the check cannot run here (Skipf)
//	*Broken      error     the check could not judge the service (Errorf)
//	*Blocked     blocked   something the check needs along the way could not
//	                       be had; another check grades that cause (Blockedf)
//	*Environment           the grader's environment failed: the run stops
//	                       and the grader exits 3 (Environmentf)
//
// Any other error is a failure: it is the service's answer (or silence)
// that was wrong.
package verdict

import (
	"errors"
	"fmt"
)

// Status is the outcome of one check. The values are part of the JSON report.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Error   Status = "error"   // could not be judged: crash, timeout, the service died
	Skip    Status = "skip"    // cannot run here (the reason is in the message)
	Blocked Status = "blocked" // a precondition failed; BlockedBy names the check that grades it
)

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

// Skipped is returned by a check that cannot run in this environment (for
// example a whole-server fault where the grader does not own the server).
type Skipped struct{ Reason string }

func (s *Skipped) Error() string { return s.Reason }

// Skipf makes a Skipped.
func Skipf(format string, args ...any) error { return &Skipped{Reason: fmt.Sprintf(format, args...)} }

// Broken is returned when a check could not judge the service (status
// error), as opposed to judging it wrong.
type Broken struct{ Reason string }

func (b *Broken) Error() string { return b.Reason }

// Errorf makes a Broken.
func Errorf(format string, args ...any) error { return &Broken{Reason: fmt.Sprintf(format, args...)} }

// Precondition is returned when something a check needs along the way (a
// user, a token, a created todo) could not be had. By is the id of the check
// that grades that cause; Reason says what went wrong, in the learner's
// terms. The check scores 0 with status blocked.
type Precondition struct {
	By     string
	Reason string
	Hint   string
}

func (b *Precondition) Error() string { return b.Reason }

// Blockedf makes a Precondition graded by check id by.
func Blockedf(by, format string, args ...any) *Precondition {
	return &Precondition{By: by, Reason: fmt.Sprintf(format, args...)}
}

// WithHint sets the hint and returns b.
func (b *Precondition) WithHint(format string, args ...any) *Precondition {
	b.Hint = fmt.Sprintf(format, args...)
	return b
}

// Environment is returned when the grader's own environment failed (a
// service it should have provided is missing, a fault it could not apply):
// never the learner's fault. The run stops and the grader exits 3.
type Environment struct{ Reason string }

func (e *Environment) Error() string { return e.Reason }

// Environmentf makes an Environment.
func Environmentf(format string, args ...any) error {
	return &Environment{Reason: fmt.Sprintf(format, args...)}
}

// Outcome is what an error returned by a check means.
type Outcome struct {
	Status    Status
	Message   string
	Hint      string
	BlockedBy string // with Blocked
}

// Classify maps what a check returned to its outcome. An *Environment is
// not an outcome of the check: callers test for it first (IsEnvironment).
func Classify(err error) Outcome {
	if err == nil {
		return Outcome{Status: Pass}
	}
	var f *Failure
	var s *Skipped
	var b *Broken
	var p *Precondition
	var e *Environment
	switch {
	case errors.As(err, &f):
		return Outcome{Status: Fail, Message: f.Message, Hint: f.Hint}
	case errors.As(err, &p):
		return Outcome{Status: Blocked, Message: p.Reason, Hint: p.Hint, BlockedBy: p.By}
	case errors.As(err, &s):
		return Outcome{Status: Skip, Message: s.Reason}
	case errors.As(err, &b):
		return Outcome{Status: Error, Message: b.Reason}
	case errors.As(err, &e):
		return Outcome{Status: Error, Message: e.Reason}
	default:
		return Outcome{Status: Fail, Message: err.Error()}
	}
}

// IsEnvironment reports whether err says the grader's environment failed.
func IsEnvironment(err error) bool {
	var e *Environment
	return errors.As(err, &e)
}

// Step is one recorded interaction, shown to the learner when a check
// fails: an HTTP exchange as a curl line and the response, a SQL statement
// and its result, a redis-cli command and its reply, an AMQP operation.
type Step struct {
	Kind    string `json:"kind"`    // http | sql | redis | amqp | note
	Command string `json:"command"` // what the grader did, as the learner could repeat it
	Output  string `json:"output"`  // what came back
	// Decisive marks the step that decided the failure.
	Decisive bool `json:"decisive,omitempty"`
}
