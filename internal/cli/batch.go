package cli

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/skills"
	"github.com/backend-grader/grader/internal/submission"
)

// batchOptions are the flags of `grader batch`.
type batchOptions struct {
	ios      *IOStreams
	dirs     []string
	list     string
	run      runFlags
	seedSet  bool
	svc      serviceFlags
	parallel int
	out      string
	force    bool
	timeout  time.Duration
	formats  []string
	quiet    bool
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

// defaultParallel is half the CPUs, at least 1 and at most 4: the checks
// have timeouts, and a loaded machine makes a correct service look slow.
func defaultParallel() int { return min(4, max(1, runtime.NumCPU()/2)) }

func newCmdBatch(ios *IOStreams) *cobra.Command {
	o := &batchOptions{ios: ios}
	cmd := &cobra.Command{
		Use:   "batch DIR... --stage STAGE",
		Short: "Grade many submissions at once (each subdirectory of DIR is one)",
		Long: `Grade every submission in DIR (each subdirectory is one submission; several
DIRs may be given) or listed in a file (--list), on one set of Postgres, Redis
and RabbitMQ servers started once for the whole batch. Each submission gets a
database, a Redis database and a vhost of its own, is copied to a temporary
directory before it is built, and is graded within its own time limit
(--timeout), so a submission that hangs or floods its output never holds up
the others beyond that limit.

Written to --out (default ./grader-out):
  <name>/report.json, <name>/report.txt   each submission's report
  <name>/grader.log                        what the grader and the service printed (capped)
  <name>/error.txt                         why a submission could not be graded at all
  grades.csv                               one row per submission: scores per stage and skill
  summary.md                               class statistics: scores, most failed checks, stages

Running the same command again grades only the submissions without a
report.json (new ones, and those that could not be graded); --force grades
all of them again.

Exit codes: 0 every submission was graded (whatever the grades), 2 usage
error, 3 the grader's environment failed or some submission could not be
graded (re-run to retry those), 130 interrupted.`,
		Example: `  grader batch ./submissions --stage caching
  grader batch ./class-a ./class-b --stage rest --parallel 3 --out grades-rest
  grader batch --list repos.txt --stage auth --timeout 10m --format junit`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dirs = args
			o.seedSet = cmd.Flags().Changed("seed")
			return runBatch(cmd.Context(), o)
		},
	}
	registerRunFlags(cmd, &o.run)
	o.svc.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("stage").Usage = "the stage to grade every submission at (required); earlier stages run too"
	fl.Lookup("seed").Usage = "one seed for every submission (default: a random one each, printed in its report)"
	fl.IntVarP(&o.parallel, "parallel", "j", defaultParallel(), "how many submissions to grade at the same time")
	fl.StringVar(&o.out, "out", "grader-out", "directory for the reports, grades.csv and summary.md")
	fl.BoolVar(&o.force, "force", false, "grade again the submissions that already have a report.json in --out")
	fl.DurationVar(&o.timeout, "timeout", 5*time.Minute, "wall-clock limit per submission (copy, build, start and checks)")
	fl.StringVar(&o.list, "list", "", "file listing submission directories, one a line (# comments; relative to the file; - for stdin)")
	fl.StringArrayVar(&o.formats, "format", nil, "also write this report format per submission: junit, markdown, classroom or gradescope (repeatable)")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "only the line per finished submission on stderr")
	return cmd
}

// batchItem is one submission of a batch.
type batchItem struct {
	name   string // its directory under --out, and its name in grades.csv
	src    string // absolute path of the submission
	outDir string

	skipped bool           // an earlier report.json was kept
	rep     *grader.Report // the report (nil when not graded)
	err     error          // why it could not be graded
	dur     time.Duration
}

func (it *batchItem) row() batchRow {
	r := batchRow{name: it.name, rep: it.rep}
	if it.err != nil {
		r.err = it.err.Error()
	}
	return r
}

func runBatch(ctx context.Context, o *batchOptions) error {
	if o.run.stage == "" {
		return usagef("grader batch needs --stage: every submission is graded at the same stage so that the grades compare; the stages are: %s", strings.Join(stageIDs(), ", "))
	}
	// Flags alone must make a valid plan (stage, --check, --env), before
	// anything starts.
	if _, err := makePlan(o.run, &submission.Manifest{}, true); err != nil {
		return err
	}
	if o.parallel < 1 || o.parallel > 64 {
		return usagef("--parallel %d: give a number from 1 to 64", o.parallel)
	}
	if o.timeout <= 0 {
		return usagef("--timeout %s: give a positive duration such as 5m", o.timeout)
	}
	for _, f := range o.formats {
		if _, ok := batchFileNames[f]; !ok || f == "text" || f == "json" {
			return usagef("--format %q: batch always writes text and json; it can add junit, markdown, classroom or gradescope", f)
		}
	}
	if len(o.dirs) == 0 && o.list == "" {
		return usagef("no submissions: give a directory whose subdirectories are the submissions (grader batch ./submissions --stage S), or --list FILE")
	}
	outAbs, err := filepath.Abs(o.out)
	if err != nil {
		return usagef("--out %q: %v", o.out, err)
	}
	items, err := collectSubmissions(o.ios, o.dirs, o.list, outAbs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outAbs, 0o755); err != nil {
		return usagef("cannot create the output directory %s: %v", outAbs, err)
	}
	for _, it := range items {
		it.outDir = filepath.Join(outAbs, it.name)
	}
	if err := keepEarlierReports(items, o.run.stage, o.force); err != nil {
		return err
	}

	ios := o.ios
	logf := logger(ios.ErrOut)
	if o.quiet {
		logf = func(string, ...any) {}
	}
	var todo []*batchItem
	var kept []string
	for _, it := range items {
		if it.skipped {
			kept = append(kept, it.name)
		} else {
			todo = append(todo, it)
		}
	}
	if len(kept) > 0 {
		logf("kept %s graded earlier (report.json in %s; --force grades them again): %s",
			countOf(len(kept), "submission", "submissions"), outAbs, strings.Join(kept, ", "))
	}

	start := time.Now()
	var runErr error
	if len(todo) > 0 {
		runErr = gradeBatch(ctx, o, todo, logf)
	}
	rows := make([]batchRow, len(items))
	for i, it := range items {
		rows[i] = it.row()
	}
	if err := writeBatchFiles(outAbs, o.run.stage, rows); err != nil {
		return err
	}
	t := tallyRows(rows)
	logf("%s in %s: %d passed, %d not passed, %d not graded; wrote %s and %s",
		countOf(len(items), "submission", "submissions"), time.Since(start).Round(100*time.Millisecond),
		t.passed, t.graded-t.passed, t.notGraded,
		filepath.Join(o.out, "grades.csv"), filepath.Join(o.out, "summary.md"))

	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return errInterrupted
	}
	if t.notGraded > 0 {
		var names []string
		for _, r := range rows {
			if r.rep == nil {
				names = append(names, r.name)
			}
		}
		return &services.EnvError{
			Message: fmt.Sprintf("%s of %d could not be graded: %s", countOf(t.notGraded, "submission", "submissions"), len(rows), strings.Join(names, ", ")),
			Fix:     fmt.Sprintf("see error.txt in each one's directory under %s, fix the cause, and run the same command again: it grades only those", o.out),
		}
	}
	return nil
}

// gradeBatch starts the services once, then grades todo with o.parallel
// workers, printing a line per finished submission.
func gradeBatch(ctx context.Context, o *batchOptions, todo []*batchItem, logf func(string, ...any)) error {
	// The union of what the submissions need (grader.yaml may raise the
	// stage or list services).
	seen := map[grader.Service]bool{}
	var need []grader.Service
	for _, it := range todo {
		for _, svc := range submissionNeeds(o.run, it.src) {
			if !seen[svc] {
				seen[svc] = true
				need = append(need, svc)
			}
		}
	}
	runID := newRunID()
	var servers *services.Servers
	if len(need) > 0 {
		sopts, err := o.svc.options(runID, logf)
		if err != nil {
			return err
		}
		servers, err = services.Start(ctx, sopts, need)
		if servers != nil {
			defer func() {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if err := servers.Close(cctx); err != nil {
					logf("cleanup: %v (run 'grader clean' to remove what is left)", err)
				}
			}()
		}
		if ctx.Err() != nil {
			return errInterrupted
		}
		if err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "grader-batch-")
	if err != nil {
		return &services.EnvError{Message: fmt.Sprintf("cannot create a temporary directory for the copies of the submissions: %v", err),
			Fix: "make sure the temporary directory (TMPDIR) exists and is writable"}
	}
	defer os.RemoveAll(tmp)

	logf("grading %s at stage %s, %d at a time, at most %s each", countOf(len(todo), "submission", "submissions"), o.run.stage, o.parallel, o.timeout)
	width := 0
	for _, it := range todo {
		width = max(width, len(it.name))
	}
	var (
		mu       sync.Mutex
		done     int
		envErr   error
		aborted  atomic.Bool
		wg       sync.WaitGroup
		queue    = make(chan int)
		progress = o.ios.ErrOut
	)
	for w := 0; w < o.parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				it := todo[i]
				if aborted.Load() {
					it.err = errors.New("not graded: the grader's environment failed earlier in the batch")
				} else {
					t := time.Now()
					gradeOne(ctx, o, it, batchEnv{servers: servers, scopeID: fmt.Sprintf("%ss%d", runID, i+1), tmp: tmp})
					it.dur = time.Since(t)
				}
				var ee *services.EnvError
				if errors.As(it.err, &ee) && aborted.CompareAndSwap(false, true) {
					mu.Lock()
					envErr = it.err
					mu.Unlock()
				}
				if errors.Is(it.err, errInterrupted) {
					continue
				}
				if it.err != nil {
					writeNotGraded(it)
				}
				mu.Lock()
				done++
				fmt.Fprintln(progress, progressLine(done, len(todo), width, it))
				mu.Unlock()
			}
		}()
	}
	for i := range todo {
		if ctx.Err() != nil {
			break
		}
		queue <- i
	}
	close(queue)
	wg.Wait()
	if ctx.Err() != nil {
		for _, it := range todo {
			if it.rep == nil && (it.err == nil || errors.Is(it.err, errInterrupted)) {
				it.err = errors.New("not graded: the batch was interrupted (run the same command again to grade it)")
			}
		}
		return errInterrupted
	}
	return envErr
}

// batchEnv is what every submission of a batch shares.
type batchEnv struct {
	servers *services.Servers
	scopeID string
	tmp     string
}

// submissionNeeds is the services a submission needs: from its manifest,
// or from the flags alone when the manifest cannot be read (it will be
// reported as the learner's problem).
func submissionNeeds(f runFlags, dir string) []grader.Service {
	m, err := submission.Load(dir)
	if err != nil {
		m = &submission.Manifest{}
	}
	p, err := makePlan(f, m, true)
	if err != nil {
		p, err = makePlan(f, &submission.Manifest{}, true)
		if err != nil {
			return nil
		}
	}
	return p.need
}

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
		rep.Stages = notRunResults(p, "not run: "+problem.Message)
		rep.Tally()
	} else {
		logf("grading %s: %s", it.src, p.describe())
		rep, err = grade(sctx, gradeInput{
			dir: dir, manifest: m, plan: p, servers: env.servers, scopeID: env.scopeID,
			echo: logw, logf: logf,
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
		rep.Stages = notRunResults(p, "not run: "+msg)
	}
	for i := range rep.Stages {
		for j := range rep.Stages[i].Checks {
			c := &rep.Stages[i].Checks[j]
			if c.Status == grader.StatusError && (c.Message == "interrupted" || strings.HasPrefix(c.Message, "not run: the grader was interrupted")) {
				c.Message = "not run: " + msg
			}
		}
	}
	rep.Tally()
	return rep
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

// progressLine is "[3/6] alice  41/50  not passed  (12.3s)".
func progressLine(n, total, width int, it *batchItem) string {
	head := fmt.Sprintf("[%d/%d] %-*s", n, total, width, it.name)
	secs := fmt.Sprintf("(%.1fs)", it.dur.Seconds())
	if it.rep == nil {
		return fmt.Sprintf("%s  not graded: %s  %s", head, oneLineCut(errText(it.err), 160), secs)
	}
	verdict := "not passed"
	if it.rep.Passed {
		verdict = "passed"
	}
	line := fmt.Sprintf("%s  %d/%d  %s  %s", head, it.rep.Score, it.rep.MaxScore, verdict, secs)
	if p := it.rep.Problem; p != nil {
		line += "  " + p.Kind + ": " + oneLineCut(p.Message, 120)
	}
	return line
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// oneLineCut folds s onto one line of at most n runes.
func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
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

// ---- finding the submissions ----

// collectSubmissions lists the submissions: each subdirectory of each of
// dirs (hidden ones and the output directory left out), then each path in
// the list file. Names (the base names) must be unique.
func collectSubmissions(ios *IOStreams, dirs []string, list, outAbs string) ([]*batchItem, error) {
	var paths []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, usagef("submissions directory %q: %v", d, err)
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, usagef("cannot read the submissions directory %q: %v", d, err)
		}
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(abs, e.Name())
			if st, err := os.Stat(path); err != nil || !st.IsDir() {
				continue
			}
			if path == outAbs || isBatchOutput(path) {
				continue
			}
			paths = append(paths, path)
			n++
		}
		if n == 0 {
			msg := fmt.Sprintf("%s has no subdirectories: each subdirectory of DIR is one submission", d)
			if looksLikeProject(abs) {
				msg += fmt.Sprintf(" (%s looks like one project: grade it with 'grader check %s')", d, d)
			}
			return nil, usagef("%s", msg)
		}
	}
	if list != "" {
		listed, err := readList(ios, list)
		if err != nil {
			return nil, err
		}
		paths = append(paths, listed...)
	}
	return nameSubmissions(paths)
}

// readList reads a list file: one directory a line, # comments, paths
// relative to the file's directory ("-": stdin, relative to the current
// directory).
func readList(ios *IOStreams, list string) ([]string, error) {
	var r io.Reader
	base := "."
	if list == "-" {
		r = ios.In
	} else {
		f, err := os.Open(list)
		if err != nil {
			return nil, usagef("--list %q: %v", list, err)
		}
		defer f.Close()
		r = f
		base = filepath.Dir(list)
	}
	var paths []string
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(base, s)
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, usagef("--list %s line %d: %v", list, line, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, usagef("--list %s line %d: %s is not a directory", list, line, abs)
		}
		paths = append(paths, abs)
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--list %q: %v", list, err)
	}
	if len(paths) == 0 {
		return nil, usagef("--list %s names no directory: write one submission directory a line", list)
	}
	return paths, nil
}

// nameSubmissions names each path by its base name; when two share one,
// by parent-base; when that is still ambiguous, it is a usage error.
func nameSubmissions(paths []string) ([]*batchItem, error) {
	seen := map[string]bool{}
	var uniq []string
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	count := map[string]int{}
	for _, p := range uniq {
		count[filepath.Base(p)]++
	}
	byName := map[string]string{}
	var items []*batchItem
	for _, p := range uniq {
		name := filepath.Base(p)
		if count[name] > 1 {
			name = filepath.Base(filepath.Dir(p)) + "-" + name
		}
		name = safeName(name)
		if other, ok := byName[name]; ok {
			return nil, usagef("two submissions would share the name %q: %s and %s; rename one, or grade them in separate batches with separate --out", name, other, p)
		}
		byName[name] = p
		items = append(items, &batchItem{name: name, src: p})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	return items, nil
}

// safeName keeps a name usable as a directory name and a CSV cell.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// isBatchOutput recognises an earlier batch's output directory.
func isBatchOutput(dir string) bool {
	_, e1 := os.Stat(filepath.Join(dir, "grades.csv"))
	_, e2 := os.Stat(filepath.Join(dir, "summary.md"))
	return e1 == nil && e2 == nil
}

func looksLikeProject(dir string) bool {
	for _, f := range []string{"grader.yaml", "grader.yml", "go.mod", "package.json", "Dockerfile", "run.sh", "main.py", "app.py"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// keepEarlierReports marks the submissions whose report.json exists as
// skipped (unless force). A report of another stage is a usage error: its
// grades would not compare.
func keepEarlierReports(items []*batchItem, stage string, force bool) error {
	if force {
		return nil
	}
	var other []string
	for _, it := range items {
		data, err := os.ReadFile(filepath.Join(it.outDir, "report.json"))
		if err != nil {
			continue
		}
		var rep grader.Report
		if json.Unmarshal(data, &rep) != nil || rep.SchemaVersion == 0 {
			continue // unreadable: grade it again
		}
		if rep.Stage != stage {
			other = append(other, fmt.Sprintf("%s (stage %s)", it.name, rep.Stage))
			continue
		}
		it.rep, it.skipped = &rep, true
	}
	if len(other) > 0 {
		return usagef("the output directory already holds reports of another stage: %s; use another --out, or --force to grade them again at stage %s",
			strings.Join(other, ", "), stage)
	}
	return nil
}

// copyTree copies the submission at src to dst: regular files with their
// modes, symlinks as symlinks (never followed), no .git and no build output
// of an earlier local run.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() && rel != "." && (d.Name() == ".git" || d.Name() == ".grader-bin") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case t.IsDir():
			return os.MkdirAll(target, 0o755)
		case t&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, target, info.Mode().Perm())
		default:
			return nil // sockets, pipes, devices: not part of a project
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ---- grades.csv and summary.md ----

// batchRow is one submission's line in grades.csv and summary.md.
type batchRow struct {
	name string
	rep  *grader.Report // nil when not graded
	err  string         // why it was not graded
}

// writeBatchFiles writes grades.csv and summary.md into dir.
func writeBatchFiles(dir, stage string, rows []batchRow) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"grades.csv", func(w io.Writer) error { return writeGradesCSV(w, rows) }},
		{"summary.md", func(w io.Writer) error { return writeSummary(w, stage, rows) }},
	} {
		path := filepath.Join(dir, f.name)
		fh, err := os.Create(path)
		if err != nil {
			return &services.EnvError{Message: fmt.Sprintf("cannot write %s: %v", path, err), Fix: "choose a writable --out directory"}
		}
		werr := f.write(fh)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return &services.EnvError{Message: fmt.Sprintf("cannot write %s: %v", path, werr), Fix: "choose a writable --out directory with free space"}
		}
	}
	return nil
}

// batchColumns are the stage and skill ids that appear in any report, in
// track and catalogue order.
func batchColumns(rows []batchRow) (stageIDs, skillIDs []string) {
	haveStage, haveSkill := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if r.rep == nil {
			continue
		}
		for _, s := range r.rep.Stages {
			haveStage[s.ID] = true
		}
		for _, s := range r.rep.Skills {
			haveSkill[s.ID] = true
		}
	}
	for _, s := range checks.Tasks.Stages {
		if haveStage[s.ID] {
			stageIDs = append(stageIDs, s.ID)
			delete(haveStage, s.ID)
		}
	}
	var rest []string
	for id := range haveStage {
		rest = append(rest, id)
	}
	sort.Strings(rest)
	stageIDs = append(stageIDs, rest...)
	for id := range haveSkill {
		skillIDs = append(skillIDs, id)
	}
	sort.Slice(skillIDs, func(i, j int) bool {
		oi, oj := skills.Order(skillIDs[i]), skills.Order(skillIDs[j])
		if oi != oj {
			return oi < oj
		}
		return skillIDs[i] < skillIDs[j]
	})
	return stageIDs, skillIDs
}

// writeGradesCSV writes one row per submission: submission, passed, score,
// maxScore, stage:<id>..., skill:<id>..., problem, error. A submission that
// was not graded has empty score cells and its reason under error.
func writeGradesCSV(w io.Writer, rows []batchRow) error {
	stageIDs, skillIDs := batchColumns(rows)
	cw := csv.NewWriter(w)
	head := []string{"submission", "passed", "score", "maxScore"}
	for _, id := range stageIDs {
		head = append(head, "stage:"+id)
	}
	for _, id := range skillIDs {
		head = append(head, "skill:"+id)
	}
	head = append(head, "problem", "error")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range rows {
		rec := make([]string, 0, len(head))
		rec = append(rec, csvText(r.name))
		if r.rep == nil {
			for range len(head) - 2 {
				rec = append(rec, "")
			}
			rec = append(rec, csvText(oneLineCut(r.err, 500)))
			if err := cw.Write(rec); err != nil {
				return err
			}
			continue
		}
		rep := r.rep
		rec = append(rec, strconv.FormatBool(rep.Passed), strconv.Itoa(rep.Score), strconv.Itoa(rep.MaxScore))
		for _, id := range stageIDs {
			cell := ""
			for _, s := range rep.Stages {
				if s.ID == id {
					cell = strconv.Itoa(s.Score)
				}
			}
			rec = append(rec, cell)
		}
		for _, id := range skillIDs {
			cell := ""
			for _, s := range rep.Skills {
				if s.ID == id {
					cell = strconv.Itoa(s.Score)
				}
			}
			rec = append(rec, cell)
		}
		problem := ""
		if rep.Problem != nil {
			problem = rep.Problem.Kind + ": " + oneLineCut(rep.Problem.Message, 300)
		}
		rec = append(rec, csvText(problem), "")
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText keeps a spreadsheet from reading a text cell as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// rowTally counts a batch's outcomes.
type rowTally struct{ graded, passed, notGraded int }

func tallyRows(rows []batchRow) rowTally {
	var t rowTally
	for _, r := range rows {
		switch {
		case r.rep == nil:
			t.notGraded++
		case r.rep.Passed:
			t.graded++
			t.passed++
		default:
			t.graded++
		}
	}
	return t
}

// percent is score/max in percent (100 when there was nothing to score).
func percent(score, maxScore int) float64 {
	if maxScore <= 0 {
		return 100
	}
	return 100 * float64(score) / float64(maxScore)
}

// writeSummary writes summary.md: counts, the score distribution, the
// checks that fail most (with their most common messages), per-stage pass
// rates and the submissions that did not run normally.
func writeSummary(w io.Writer, stage string, rows []batchRow) error {
	var b strings.Builder
	t := tallyRows(rows)
	fmt.Fprintf(&b, "# Batch summary: stage `%s`\n\n", stage)
	fmt.Fprintf(&b, "%s · **%d passed** · **%d not passed**", countOf(len(rows), "submission", "submissions"), t.passed, t.graded-t.passed)
	if t.notGraded > 0 {
		fmt.Fprintf(&b, " · **%d not graded**", t.notGraded)
	}
	b.WriteString("\n\nEach submission's report is in `<name>/report.txt`; `grades.csv` has every score per stage and skill.\n")

	var graded []*grader.Report
	for _, r := range rows {
		if r.rep != nil {
			graded = append(graded, r.rep)
		}
	}
	if len(graded) > 0 {
		summaryScores(&b, graded)
		summaryFailures(&b, graded)
		summaryStages(&b, graded)
	}
	summaryProblems(&b, rows)
	_, err := io.WriteString(w, b.String())
	return err
}

func summaryScores(b *strings.Builder, reps []*grader.Report) {
	pcts := make([]float64, len(reps))
	sameMax := true
	for i, r := range reps {
		pcts[i] = percent(r.Score, r.MaxScore)
		sameMax = sameMax && r.MaxScore == reps[0].MaxScore
	}
	scores := make([]float64, len(reps))
	for i, r := range reps {
		scores[i] = float64(r.Score)
	}
	slices.Sort(pcts)
	slices.Sort(scores)
	b.WriteString("\n## Scores\n\n")
	if sameMax {
		mx := reps[0].MaxScore
		b.WriteString("| | score | % |\n|---|---:|---:|\n")
		fmt.Fprintf(b, "| min | %s/%d | %.0f%% |\n", num(scores[0]), mx, pcts[0])
		fmt.Fprintf(b, "| median | %s/%d | %.0f%% |\n", num(median(scores)), mx, median(pcts))
		fmt.Fprintf(b, "| max | %s/%d | %.0f%% |\n", num(scores[len(scores)-1]), mx, pcts[len(pcts)-1])
	} else {
		b.WriteString("Scores in percent of each submission's maximum (skipped checks count in neither).\n\n")
		b.WriteString("| | % |\n|---|---:|\n")
		fmt.Fprintf(b, "| min | %.0f%% |\n| median | %.0f%% |\n| max | %.0f%% |\n", pcts[0], median(pcts), pcts[len(pcts)-1])
	}
	b.WriteString("\n```\n")
	b.WriteString(histogram(pcts))
	b.WriteString("```\n")
}

// histogram draws ten 10%-wide buckets (the last one includes 100%).
func histogram(pcts []float64) string {
	var counts [10]int
	for _, p := range pcts {
		i := int(math.Floor(p / 10))
		counts[min(max(i, 0), 9)]++
	}
	most := slices.Max(counts[:])
	var b strings.Builder
	for i, n := range counts {
		label := fmt.Sprintf("%d–%d%%", i*10, i*10+9)
		if i == 9 {
			label = "90–100%"
		}
		bar := n
		if most > 40 {
			bar = int(math.Ceil(float64(n) * 40 / float64(most)))
		}
		fmt.Fprintf(&b, "%-8s %s %d\n", label, strings.Repeat("█", bar), n)
	}
	return b.String()
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// num prints 41 or 40.5.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

var (
	uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	hostPort    = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)
	tmpCopy     = regexp.MustCompile(`\S*/grader-batch-\d+/`)
)

// messageKey groups messages that differ only by random data: ids, ports
// and the temporary copy's path.
func messageKey(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	msg = uuidPattern.ReplaceAllString(msg, "<id>")
	msg = hostPort.ReplaceAllString(msg, "$1:PORT")
	msg = tmpCopy.ReplaceAllString(msg, "")
	return oneLineCut(msg, 140)
}

type failStat struct {
	id, title string
	count     int
	messages  map[string]int
}

func summaryFailures(b *strings.Builder, reps []*grader.Report) {
	stats := map[string]*failStat{}
	var order []string
	for _, r := range reps {
		for _, s := range r.Stages {
			for _, c := range s.Checks {
				notRun := c.Status == grader.StatusError && strings.HasPrefix(c.Message, "not run")
				if (c.Status != grader.StatusFail && c.Status != grader.StatusError) || notRun {
					continue
				}
				st := stats[c.ID]
				if st == nil {
					st = &failStat{id: c.ID, title: c.Title, messages: map[string]int{}}
					stats[c.ID] = st
					order = append(order, c.ID)
				}
				st.count++
				st.messages[messageKey(c.Message)]++
			}
		}
	}
	b.WriteString("\n## Checks that fail most\n\n")
	if len(stats) == 0 {
		b.WriteString("No check failed in the submissions that ran.\n")
		return
	}
	list := make([]*failStat, 0, len(stats))
	for _, id := range order {
		list = append(list, stats[id])
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].count > list[j].count })
	if len(list) > 10 {
		list = list[:10]
	}
	b.WriteString("| check | failed in | most common messages |\n|---|---:|---|\n")
	for _, st := range list {
		type mc struct {
			msg string
			n   int
		}
		var ms []mc
		for m, n := range st.messages {
			ms = append(ms, mc{m, n})
		}
		sort.Slice(ms, func(i, j int) bool {
			if ms[i].n != ms[j].n {
				return ms[i].n > ms[j].n
			}
			return ms[i].msg < ms[j].msg
		})
		var parts []string
		for i, m := range ms {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d other", len(ms)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%d)", mdCell(m.msg), m.n))
		}
		fmt.Fprintf(b, "| `%s` %s | %d of %d | %s |\n", st.id, mdCell(st.title), st.count, len(reps), strings.Join(parts, "<br>"))
	}
}

func summaryStages(b *strings.Builder, reps []*grader.Report) {
	rows := make([]batchRow, len(reps))
	for i, r := range reps {
		rows[i] = batchRow{rep: r}
	}
	stageIDs, _ := batchColumns(rows)
	b.WriteString("\n## Stages\n\n| stage | passed | pass rate |\n|---|---:|---:|\n")
	for _, id := range stageIDs {
		n, passed := 0, 0
		for _, r := range reps {
			for _, s := range r.Stages {
				if s.ID == id {
					n++
					if s.Passed {
						passed++
					}
				}
			}
		}
		fmt.Fprintf(b, "| %s | %d of %d | %.0f%% |\n", id, passed, n, 100*float64(passed)/float64(max(n, 1)))
	}
}

func summaryProblems(b *strings.Builder, rows []batchRow) {
	var lines []string
	for _, r := range rows {
		switch {
		case r.rep == nil:
			lines = append(lines, fmt.Sprintf("- **%s**: not graded: %s", mdText(r.name), mdText(oneLineCut(r.err, 300))))
		case r.rep.Problem != nil:
			lines = append(lines, fmt.Sprintf("- **%s**: %s: %s", mdText(r.name), r.rep.Problem.Kind, mdText(oneLineCut(r.rep.Problem.Message, 300))))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\n## Submissions that did not run normally\n\n")
	b.WriteString(strings.Join(lines, "\n"))
	b.WriteString("\n")
}

// mdCell makes s safe inside a markdown table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdText folds s onto one line and escapes what would start markup.
func mdText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

// countOf is "1 submission" or "3 submissions".
func countOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
