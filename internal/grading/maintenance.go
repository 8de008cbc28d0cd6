package grading

import (
	"context"
	"io"
)

// Doctor writes to w whether this machine can run the grader with o, and
// returns an *EnvError when it cannot.
func Doctor(ctx context.Context, sys System, o ServiceOptions, w io.Writer) error {
	if err := validMode(o.Mode); err != nil {
		return err
	}
	if sys.Services == nil {
		return &EnvError{Message: "this grader has no way to start services (a grader bug: System.Services is nil)"}
	}
	if !sys.Services.Doctor(ctx, o, w) {
		return &EnvError{Message: "the grader cannot run here as configured: fix the problems above"}
	}
	return nil
}

// Clean removes what grader runs that were killed left behind (with
// o.All, what live runs own too).
func Clean(ctx context.Context, sys System, o CleanOptions, w io.Writer) error {
	if err := validMode(o.Services.Mode); err != nil {
		return err
	}
	if sys.Services == nil {
		return &EnvError{Message: "this grader has no way to reach services (a grader bug: System.Services is nil)"}
	}
	return sys.Services.Clean(ctx, o, w)
}
