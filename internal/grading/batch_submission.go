package grading

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
)

// gradeOne copies one submission, grades it within o.timeout and writes
// its reports; it sets it.rep, or it.err when it could not be graded.
func gradeOne(ctx context.Context, o BatchPlan, it *batchItem, env batchEnv) {
	if err := os.MkdirAll(it.outDir, 0o755); err != nil {
		it.err = &EnvError{Message: fmt.Sprintf("cannot create %s: %v", it.outDir, err), Fix: "choose a writable --out directory"}
		return
	}
	logFile, err := os.Create(filepath.Join(it.outDir, "grader.log"))
	if err != nil {
		it.err = &EnvError{Message: fmt.Sprintf("cannot write %s: %v", filepath.Join(it.outDir, "grader.log"), err), Fix: "choose a writable --out directory"}
		return
	}
	defer logFile.Close()
	// grader.log holds what the service printed: escaped, so that reading
	// it on a terminal is safe.
	safeLog := report.NewSafeWriter(logFile)
	defer safeLog.Flush()
	logw := &lockedWriter{w: safeLog}
	logf := Logger(logw)

	sctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	// The copy: the submission is built and run there, never where it is.
	dir := filepath.Join(env.tmp, it.name)
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			logf("could not remove the copy %s: %v", dir, err)
		}
	}()
	logf("copying %s to %s", it.src, dir)
	if err := copyTree(sctx, it.src, dir); err != nil {
		if ctx.Err() != nil {
			it.err = ErrInterrupted
			return
		}
		it.err = fmt.Errorf("could not copy the submission: %w", err)
		return
	}

	p, problem := loadForBatch(env.launcher, o, dir)
	p.ScopeID, p.Limits, p.Version, p.Sandbox = env.scopeID, env.limits, o.Version, o.Sandbox
	var rep *grader.Report
	if problem != nil {
		rep = EmptyReport(p)
		rep.Problem = problem
		rep.Stages = NotRunResults(p, problem.Message)
		rep.Tally()
	} else {
		logf("grading %s: %s", it.src, p.Describe())
		rep, err = Grade(sctx, p, Deps{Servers: env.servers, Launcher: env.launcher, Echo: logw, Logf: logf})
		switch {
		case ctx.Err() != nil:
			it.err = ErrInterrupted
			return
		case sctx.Err() != nil && err != nil:
			rep = timedOut(rep, p, o.Timeout)
			logf("stopped: %s", rep.Problem.Message)
		case err != nil:
			it.err = err
			return
		}
	}
	rep.Submission.Path = it.src
	if o.Sandbox == nil {
		rep.Notes = append(rep.Notes, noSandboxNote)
	}
	// The submission's processes are gone (Grade stopped them): only the
	// grader writes the reports, and signs report.json so that a re-run or
	// a merge can tell it from one written by anyone else.
	if err := report.WriteSubmissionFiles(it.outDir, rep, o.Formats); err != nil {
		it.err = &EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
		return
	}
	if err := o.Key.sign(filepath.Join(it.outDir, "report.json")); err != nil {
		it.err = &EnvError{Message: fmt.Sprintf("cannot sign the report: %v", err), Fix: "choose a writable --out directory with free space"}
		return
	}
	it.rep = rep
}

// loadForBatch reads the copy's manifest and makes its plan. A manifest the
// grader cannot use is the learner's problem: it comes back as a Problem,
// with a plan made from the selection alone so that the report still lists
// every check.
func loadForBatch(l Launcher, o BatchPlan, dir string) (*Plan, *grader.Problem) {
	m, err := l.Load(dir)
	if err == nil {
		p, perr := NewPlan(o.Selection, m)
		if perr == nil {
			return p, nil
		}
		err = perr
	}
	base := &Project{Dir: dir}
	p, perr := NewPlan(o.Selection, base)
	if perr != nil { // cannot happen: the selection was checked before
		p = &Plan{Project: base}
	}
	var pe *ProjectError
	if errors.As(err, &pe) {
		return p, &grader.Problem{Kind: pe.Kind, Message: pe.Message, Hint: pe.Hint, Log: pe.Log}
	}
	return p, &grader.Problem{Kind: "manifest", Message: err.Error(),
		Hint: "fix grader.yaml (see 'grader init' for one that works)"}
}

// EmptyReport is a report of p with no results yet, as Grade starts one.
func EmptyReport(p *Plan) *grader.Report {
	rep := &grader.Report{
		SchemaVersion: grader.SchemaVersion,
		Grader:        grader.GraderInfo{Version: p.Version},
		Track:         checks.Tasks.ID,
		Stage:         p.Stage.ID,
		Seed:          p.Seed,
		Stages:        []grader.StageResult{},
		Skills:        []grader.SkillScore{},
	}
	if m := p.Project; m != nil {
		rep.Submission.Path = m.Dir
		if m.Run != "" || m.Docker {
			rep.Submission.Run = describeRun(m)
		}
	}
	return rep
}

// timedOut turns what a submission had done when its time ran out into its
// report: the checks that had run keep their results, the others are not
// run, and the Problem says why.
func timedOut(rep *grader.Report, p *Plan, limit time.Duration) *grader.Report {
	if rep == nil {
		rep = EmptyReport(p)
	}
	msg := fmt.Sprintf("grading took longer than the batch's limit of %s per submission", limit)
	rep.Problem = &grader.Problem{Kind: "timeout", Message: msg,
		Hint: "a build that waits for input, a service that never answers, or a very slow start can cause this; grader.log next to this report shows how far it got"}
	if len(rep.Stages) == 0 {
		rep.Stages = NotRunResults(p, msg)
	}
	for i := range rep.Stages {
		for j := range rep.Stages[i].Checks {
			c := &rep.Stages[i].Checks[j]
			if c.Status == grader.StatusError && (c.Message == "interrupted" || strings.HasPrefix(c.Message, "not run: the grader was interrupted")) {
				c.Message, c.NotRun = "not run: "+msg, true
			}
		}
	}
	rep.Tally()
	return rep
}

// writeNotGraded records why a submission could not be graded, and removes
// an older report.json so that the next run retries it.
func writeNotGraded(it *batchItem) {
	if it.outDir == "" {
		return
	}
	if err := os.MkdirAll(it.outDir, 0o755); err != nil {
		return
	}
	msg := it.err.Error()
	var ee *EnvError
	if errors.As(it.err, &ee) && ee.Fix != "" && !strings.Contains(msg, ee.Fix) {
		msg += "\nfix: " + ee.Fix
	}
	_ = os.WriteFile(filepath.Join(it.outDir, "error.txt"), []byte(msg+"\n"), 0o644)
	_ = os.Remove(filepath.Join(it.outDir, "report.json"))
	_ = os.Remove(filepath.Join(it.outDir, "report.json"+sigSuffix))
}

// lockedWriter serialises writes from the grader's log and the service's
// output echo into one file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
