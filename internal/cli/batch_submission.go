package cli

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
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/submission"
)

// gradeOne copies one submission, grades it within o.timeout and writes
// its reports; it sets it.rep, or it.err when it could not be graded.
func gradeOne(ctx context.Context, o *batchOptions, it *batchItem, env batchEnv) {
	if err := os.MkdirAll(it.outDir, 0o755); err != nil {
		it.err = &services.EnvError{Message: fmt.Sprintf("cannot create %s: %v", it.outDir, err), Fix: "choose a writable --out directory"}
		return
	}
	logFile, err := os.Create(filepath.Join(it.outDir, "grader.log"))
	if err != nil {
		it.err = &services.EnvError{Message: fmt.Sprintf("cannot write %s: %v", filepath.Join(it.outDir, "grader.log"), err), Fix: "choose a writable --out directory"}
		return
	}
	defer logFile.Close()
	logw := &lockedWriter{w: logFile}
	logf := logger(logw)

	sctx, cancel := context.WithTimeout(ctx, o.timeout)
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
			it.err = errInterrupted
			return
		}
		it.err = fmt.Errorf("could not copy the submission: %w", err)
		return
	}

	m, p, problem := loadForBatch(o, dir)
	var rep *grader.Report
	if problem != nil {
		rep = emptyReport(dir, m, p)
		rep.Problem = problem
		rep.Stages = notRunResults(p, problem.Message)
		rep.Tally()
	} else {
		logf("grading %s: %s", it.src, p.describe())
		rep, err = grade(sctx, gradeInput{
			dir: dir, manifest: m, plan: p, servers: env.servers, scopeID: env.scopeID,
			echo: logw, logf: logf, limits: env.limits,
		})
		switch {
		case ctx.Err() != nil:
			it.err = errInterrupted
			return
		case sctx.Err() != nil && err != nil:
			rep = timedOut(rep, dir, m, p, o.timeout)
			logf("stopped: %s", rep.Problem.Message)
		case err != nil:
			it.err = err
			return
		}
	}
	rep.Submission.Path = it.src
	if err := writeSubmissionReports(it.outDir, rep, o.formats); err != nil {
		it.err = &services.EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
		return
	}
	it.rep = rep
}

// loadForBatch reads the copy's manifest and makes its plan. A manifest the
// grader cannot use is the learner's problem: it comes back as a Problem,
// with a plan made from the flags alone so that the report still lists
// every check.
func loadForBatch(o *batchOptions, dir string) (*submission.Manifest, *plan, *grader.Problem) {
	m, err := submission.Load(dir)
	if err == nil {
		p, perr := makePlan(o.run, m, o.seedSet)
		if perr == nil {
			return m, p, nil
		}
		err = perr
	}
	base := &submission.Manifest{Dir: dir}
	p, perr := makePlan(o.run, base, o.seedSet)
	if perr != nil { // cannot happen: the flags were checked before
		p = &plan{}
	}
	var pe *submission.ProjectError
	if errors.As(err, &pe) {
		return base, p, &grader.Problem{Kind: pe.Kind, Message: pe.Message, Hint: pe.Hint, Log: pe.Log}
	}
	return base, p, &grader.Problem{Kind: "manifest", Message: err.Error(),
		Hint: "fix grader.yaml (see 'grader init' for one that works)"}
}

// emptyReport is a report with no results yet, as grade starts one.
func emptyReport(dir string, m *submission.Manifest, p *plan) *grader.Report {
	rep := &grader.Report{
		SchemaVersion: grader.SchemaVersion,
		Grader:        grader.GraderInfo{Version: version()},
		Submission:    grader.SubmissionInfo{Path: dir},
		Track:         checks.Tasks.ID,
		Stage:         p.stage.ID,
		Seed:          p.seed,
		Stages:        []grader.StageResult{},
		Skills:        []grader.SkillScore{},
	}
	if m != nil && (m.Run != "" || m.Docker) {
		rep.Submission.Run = describeRun(m)
	}
	return rep
}

// timedOut turns what a submission had done when its time ran out into its
// report: the checks that had run keep their results, the others are not
// run, and the Problem says why.
func timedOut(rep *grader.Report, dir string, m *submission.Manifest, p *plan, limit time.Duration) *grader.Report {
	if rep == nil {
		rep = emptyReport(dir, m, p)
	}
	msg := fmt.Sprintf("grading took longer than the batch's limit of %s per submission", limit)
	rep.Problem = &grader.Problem{Kind: "timeout", Message: msg,
		Hint: "a build that waits for input, a service that never answers, or a very slow start can cause this; grader.log next to this report shows how far it got"}
	if len(rep.Stages) == 0 {
		rep.Stages = notRunResults(p, msg)
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

// batchFileNames maps the report formats batch can write per submission
// to their file names in <out>/<name>/ (text and json are always written).
var batchFileNames = map[string]string{
	"text":       "report.txt",
	"json":       "report.json",
	"junit":      "report.xml",
	"markdown":   "report.md",
	"classroom":  "classroom.json",
	"gradescope": "results.json",
}

// writeSubmissionReports writes report.txt, the extra formats, then
// report.json (last and atomically: its presence means "graded").
func writeSubmissionReports(dir string, rep *grader.Report, formats []string) error {
	for _, f := range append([]string{"text"}, formats...) {
		if err := writeReportAtomic(filepath.Join(dir, batchFileNames[f]), f, rep); err != nil {
			return err
		}
	}
	if err := writeReportAtomic(filepath.Join(dir, batchFileNames["json"]), "json", rep); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "error.txt"))
	return nil
}

func writeReportAtomic(path, format string, rep *grader.Report) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, err)
	}
	werr := f.Chmod(0o644)
	if werr == nil {
		werr = report.Write(f, format, rep, report.Options{})
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot write %s: %v", path, werr)
	}
	return nil
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
	var ee *services.EnvError
	if errors.As(it.err, &ee) && ee.Fix != "" && !strings.Contains(msg, ee.Fix) {
		msg += "\nfix: " + ee.Fix
	}
	_ = os.WriteFile(filepath.Join(it.outDir, "error.txt"), []byte(msg+"\n"), 0o644)
	_ = os.Remove(filepath.Join(it.outDir, "report.json"))
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
