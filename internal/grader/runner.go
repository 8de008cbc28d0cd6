package grader

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/harness"
)

// DefaultCheckTimeout bounds a check that declares no timeout of its own.
const DefaultCheckTimeout = 30 * time.Second

// Runner runs checks in order. Every selected check runs: a failure does not
// stop the run; a panic or a timeout is status error; once the service has
// died, the remaining checks are reported as error with the cause.
type Runner struct {
	// Timeout is the default per-check timeout (DefaultCheckTimeout when 0).
	Timeout time.Duration
	// Select, when not nil, keeps only the checks for which it returns true.
	Select func(Check) bool
	// OnStart and OnResult report progress (both optional).
	OnStart  func(Stage, Check)
	OnResult func(Stage, CheckResult)
}

// Run runs the checks of stages against the service in h. It returns the
// results per stage and, when the service died during the run, a Problem
// naming the cause.
func (r *Runner) Run(ctx context.Context, stages []Stage, h *harness.H) ([]StageResult, *Problem) {
	var problem *Problem
	var results []StageResult
	for _, st := range stages {
		sr := StageResult{ID: st.ID, Title: st.Title, Checks: []CheckResult{}}
		for _, c := range st.Checks {
			if r.Select != nil && !r.Select(c) {
				continue
			}
			if r.OnStart != nil {
				r.OnStart(st, c)
			}
			var res CheckResult
			switch {
			case ctx.Err() != nil:
				res = notRun(c, "not run: the grader was interrupted")
			case problem != nil:
				res = notRun(c, "not run: "+problem.Message)
			default:
				res = r.runOne(ctx, c, h)
				if res.Status != StatusPass && res.Status != StatusSkip && h.Service != nil {
					if why := exitedSoon(h.Service); why != nil {
						problem = &Problem{
							Kind:    "crash",
							Message: fmt.Sprintf("your service stopped during check %s: %v", c.ID, why),
							Hint:    "look at the last lines your service printed (below) for a panic or an unhandled error",
							Log:     strings.Join(h.Service.Logs(20), "\n"),
						}
						res.Status = StatusError
						res.Message = problem.Message + " (" + res.Message + ")"
					}
				}
			}
			sr.Checks = append(sr.Checks, res)
			if r.OnResult != nil {
				r.OnResult(st, res)
			}
		}
		if len(sr.Checks) > 0 {
			results = append(results, sr)
		}
	}
	return results, problem
}

// exitGrace is how long a failed check waits to see whether the service is
// dying: the client sees the connection reset a moment before the process
// is reaped.
const exitGrace = 250 * time.Millisecond

// exitedSoon returns why the service exited, waiting up to exitGrace for a
// death in progress to be noticed; nil if it is still running.
func exitedSoon(s harness.Service) error {
	deadline := time.Now().Add(exitGrace)
	for {
		if why := s.Exited(); why != nil || time.Now().After(deadline) {
			return why
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notRun(c Check, why string) CheckResult {
	return CheckResult{ID: c.ID, Title: c.Title, Status: StatusError, MaxPoints: c.Points,
		Skills: nonNil(c.Skills), Message: why}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxEvidence is how many of a failed check's last steps the report keeps.
const maxEvidence = 3

func (r *Runner) runOne(ctx context.Context, c Check, h *harness.H) CheckResult {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	if timeout == 0 {
		timeout = DefaultCheckTimeout
	}
	hc := h.ForCheck(c.ID)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- &Broken{Reason: fmt.Sprintf("the check crashed (a grader bug, please report it): %v\n%s", p, firstFrames(debug.Stack(), 12))}
			}
		}()
		done <- c.Run(cctx, hc)
	}()

	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		// Give the check a moment to notice the cancellation and return.
		select {
		case err = <-done:
		case <-time.After(2 * time.Second):
		}
		if ctx.Err() != nil {
			err = &Broken{Reason: "interrupted"}
		} else if err == nil || cctx.Err() == context.DeadlineExceeded {
			err = &Broken{Reason: fmt.Sprintf("timed out after %s: the service did not answer in time", timeout)}
		}
	}
	status, msg, hint := classify(err)
	res := CheckResult{
		ID: c.ID, Title: c.Title, Status: status, MaxPoints: c.Points, Skills: nonNil(c.Skills),
		Message: msg, Hint: hint, DurationMs: time.Since(start).Milliseconds(),
	}
	if status == StatusPass {
		res.Points = c.Points
	}
	if status == StatusFail || status == StatusError {
		steps := hc.Transcript()
		if len(steps) > maxEvidence {
			steps = steps[len(steps)-maxEvidence:]
		}
		res.Evidence = steps
	}
	return res
}

func firstFrames(stack []byte, lines int) string {
	ls := strings.Split(string(stack), "\n")
	if len(ls) > lines {
		ls = ls[:lines]
	}
	return strings.Join(ls, "\n")
}
