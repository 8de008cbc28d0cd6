package grading

import (
	"errors"
	"fmt"
)

// The errors below are what the CLI maps to exit codes (DESIGN.md §2.4);
// grading and its Deps return nothing else for these outcomes.

// UsageError is a mistake in how the grader was called (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// EnvError is a failure of the grader's environment (no Docker, a service
// that does not start or answer, an output directory that cannot be
// written): never the learner's fault (exit 3).
type EnvError struct {
	Message string // what failed
	Fix     string // what to do about it (may be empty)
	// Err is the error it stands for, when a Dep translated one.
	Err error
}

func (e *EnvError) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Fix == "" {
		return e.Message
	}
	return e.Message + "; " + e.Fix
}

func (e *EnvError) Unwrap() error { return e.Err }

// ProjectError is the learner's project failing before the checks can run:
// its manifest, its build or its start (exit 1, and said in the report).
type ProjectError struct {
	// Kind is manifest, build, start or crash.
	Kind string
	// Message is one lower-case line naming the cause.
	Message string
	// Hint says what to do about it.
	Hint string
	// Log holds the last lines of the project's output, when there are any.
	Log string
	// Err is the error it stands for, when a Dep translated one.
	Err error
}

func (e *ProjectError) Error() string { return e.Message }

func (e *ProjectError) Unwrap() error { return e.Err }

// ErrNotPassed: the report was written and the submission did not pass (exit 1).
var ErrNotPassed = errors.New("not passed")

// ErrInterrupted: the context was cancelled (SIGINT/SIGTERM); cleanup is
// done (exit 130).
var ErrInterrupted = errors.New("interrupted")
