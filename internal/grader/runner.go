package grader

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/verdict"
)

// DefaultCheckTimeout bounds a check that declares no timeout of its own.
const DefaultCheckTimeout = 30 * time.Second

// DefaultOverrunGrace is how long the runner waits, after a check's timeout
// (or an interrupt), for the check's goroutine to return before it cleans
// up after the check anyway and marks the run tainted.
const DefaultOverrunGrace = 2 * time.Second

// Runner runs checks in order. Every selected check runs: a failure does not
// stop the run; a panic or a timeout is status error; once the service has
// died, the remaining checks are reported as not run, with the cause. Two
// things stop the run: an interrupt (ctx), and the grader's environment
// failing (a service a check needs is missing, or a check returns a
// verdict.Environment), which Run returns as its error.
//
// After each check, whatever its outcome, the runner runs the cleanups the
// check registered (h.Cleanup), before the next check starts.
type Runner struct {
	// Timeout is the default per-check timeout (DefaultCheckTimeout when 0).
	Timeout time.Duration
	// Grace is how long an overrunning check is waited for
	// (DefaultOverrunGrace when 0).
	Grace time.Duration
	// Select, when not nil, keeps only the checks for which it returns true.
	Select func(Check) bool
	// OnStart and OnResult report progress (both optional).
	OnStart  func(Stage, Check)
	OnResult func(Stage, CheckResult)
}

// RunResult is what a run of the checks produced; Report.Apply puts it in
// a report.
type RunResult struct {
	Stages []StageResult
	// Problem is set when the service died during the run.
	Problem *Problem
	// Diagnoses are the patterns that broke the whole run (diagnose.go).
	Diagnoses []Diagnosis
	// Notes say what happened in this run that affects how far its results
	// can be trusted (a check that overran, a cleanup that failed).
	Notes []string
	// Tainted lists the checks that were still running when the next one
	// started.
	Tainted []string
}

// Run runs the checks of stages against the service in h.
//
// The error is nil unless the grader's environment failed: then it is (or
// wraps) a *verdict.Environment naming the check that met it, the run
// stopped there, and the caller exits 3 without a score (DESIGN.md §2.4).
// The result still holds what ran before.
func (r *Runner) Run(ctx context.Context, stages []Stage, h *harness.H) (result RunResult, err error) {
	var out RunResult
	limitStage := false // the rate-limiting stage has been reached
	throttled := 0      // checks blocked for meeting a 429 before it
	refused := 0        // checks blocked for a 401 to a login's token
	defer func() { result.Diagnoses = diagnose(h, throttled, refused) }()
	for _, st := range stages {
		if st.ID == limitStageID {
			limitStage = true
		}
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
				res = NotRunResult(c, "the grader was interrupted")
			case out.Problem != nil:
				res = NotRunResult(c, out.Problem.Message)
			default:
				if err := missingService(c, h); err != nil {
					out.Stages = appendStage(out.Stages, sr)
					return out, err
				}
				var env error
				var seen met
				res, seen, env = r.runOne(ctx, c, h, &out)
				if env != nil {
					out.Stages = appendStage(out.Stages, sr)
					return out, env
				}
				graded := res.Status == StatusPass || res.Status == StatusSkip
				switch {
				case graded:
				case seen.throttled != "" && !limitStage:
					res = throttledResult(res, seen.throttled, h.Env)
					throttled++
				case seen.refused != "" && st.ID != authStageID:
					res = refusedResult(res, seen.refused)
					refused++
				}
				if res.Status != StatusPass && res.Status != StatusSkip && h.Service != nil {
					if why := exitedSoon(h.Service); why != nil {
						out.Problem = &Problem{
							Kind:    "crash",
							Message: fmt.Sprintf("your service stopped during check %s: %v", c.ID, why),
							Hint:    "look at the last lines your service printed (below) for a panic or an unhandled error",
							Log:     strings.Join(h.Service.Logs(20), "\n"),
						}
						res.Status, res.BlockedBy = StatusError, ""
						res.Message = out.Problem.Message + " (" + res.Message + ")"
					}
				}
			}
			sr.Checks = append(sr.Checks, res)
			if r.OnResult != nil {
				r.OnResult(st, res)
			}
		}
		out.Stages = appendStage(out.Stages, sr)
	}
	return out, nil
}

func appendStage(stages []StageResult, sr StageResult) []StageResult {
	if len(sr.Checks) == 0 {
		return stages
	}
	return append(stages, sr)
}

// missingService returns a verdict.Environment when the run lacks a
// service c needs.
func missingService(c Check, h *harness.H) error {
	for _, s := range c.Needs {
		if !h.Has(string(s)) {
			return &verdict.Environment{Reason: fmt.Sprintf(
				"check %s needs %s, but the grader has no connection to one in this run: "+
					"the stage should declare it (a grader bug, please report it), or give one with --services docker or --%s-url",
				c.ID, serviceName(s), urlFlag(s))}
		}
	}
	return nil
}

func serviceName(s Service) string {
	switch s {
	case Postgres:
		return "Postgres"
	case Redis:
		return "Redis"
	case RabbitMQ:
		return "RabbitMQ"
	default:
		return string(s)
	}
}

func urlFlag(s Service) string {
	if s == RabbitMQ {
		return "amqp"
	}
	return string(s)
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

// NotRunResult is the result of a check that never ran, with why (in the
// learner's terms, e.g. the run's Problem message). Its status is error,
// it carries NotRun, and it counts in maxScore.
func NotRunResult(c Check, why string) CheckResult {
	return CheckResult{ID: c.ID, Title: c.Title, Status: StatusError, NotRun: true, MaxPoints: c.Points,
		Skills: nonNil(c.Skills), Message: "not run: " + why}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxEvidence is how many of a failed check's last steps the report keeps
// (steps marked decisive are kept besides).
const maxEvidence = 3

// runOne runs one check and then its cleanups. The error is a
// verdict.Environment that stops the run.
// met is what a check's requests met that may be the cause of its failure
// (throttled.go): the first 429, and the first 401 to a login's token.
type met struct{ throttled, refused string }

func (r *Runner) runOne(ctx context.Context, c Check, h *harness.H, out *RunResult) (CheckResult, met, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	if timeout == 0 {
		timeout = DefaultCheckTimeout
	}
	grace := r.Grace
	if grace == 0 {
		grace = DefaultOverrunGrace
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
	overran := false
	select {
	case err = <-done:
	case <-cctx.Done():
		// Give the check a moment to notice the cancellation and return.
		select {
		case err = <-done:
		case <-time.After(grace):
			overran = true
		}
		if ctx.Err() != nil {
			err = &Broken{Reason: "interrupted"}
		} else if err == nil || cctx.Err() == context.DeadlineExceeded {
			err = &Broken{Reason: fmt.Sprintf("timed out after %s: the service did not answer in time", timeout)}
		}
	}
	elapsed := time.Since(start)
	// The evidence is taken before the cleanups, which may record steps
	// of their own.
	steps := hc.Transcript()

	cleanupErrs := hc.RunCleanups(ctx)
	// What the service printed during a fault that the check's cleanup
	// ended joins the evidence: it tells what the service did meanwhile.
	var faultLogs []verdict.Step
	for _, s := range hc.Transcript()[len(steps):] {
		if s.Kind == "log" {
			faultLogs = append(faultLogs, s)
		}
	}
	if overran || len(cleanupErrs) > 0 {
		out.Tainted = append(out.Tainted, c.ID)
	}
	if overran {
		out.Notes = append(out.Notes, fmt.Sprintf(
			"check %s was still running %s after its %s timeout; its cleanups ran anyway and the next checks started: "+
				"what it did late may have disturbed them, so re-run them alone (--check) before trusting a failure",
			c.ID, grace, timeout))
	}
	for _, cerr := range cleanupErrs {
		if verdict.IsEnvironment(cerr) {
			return CheckResult{}, met{}, fmt.Errorf("cleaning up after check %s: %w", c.ID, cerr)
		}
		out.Notes = append(out.Notes, fmt.Sprintf(
			"cleaning up after check %s failed (%v): the checks after it may have met what it left behind", c.ID, cerr))
	}
	if verdict.IsEnvironment(err) {
		return CheckResult{}, met{}, fmt.Errorf("check %s: %w", c.ID, err)
	}

	o := verdict.Classify(err)
	res := CheckResult{
		ID: c.ID, Title: c.Title, Status: o.Status, MaxPoints: c.Points, Skills: nonNil(c.Skills),
		Message: o.Message, Hint: o.Hint, BlockedBy: o.BlockedBy, DurationMs: elapsed.Milliseconds(),
	}
	if o.Status == StatusBlocked && (o.BlockedBy == "" || o.BlockedBy == c.ID) {
		res.Status, res.BlockedBy = StatusError, ""
		res.Message = fmt.Sprintf("the check says it is blocked, but not by another check (%q): a grader bug, please report it (%s)", o.BlockedBy, o.Message)
	}
	if res.Status == StatusPass {
		res.Points = c.Points
	}
	if res.Status == StatusFail || res.Status == StatusError {
		res.Evidence = append(evidence(steps), faultLogs...)
	}
	return res, met{throttled: hc.Met429(), refused: hc.Met401()}, nil
}

// evidence keeps the last maxEvidence steps, and any step marked decisive
// before them, in order.
func evidence(steps []verdict.Step) []verdict.Step {
	if len(steps) <= maxEvidence {
		return steps
	}
	var keep []verdict.Step
	cut := len(steps) - maxEvidence
	for _, s := range steps[:cut] {
		if s.Decisive {
			keep = append(keep, s)
		}
	}
	return append(keep, steps[cut:]...)
}

func firstFrames(stack []byte, lines int) string {
	ls := strings.Split(string(stack), "\n")
	if len(ls) > lines {
		ls = ls[:lines]
	}
	return strings.Join(ls, "\n")
}
