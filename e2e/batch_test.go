package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

// batchStage is the stage the batch tests grade: it needs no service, so
// the tests run without Postgres or Redis.
const batchStage = "rest"

// sandboxArgs are the batch flags for a test that grades the way an
// instructor does by default: in the sandbox where Docker answers, with
// the sandbox's Go cache warmed once (so that no submission's time limit is
// spent compiling the dependencies, as only a class's first batch does);
// else --no-sandbox (in CI: a failure, since CI has Docker).
func sandboxArgs(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "info").Run() != nil {
		if inCI() {
			t.Fatal("CI=true but no Docker engine answers: the batch's sandbox needs one (scripts/docker-up.sh)")
		}
		t.Log("no Docker engine: grading with --no-sandbox")
		return []string{"--no-sandbox"}
	}
	warmOnce.Do(func() {
		class := t.TempDir()
		if err := os.Rename(copyFixture(t, "tasks-api"), filepath.Join(class, "warm")); err != nil {
			warmErr = err.Error()
			return
		}
		r := runGrader(t, 10*time.Minute, "batch", class, "--stage", "http", "--timeout", "10m", "-q", "--out", filepath.Join(t.TempDir(), "out"))
		if r.code != 0 {
			warmErr = fmt.Sprintf("exit %d\n%s", r.code, tail(r.stderr, 30))
		}
	})
	if warmErr != "" {
		t.Fatalf("warming the sandbox's Go cache (a sandboxed batch of the reference): %s", warmErr)
	}
	return nil
}

var (
	warmOnce sync.Once
	warmErr  string
)

// batchDefects picks five defects of the stages up to batchStage, so that
// six copies of the reference (one without a defect) grade differently.
func batchDefects(t *testing.T) []string {
	t.Helper()
	var names []string
	for n, d := range loadDefects(t) {
		if d.Stage == "http" || d.Stage == batchStage {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) < 5 {
		t.Fatalf("defects.json has %d defects of stages http and %s, the batch test needs 5", len(names), batchStage)
	}
	// Spread the choice over the list, so that the copies fail different checks.
	var out []string
	for i := 0; i < 5; i++ {
		out = append(out, names[i*len(names)/5])
	}
	return out
}

// makeClass writes the six copies of the reference into dir: "ref" with no
// defect and "d-<defect>" with one, each through its own grader.yaml env.
func makeClass(t *testing.T, dir string, defects []string) []string {
	t.Helper()
	names := []string{"ref"}
	for _, d := range defects {
		names = append(names, "d-"+d)
	}
	for i, name := range names {
		src := copyFixture(t, "tasks-api")
		dst := filepath.Join(dir, name)
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
		manifest := "stage: http\nbuild: go build -o .grader-bin/server .\nrun: ./.grader-bin/server\nstartupTimeout: 30s\n"
		if i > 0 {
			manifest += fmt.Sprintf("env:\n  TASKS_API_DEFECTS: %q\n", defects[i-1])
		}
		if err := os.WriteFile(filepath.Join(dst, "grader.yaml"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// hangingSubmission listens on $PORT but never answers a request: only the
// batch's wall-clock limit ends it.
func hangingSubmission(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	server := "import os, socket, time\n" +
		"s = socket.socket()\n" +
		"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
		"s.bind(('0.0.0.0', int(os.environ['PORT'])))\n" +
		"s.listen(128)\n" +
		"time.sleep(3600)\n"
	os.WriteFile(filepath.Join(dir, "hang.py"), []byte(server), 0o644)
	os.WriteFile(filepath.Join(dir, "grader.yaml"), []byte("stage: http\nrun: python3 hang.py\nstartupTimeout: 10s\n"), 0o644)
}

// gradesCSV reads grades.csv into rows keyed by submission.
func gradesCSV(t *testing.T, path string) (map[string]map[string]string, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("grades.csv: %v", err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("grades.csv does not parse: %v\n%s", err, raw)
	}
	head := recs[0]
	for i, want := range []string{"submission", "passed", "score", "maxScore"} {
		if head[i] != want {
			t.Fatalf("grades.csv column %d is %q, want %q", i+1, head[i], want)
		}
	}
	if !strings.HasPrefix(head[4], "stage:") || head[len(head)-1] != "error" {
		t.Errorf("grades.csv header %v: want stage:<id> columns after maxScore and error last", head)
	}
	rows := map[string]map[string]string{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range head {
			row[h] = rec[i]
		}
		rows[rec[0]] = row
	}
	return rows, string(raw)
}

var progressRe = regexp.MustCompile(`^\[(\d+)/(\d+)\] (\S+)\s+(.*)\(([\d.]+)s\)`)

// progressTimes reads the per-submission durations from batch's stderr.
func progressTimes(t *testing.T, stderr string) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, line := range strings.Split(stderr, "\n") {
		m := progressRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		secs, _ := strconv.ParseFloat(m[5], 64)
		out[m[3]] = time.Duration(secs * float64(time.Second))
	}
	return out
}

// TestBatchMatchesCheck grades six copies of the reference (five with a
// defect each), one that never starts, one that floods its output and one
// that hangs, in one batch; each copy's grade must equal a single `grader
// check` of it, the broken ones must end within their limits, and a re-run
// must keep every report.
func TestBatchMatchesCheck(t *testing.T) {
	class := t.TempDir()
	names := makeClass(t, class, batchDefects(t))
	for _, f := range []string{"broken/never-listens", "broken/floods-output"} {
		if err := os.Rename(copyFixture(t, f), filepath.Join(class, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	hangingSubmission(t, filepath.Join(class, "hangs"))
	out := filepath.Join(t.TempDir(), "grades")

	// The single runs, two at a time while the batch runs, on copies of their own (a check
	// builds in place).
	type single struct {
		passed bool
		score  int
		err    string
	}
	singles := map[string]single{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			dir := filepath.Join(t.TempDir(), name)
			if err := copyDir(filepath.Join(class, name), dir); err != nil {
				mu.Lock()
				singles[name] = single{err: err.Error()}
				mu.Unlock()
				return
			}
			s := single{}
			rep, err := checkOnce(dir, 4*time.Minute, "--stage", batchStage, "--seed", "7")
			if err != nil {
				s.err = err.Error()
			} else {
				s.passed, s.score = rep.Passed, rep.Score
			}
			mu.Lock()
			singles[name] = s
			mu.Unlock()
		}()
	}

	const limit = 75 * time.Second
	r := runGrader(t, 8*time.Minute, append([]string{"batch", class, "--stage", batchStage, "--parallel", "3",
		"--timeout", limit.String(), "--out", out, "--seed", "7"}, sandboxArgs(t)...)...)
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("batch exited %d, want 0 (every submission graded)\nstderr:\n%s", r.code, tail(r.stderr, 40))
	}
	rows, raw := gradesCSV(t, filepath.Join(out, "grades.csv"))
	if len(rows) != len(names)+3 {
		t.Errorf("grades.csv has %d rows, want %d\n%s", len(rows), len(names)+3, raw)
	}
	for _, name := range names {
		s, row := singles[name], rows[name]
		if s.err != "" {
			t.Errorf("%s: single check: %s", name, s.err)
			continue
		}
		if row == nil {
			t.Errorf("%s: no row in grades.csv", name)
			continue
		}
		if row["error"] != "" {
			t.Errorf("%s: not graded in the batch: %s", name, row["error"])
		}
		if got, want := row["passed"]+" "+row["score"], fmt.Sprintf("%v %d", s.passed, s.score); got != want {
			t.Errorf("%s: batch says passed/score %s, grader check says %s (problem in batch: %q)", name, got, want, row["problem"])
		}
	}
	if rows["ref"]["passed"] != "true" {
		t.Errorf("the reference did not pass in the batch:\n%s", raw)
	}
	for _, name := range names[1:] {
		if rows[name]["passed"] != "false" {
			t.Errorf("%s (a defect) passed in the batch", name)
		}
	}

	times := progressTimes(t, r.stderr)
	if len(times) != len(names)+3 {
		t.Errorf("%d progress lines on stderr, want one per submission:\n%s", len(times), tail(r.stderr, 20))
	}
	if !strings.HasPrefix(rows["never-listens"]["problem"], "start:") {
		t.Errorf("never-listens: problem %q, want start:", rows["never-listens"]["problem"])
	}
	if d := times["never-listens"]; d > 5*time.Second+10*time.Second {
		t.Errorf("never-listens took %s, want within its startup timeout (5s) + 10s", d)
	}
	if row := rows["floods-output"]; row == nil || row["error"] != "" || row["score"] == "" {
		t.Errorf("floods-output was not graded: %v", row)
	}
	if d := times["floods-output"]; d > limit {
		t.Errorf("floods-output took %s, over the limit %s", d, limit)
	}
	if st, err := os.Stat(filepath.Join(out, "floods-output", "grader.log")); err != nil || st.Size() > 2<<20 {
		t.Errorf("floods-output's grader.log: %v, size %d; want it capped near 1 MiB", err, sizeOf(st))
	}
	if !strings.HasPrefix(rows["hangs"]["problem"], "timeout:") {
		t.Errorf("hangs: problem %q, want timeout:", rows["hangs"]["problem"])
	}
	if d := times["hangs"]; d < limit || d > limit+15*time.Second {
		t.Errorf("hangs took %s, want its limit %s (+ at most 15s to stop)", d, limit)
	}
	for name := range rows {
		for _, f := range []string{"report.json", "report.txt"} {
			if _, err := os.Stat(filepath.Join(out, name, f)); err != nil {
				t.Errorf("%s/%s: %v", name, f, err)
			}
		}
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(summary), "## Checks that fail most") || !strings.Contains(string(summary), "## Stages") {
		t.Errorf("summary.md: %v\n%s", err, summary)
	}
	assertNothingLeft(t, class)
	assertNothingLeft(t, filepath.Join(os.TempDir(), "grader-batch-"))

	// A re-run keeps every report and rewrites the same grades.csv.
	again := runGrader(t, time.Minute, append([]string{"batch", class, "--stage", batchStage, "--out", out}, sandboxArgs(t)...)...)
	if again.code != 0 || !strings.Contains(again.stderr, "kept 9 submissions") {
		t.Errorf("re-run: exit %d, stderr:\n%s", again.code, tail(again.stderr, 10))
	}
	if _, raw2 := gradesCSV(t, filepath.Join(out, "grades.csv")); raw2 != raw {
		t.Errorf("re-run changed grades.csv:\n%s\nwas:\n%s", raw2, raw)
	}
}

// TestBatchUsage: mistakes in how batch is called exit 2 before anything
// starts.
func TestBatchUsage(t *testing.T) {
	class := t.TempDir()
	os.MkdirAll(filepath.Join(class, "alice"), 0o755)
	for _, args := range [][]string{
		{"batch", class},                                            // no --stage
		{"batch", class, "--stage", "nope"},                         // unknown stage
		{"batch", "--stage", "http"},                                // no submissions
		{"batch", filepath.Join(class, "alice"), "--stage", "http"}, // no subdirectories
		{"batch", class, "--stage", "http", "--parallel", "0"},
		{"batch", class, "--stage", "http", "--format", "github"},
	} {
		r := runGrader(t, 30*time.Second, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "grader: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a one-line reason", args, r.code, r.stderr)
		}
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}

// copyDir copies a project tree (small fixtures only).
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			if info.Name() == ".grader-bin" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}

// checkOnce runs `grader check DIR --format json ARGS...` and returns its
// report (safe to call from any goroutine: it never calls t.Fatal).
func checkOnce(dir string, timeout time.Duration, args ...string) (*grader.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, graderBin, append([]string{"check", dir, "--format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("grader check %s did not finish within %s", dir, timeout)
	}
	var rep grader.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("exit %d, no JSON report: %v\n%s", cmd.ProcessState.ExitCode(), err, tail(errb.String(), 10))
	}
	if bad := internalWords(&rep); len(bad) > 0 {
		return &rep, fmt.Errorf("the report speaks of the grader's Go internals, not HTTP and JSON:\n  %s", strings.Join(bad, "\n  "))
	}
	return &rep, nil
}

// TestBatchSandboxInterrupt: SIGINT while a sandboxed batch builds and runs
// its submissions exits 130 within 10 s and leaves no container or network
// of the grader's, and no copy.
func TestBatchSandboxInterrupt(t *testing.T) {
	needDocker(t)
	sandboxArgs(t) // a warm cache: the submissions get past their build
	class := t.TempDir()
	makeClass(t, class, batchDefects(t)[:1])
	code, took, stderr := interrupted(t, 3*time.Minute, "[1/2]", "batch", class, "--stage", batchStage, "--parallel", "1",
		"--out", filepath.Join(t.TempDir(), "out"), "--seed", "3")
	if code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, tail(stderr, 30))
	}
	if took > 10*time.Second {
		t.Errorf("cleanup took %s after SIGINT, want within 10 s", took.Round(time.Millisecond))
	}
	assertNoContainersLeft(t)
	assertNothingLeft(t, filepath.Join(os.TempDir(), "grader-batch-"))
}
