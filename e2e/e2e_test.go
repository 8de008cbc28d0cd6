// Package e2e runs the grader binary, as a learner or a CI job would, on the
// fixtures: the reference project must pass, every defect must fail exactly
// the checks defects.json lists, broken projects must be graded with a clear
// cause, and nothing may be left running.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

var (
	graderBin string
	repoRoot  string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "grader-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	graderBin = filepath.Join(dir, "grader")
	// Batch runs sign their reports; a key of the suite's own keeps them
	// from creating one in the user's config directory.
	if os.Getenv("GRADER_BATCH_KEY") == "" {
		os.Setenv("GRADER_BATCH_KEY", "e2e-suite-batch-key-"+filepath.Base(dir))
	}
	build := exec.Command("go", "build", "-o", graderBin, "./cmd/grader")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the grader: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// inCI is true in CI, where a missing service is a failure, not a skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// result is one run of the grader.
type result struct {
	code           int
	stdout, stderr string
	dur            time.Duration
	report         *grader.Report
}

// runGrader runs the grader with args and fails the test when it cannot
// run, does not finish within timeout, or prints a JSON report that does
// not parse. Call it from the test's goroutine only (see execGrader).
func runGrader(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	r, err := execGrader(timeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(bytes.TrimSpace([]byte(r.stdout)), []byte("{")) {
		var rep grader.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("stdout is not a JSON report: %v\n%s", err, tail(r.stdout, 20))
		}
		if bad := internalWords(&rep); len(bad) > 0 {
			t.Errorf("the report speaks of the grader's Go internals, not HTTP and JSON:\n  %s", strings.Join(bad, "\n  "))
		}
		r.report = &rep
	}
	return r
}

// execGrader runs the grader with args; an error says it could not run or
// did not finish within timeout. Safe on any goroutine.
func execGrader(timeout time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, graderBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), dur: time.Since(start), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("grader %s did not finish within %s\nstderr:\n%s", strings.Join(args, " "), timeout, tail(r.stderr, 40))
	}
	if err != nil && r.code < 0 {
		return r, fmt.Errorf("running grader: %v", err)
	}
	return r, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyFixture copies fixtures/<name> to a fresh directory, so that parallel
// runs never build into the same place.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(repoRoot, "fixtures", name)
	dst := filepath.Join(t.TempDir(), filepath.Base(name))
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (d.Name() == ".grader-bin" || d.Name() == "node_modules" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying fixture %s: %v", name, err)
	}
	return dst
}

// needLocalServices skips (or, in CI, fails) when the machine's own
// Postgres and Redis are not reachable for external mode.
func needLocalServices(t *testing.T) {
	t.Helper()
	for _, addr := range []string{"127.0.0.1:5432", "127.0.0.1:6379"} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if inCI() {
				t.Fatalf("CI=true but %s is not reachable: external-mode tests must run in CI", addr)
			}
			t.Skipf("no local service on %s for external mode", addr)
		}
		c.Close()
	}
}

// leftovers lists processes whose working directory or command line is
// inside dir.
func leftovers(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		cl := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.HasPrefix(cwd, dir) || strings.Contains(cl, dir) {
			stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
			if strings.Contains(string(stat), ") Z ") {
				continue // a zombie is already dead
			}
			found = append(found, pid+": "+cl)
		}
	}
	return found
}

// assertNothingLeft waits briefly for dir's processes to go, then fails
// listing any that remain.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	if err := waitNothingLeft(dir); err != nil {
		t.Fatal(err)
	}
}

func statuses(rep *grader.Report) map[string]grader.Status {
	m := map[string]grader.Status{}
	for _, s := range rep.Stages {
		for _, c := range s.Checks {
			m[c.ID] = c.Status
		}
	}
	return m
}

func notPassing(rep *grader.Report) []string {
	var ids []string
	for id, st := range statuses(rep) {
		if st != grader.StatusPass {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// explainFailures renders the failing checks' messages for a test log.
func explainFailures(rep *grader.Report) string {
	var b strings.Builder
	for _, s := range rep.Stages {
		for _, c := range s.Checks {
			if c.Status != grader.StatusPass {
				fmt.Fprintf(&b, "  %s [%s]: %s\n", c.ID, c.Status, c.Message)
			}
		}
	}
	if rep.Problem != nil {
		fmt.Fprintf(&b, "  problem: %s\n%s\n", rep.Problem.Message, rep.Problem.Log)
	}
	return b.String()
}

// processGroupGone reports whether no process of group pgid exists.
func processGroupGone(pgid int) bool {
	return syscall.Kill(-pgid, 0) == syscall.ESRCH
}

// interrupted runs the grader with args, sends SIGINT as soon as a line
// containing waitFor appears on its stderr, and returns the exit code, how
// long it took to exit after the signal, and everything it printed on
// stderr. It fails the test if waitFor never appears within wait, or the
// grader is still running 30 s after the signal.
func interrupted(t *testing.T, wait time.Duration, waitFor string, args ...string) (int, time.Duration, string) {
	t.Helper()
	cmd := exec.Command(graderBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	seen := make(chan struct{})
	drained := make(chan string, 1)
	go func() {
		drained <- scanFor(stderr, waitFor, seen)
		// Wait only once stderr is read to its end (os/exec's rule).
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-seen:
	case <-exited:
		t.Fatalf("the grader exited (code %d) before %q appeared on stderr:\n%s", cmd.ProcessState.ExitCode(), waitFor, tail(<-drained, 20))
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("never saw %q on stderr within %s:\n%s", waitFor, wait, tail(<-drained, 20))
	}
	sent := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("the grader was still running 30 s after SIGINT:\n%s", tail(<-drained, 20))
	}
	return cmd.ProcessState.ExitCode(), time.Since(sent), <-drained
}

// scanFor reads r to its end and returns all of it, closing seen when the
// first line containing want has been read (never more than once). Lines
// of any length are read, so the writer never blocks on a full pipe.
func scanFor(r io.Reader, want string, seen chan<- struct{}) string {
	var all strings.Builder
	found := false
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		all.WriteString(line)
		if !found && strings.Contains(line, want) {
			found = true
			close(seen)
		}
		if err != nil {
			return all.String()
		}
	}
}
