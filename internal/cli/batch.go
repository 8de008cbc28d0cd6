package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services"
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
the others beyond that limit. Each process of its build and service is also
limited to twice --timeout of CPU time, files of 1 GiB, 4096 open files and
4 GiB of data (heap).

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
		var stop func()
		servers, stop, err = startServers(ctx, sopts, need, logf)
		defer stop()
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

	limits := batchLimits(o.timeout)
	logf("grading %s at stage %s, %d at a time, at most %s each; limits for each process: %s",
		countOf(len(todo), "submission", "submissions"), o.run.stage, o.parallel, o.timeout, limits)
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
					gradeOne(ctx, o, it, batchEnv{servers: servers, scopeID: fmt.Sprintf("%ss%d", runID, i+1), tmp: tmp, limits: limits})
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
	limits  submission.Limits
}

// batchLimits are the resource limits of every process of a submission's
// build and service (a submission is untrusted code): CPU time twice the
// wall-clock limit (a process may keep more than one core busy), files of
// 1 GiB, 4096 open files and 4 GiB of data. The wall-clock limit ends the
// whole submission; these end one process that runs away before that.
func batchLimits(timeout time.Duration) submission.Limits {
	return submission.Limits{
		CPUSeconds: uint64(math.Ceil(2 * timeout.Seconds())),
		FileBytes:  1 << 30,
		OpenFiles:  4096,
		DataBytes:  4 << 30,
	}
}

// startServers starts the servers of need. stop closes them (never nil,
// call it even on an error: a failed start may leave some behind).
func startServers(ctx context.Context, opts services.Options, need []grader.Service, logf func(string, ...any)) (*services.Servers, func(), error) {
	servers, err := services.Start(ctx, opts, need)
	stop := func() {
		if servers == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := servers.Close(cctx); err != nil {
			logf("cleanup: %v (run 'grader clean' to remove what is left)", err)
		}
	}
	if ctx.Err() != nil {
		return servers, stop, errInterrupted
	}
	return servers, stop, err
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

// countOf is "1 submission" or "3 submissions".
func countOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
