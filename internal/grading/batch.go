package grading

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
)

// BatchPlan is one `grader batch`: the submissions, what to run on each,
// and how.
type BatchPlan struct {
	Dirs      []string  // each subdirectory of each is one submission
	List      string    // a file listing submission directories ("-": ListInput)
	ListInput io.Reader // what --list - reads
	Selection Selection // Stage is required
	Services  ServiceOptions
	Parallel  int
	Out       string        // the output directory
	Force     bool          // grade again the submissions with a report.json
	Timeout   time.Duration // wall-clock limit per submission
	Formats   []string      // extra report formats per submission
	Version   string
	// Key signs the reports and verifies earlier ones (zero: LoadBatchKey).
	Key BatchKey
	// Sandbox confines each submission in containers of its own (DESIGN
	// §6); nil (--no-sandbox) runs them as host processes.
	Sandbox *Sandbox
	// Shard, when set, is the slice of the sorted submissions this run
	// grades (see ShardOf).
	Shard Shard
	// Log receives the [grader] lines (nil: none); Progress the line per
	// finished submission.
	Log      io.Writer
	Progress io.Writer
}

// DefaultParallel is half the CPUs, at least 1 and at most 4: the checks
// have timeouts, and a loaded machine makes a correct service look slow.
func DefaultParallel() int { return min(4, max(1, runtime.NumCPU()/2)) }

// batchItem is one submission of a batch.
type batchItem struct {
	name   string // its directory under --out, and its name in grades.csv
	src    string // absolute path of the submission
	outDir string

	skipped bool           // an earlier report.json was kept
	regrade string         // why an earlier report.json was not kept
	rep     *grader.Report // the report (nil when not graded)
	err     error          // why it could not be graded
	dur     time.Duration
}

func (it *batchItem) row() report.GradebookRow {
	r := report.GradebookRow{Name: it.name, Report: it.rep}
	if it.err != nil {
		r.Err = it.err.Error()
	}
	return r
}

// Batch grades many submissions on one set of servers and writes each
// one's reports, grades.csv and summary.md into o.Out. It returns nil when
// every submission was graded (whatever the grades); an *EnvError when the
// environment failed or some submission could not be graded (a re-run
// grades only those); ErrInterrupted.
func Batch(ctx context.Context, o BatchPlan, sys System) error {
	if o.Selection.Stage == "" {
		return Usagef("grader batch needs --stage: every submission is graded at the same stage so that the grades compare; the stages are: %s", strings.Join(StageIDs(), ", "))
	}
	// Flags alone must make a valid plan (stage, --check, --env), before
	// anything starts.
	if _, err := NewPlan(seeded(o.Selection), &Project{}); err != nil {
		return err
	}
	if err := validMode(o.Services.Mode); err != nil {
		return err
	}
	if o.Parallel < 1 || o.Parallel > 64 {
		return Usagef("--parallel %d: give a number from 1 to 64", o.Parallel)
	}
	if o.Timeout <= 0 {
		return Usagef("--timeout %s: give a positive duration such as 5m", o.Timeout)
	}
	for _, f := range o.Formats {
		if _, ok := report.SubmissionFiles[f]; !ok || f == "text" || f == "json" {
			return Usagef("--format %q: batch always writes text and json; it can add junit, markdown, classroom or gradescope", f)
		}
	}
	if len(o.Dirs) == 0 && o.List == "" {
		return Usagef("no submissions: give a directory whose subdirectories are the submissions (grader batch ./submissions --stage S), or --list FILE")
	}
	outAbs, err := filepath.Abs(o.Out)
	if err != nil {
		return Usagef("--out %q: %v", o.Out, err)
	}
	items, err := collectSubmissions(o.ListInput, o.Dirs, o.List, outAbs)
	if err != nil {
		return err
	}
	total := len(items)
	items = ShardOf(items, o.Shard) // items are sorted by name
	if err := os.MkdirAll(outAbs, 0o755); err != nil {
		return Usagef("cannot create the output directory %s: %v", outAbs, err)
	}
	for _, it := range items {
		it.outDir = filepath.Join(outAbs, it.name)
	}
	if len(o.Key.key) == 0 {
		if o.Key, err = LoadBatchKey(); err != nil {
			return err
		}
	}
	if err := o.Key.checkOutShard(outAbs, o.Shard, o.Force); err != nil {
		return err
	}
	if err := keepEarlierReports(items, o.Selection.Stage, o.Force, o.Key); err != nil {
		return err
	}

	logf := func(string, ...any) {}
	if o.Log != nil {
		logf = Logger(o.Log)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Shard.IsSet() {
		logf("shard %s: %d of the %d submissions (sorted by name, dealt round-robin)", o.Shard, len(items), total)
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
	for _, it := range todo {
		if it.regrade != "" {
			logf("grading %s again: %s", it.name, it.regrade)
		}
	}
	if len(kept) > 0 {
		logf("kept %s graded earlier (report.json in %s; --force grades them again): %s",
			countOf(len(kept), "submission", "submissions"), outAbs, strings.Join(kept, ", "))
	}

	start := time.Now()
	var runErr error
	if len(todo) > 0 {
		runErr = gradeBatch(ctx, o, sys, todo, logf)
	}
	book := report.Gradebook{Stage: o.Selection.Stage, StageOrder: StageIDs()}
	for _, it := range items {
		book.Rows = append(book.Rows, it.row())
	}
	if err := report.WriteGradebook(outAbs, book); err != nil {
		return &EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name
	}
	if err := o.Key.writeManifest(outAbs, newManifest(o.Selection, o.Shard, total, names)); err != nil {
		return &EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
	}
	t := book.Tally()
	logf("%s in %s: %d passed, %d not passed, %d not graded; wrote %s and %s",
		countOf(len(items), "submission", "submissions"), time.Since(start).Round(100*time.Millisecond),
		t.Passed, t.Graded-t.Passed, t.NotGraded,
		filepath.Join(o.Out, report.GradesFile), filepath.Join(o.Out, report.SummaryFile))

	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	if t.NotGraded > 0 {
		var names []string
		for _, r := range book.Rows {
			if r.Report == nil {
				names = append(names, r.Name)
			}
		}
		return &EnvError{
			Message: fmt.Sprintf("%s of %d could not be graded: %s", countOf(t.NotGraded, "submission", "submissions"), len(book.Rows), strings.Join(names, ", ")),
			Fix:     fmt.Sprintf("see error.txt in each one's directory under %s, fix the cause, and run the same command again: it grades only those", o.Out),
		}
	}
	return nil
}

// seeded is s with its seed taken as given: for plans made only to
// validate or to list services, where a random seed is of no use.
func seeded(s Selection) Selection {
	s.SeedSet = true
	return s
}

// gradeBatch starts the services once, then grades todo with o.Parallel
// workers, printing a line per finished submission.
func gradeBatch(ctx context.Context, o BatchPlan, sys System, todo []*batchItem, logf func(string, ...any)) error {
	// The union of what the submissions need (grader.yaml may raise the
	// stage or list services).
	seen := map[grader.Service]bool{}
	var need []grader.Service
	for _, it := range todo {
		for _, svc := range submissionNeeds(sys.Launcher, o.Selection, it.src) {
			if !seen[svc] {
				seen[svc] = true
				need = append(need, svc)
			}
		}
	}
	runID := NewRunID()
	unlock, err := holdRun(runID)
	if err != nil {
		return err
	}
	defer unlock()
	var servers Servers
	if len(need) > 0 {
		sopts := o.Services
		sopts.RunID, sopts.Logf = runID, logf
		sopts.Untrusted = true // submissions are untrusted code (DESIGN.md §6)
		var stop func()
		var err error
		servers, stop, err = StartServers(ctx, sys.Services, sopts, need, logf)
		defer stop()
		if err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "grader-batch-")
	if err != nil {
		return &EnvError{Message: fmt.Sprintf("cannot create a temporary directory for the copies of the submissions: %v", err),
			Fix: "make sure the temporary directory (TMPDIR) exists and is writable"}
	}
	defer os.RemoveAll(tmp)

	limits := batchLimits(o.Timeout)
	logf("grading %s at stage %s, %d at a time, at most %s each; limits for each process: %s",
		countOf(len(todo), "submission", "submissions"), o.Selection.Stage, o.Parallel, o.Timeout, limits)
	if o.Sandbox == nil {
		logf("%s", noSandboxNote)
	} else {
		sb := *o.Sandbox
		sb.SharedCache = sandboxCache(tmp)
		o.Sandbox = &sb
		if err := checkSandbox(ctx, sys.Launcher, o.Sandbox, runID, logf); err != nil {
			return err
		}
	}
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
		progress = o.Progress
	)
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				it := todo[i]
				if aborted.Load() {
					it.err = errors.New("not graded: the grader's environment failed earlier in the batch")
				} else {
					t := time.Now()
					env := batchEnv{scopeID: fmt.Sprintf("%ss%d", runID, i+1), tmp: tmp, limits: limits, launcher: sys.Launcher}
					if servers != nil {
						env.servers = servers
					}
					gradeOne(ctx, o, it, env)
					it.dur = time.Since(t)
				}
				var ee *EnvError
				if errors.As(it.err, &ee) && aborted.CompareAndSwap(false, true) {
					mu.Lock()
					envErr = it.err
					mu.Unlock()
				}
				if errors.Is(it.err, ErrInterrupted) {
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
			if it.rep == nil && (it.err == nil || errors.Is(it.err, ErrInterrupted)) {
				it.err = errors.New("not graded: the batch was interrupted (run the same command again to grade it)")
			}
		}
		return ErrInterrupted
	}
	return envErr
}

// batchEnv is what every submission of a batch shares.
type batchEnv struct {
	servers  Provisioner // nil: no services
	launcher Launcher
	scopeID  string
	tmp      string
	limits   Limits
}

// noSandboxNote is said in the log and in every report of a batch run
// with --no-sandbox.
const noSandboxNote = "--no-sandbox: the submission ran as processes of the grader's user, not in a container of its own (for trusted code only)"

// sandboxCache is where the sandbox keeps the Go build cache only the
// grader's own commands write (see internal/submission/gocache.go): in the
// user's cache directory, so that the next batch finds it warm, else in
// the batch's temporary directory.
func sandboxCache(tmp string) string {
	if d, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(d, "grader", "sandbox")
		if os.MkdirAll(dir, 0o755) == nil {
			return dir
		}
	}
	return filepath.Join(tmp, "sandbox-cache")
}

// checkSandbox opens and closes a box before anything is graded, so that a
// machine without a usable Docker engine fails the batch once, with the
// fix, instead of every submission.
func checkSandbox(ctx context.Context, l Launcher, s *Sandbox, runID string, logf func(string, ...any)) error {
	b, err := l.OpenBox(ctx, BoxRequest{Labels: map[string]string{"io.grader.run": runID}, Sandbox: s, Logf: logf})
	if err != nil {
		return err
	}
	logf("%s", b.Describe())
	return b.Close(ctx)
}

// batchLimits are the resource limits of every process of a submission's
// build and service (a submission is untrusted code): CPU time twice the
// wall-clock limit (a process may keep more than one core busy), files of
// 1 GiB, 4096 open files and 4 GiB of data. The wall-clock limit ends the
// whole submission; these end one process that runs away before that.
func batchLimits(timeout time.Duration) Limits {
	return Limits{
		CPUSeconds: uint64(math.Ceil(2 * timeout.Seconds())),
		FileBytes:  1 << 30,
		OpenFiles:  4096,
		DataBytes:  4 << 30,
	}
}

// submissionNeeds is the services a submission needs: from its manifest,
// or from the selection alone when the manifest cannot be read (it will be
// reported as the learner's problem).
func submissionNeeds(l Launcher, f Selection, dir string) []grader.Service {
	m, err := l.Load(dir)
	if err != nil {
		m = &Project{}
	}
	p, err := NewPlan(seeded(f), m)
	if err != nil {
		p, err = NewPlan(seeded(f), &Project{})
		if err != nil {
			return nil
		}
	}
	return p.Need
}

// progressLine is "[3/6] alice  41/50  not passed  (12.3s)".
// The name and the messages come from the submission: each is escaped
// (the writer escapes the whole line again, harmlessly).
func progressLine(n, total, width int, it *batchItem) string {
	head := fmt.Sprintf("[%d/%d] %-*s", n, total, width, report.TerminalLine(it.name))
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
	if it.regrade != "" {
		line += "  (graded again: " + it.regrade + ")"
	}
	return line
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// oneLineCut folds s onto one line of at most n runes, escaped for a
// terminal.
func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(report.TerminalLine(s)), " ")
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
