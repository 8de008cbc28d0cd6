package submission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run real processes: the broken fixtures in fixtures/broken and
// a well-behaved service in testdata/good, each copied to a temporary
// directory and built there once per test binary.

var (
	builtMu sync.Mutex
	built   = map[string]*Manifest{}
	tmpRoot string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "submission-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture copies a project (relative to this package) to a temporary
// directory, loads it and, when build is true, builds it; once per name.
func fixture(t *testing.T, rel string, build bool) *Manifest {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	key := fmt.Sprint(rel, build)
	if m, ok := built[key]; ok {
		return m
	}
	dst := filepath.Join(tmpRoot, strings.NewReplacer("/", "_", ".", "_").Replace(key))
	if err := os.CopyFS(dst, os.DirFS(rel)); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatal(err)
	}
	m, err := Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	if build {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := Build(ctx, Config{Manifest: m}); err != nil {
			var pe *ProjectError
			if errors.As(err, &pe) {
				t.Fatalf("build %s: %s\n%s", rel, pe.Message, pe.Log)
			}
			t.Fatalf("build %s: %v", rel, err)
		}
	}
	built[key] = m
	return m
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// procsIn lists the processes whose working directory is dir.
func procsIn(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && cwd == dir {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			out = append(out, e.Name()+" "+strings.TrimSpace(string(comm)))
		}
	}
	return out
}

// assertNothingLeft fails when a process still runs in dir, or when one of
// the process groups still has a member.
func assertNothingLeft(t *testing.T, dir string, pgids ...int) {
	t.Helper()
	for _, pgid := range pgids {
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still has members (kill -0: %v)", pgid, err)
		}
	}
	if left := procsIn(dir); len(left) > 0 {
		t.Errorf("processes left running in %s: %v", dir, left)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pgidOf(t *testing.T, r runner) int {
	t.Helper()
	p, ok := r.(*osProc)
	if !ok {
		t.Fatalf("runner is %T, not a process", r)
	}
	return p.pgid
}

func TestBuildFailure(t *testing.T) {
	m := fixture(t, "../../fixtures/broken/no-build", false)
	var out syncBuffer
	err := Build(context.Background(), Config{Manifest: m, Output: &out})
	pe := projectError(t, err, "build")
	if pe.Message != "the project did not build: `go build -o .grader-bin/server .` exited with code 1" {
		t.Errorf("message = %q", pe.Message)
	}
	if !strings.Contains(pe.Log, "undefined: prot") || !strings.Contains(out.String(), "[your_service] ") {
		t.Errorf("log %q / echo %q should show the compiler's error", pe.Log, out.String())
	}
	assertNothingLeft(t, m.Dir)
}

func TestBuildCancelKillsTheGroup(t *testing.T) {
	dir := project(t, map[string]string{"grader.yaml": "build: sleep 30 & sleep 30\nrun: ./x\n"})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = Build(ctx, Config{Manifest: m})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("Build = %v after %s, want the context's error at once", err, time.Since(start))
	}
	assertNothingLeft(t, dir)
}

func TestStartExits(t *testing.T) {
	t.Parallel()
	m := fixture(t, "../../fixtures/broken/exits", false)
	start := time.Now()
	p, err := Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if p != nil {
		t.Error("Start returned a process with its error")
	}
	if !regexp.MustCompile(`^your service exited with code 3 before it listened on \$PORT \(PORT=\d+\)$`).MatchString(pe.Message) {
		t.Errorf("message = %q", pe.Message)
	}
	if !strings.Contains(pe.Log, "fatal: config.yaml: no such file or directory") {
		t.Errorf("log = %q", pe.Log)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s to notice the exit", d)
	}
	assertNothingLeft(t, m.Dir)
}

func TestStartCommandNotFound(t *testing.T) {
	t.Parallel()
	dir := project(t, map[string]string{"grader.yaml": "run: ./server\n"})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if !strings.HasPrefix(pe.Message, "your service exited with code 127 before it listened on $PORT") ||
		!strings.Contains(pe.Hint, "could not find the command") || !strings.Contains(pe.Log, "./server") {
		t.Errorf("message %q, hint %q, log %q", pe.Message, pe.Hint, pe.Log)
	}
}

func TestStartNeverListens(t *testing.T) {
	t.Parallel()
	m := fixture(t, "../../fixtures/broken/never-listens", false)
	start := time.Now()
	_, err := Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if !regexp.MustCompile(`^your service did not listen on \$PORT \(=\d+\) within 5s$`).MatchString(pe.Message) {
		t.Errorf("message = %q", pe.Message)
	}
	if d := time.Since(start); d < 5*time.Second || d > 7*time.Second {
		t.Errorf("gave up after %s, want the 5s startupTimeout", d)
	}
	if !strings.Contains(pe.Log, "waiting for the database") || !strings.Contains(pe.Hint, "startupTimeout") {
		t.Errorf("log %q / hint %q", pe.Log, pe.Hint)
	}
	assertNothingLeft(t, m.Dir)
}

func TestStartWrongPort(t *testing.T) {
	t.Parallel()
	m := fixture(t, "../../fixtures/broken/wrong-port", true)
	start := time.Now()
	_, err := Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if !regexp.MustCompile(`^your service listens on port \d+, not on \$PORT \(=\d+\): read the port from the PORT environment variable$`).MatchString(pe.Message) {
		t.Errorf("message = %q", pe.Message)
	}
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("took %s", d)
	}
	assertNothingLeft(t, m.Dir)
}

func TestStartOnlyLoopbackIPv6(t *testing.T) {
	t.Parallel()
	// Listening on PORT, but where 127.0.0.1 cannot reach it.
	dir := project(t, map[string]string{
		"grader.yaml": "run: python3 server.py\nstartupTimeout: 2s\n",
		"server.py": "import os, socket, time\n" +
			"s = socket.socket(socket.AF_INET6)\ns.bind(('::1', int(os.environ['PORT'])))\ns.listen()\ntime.sleep(60)\n",
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if !regexp.MustCompile(`^your service listens on \[::1\]:\d+, which the grader cannot reach at 127\.0\.0\.1:\d+$`).MatchString(pe.Message) {
		t.Errorf("message = %q (log %q)", pe.Message, pe.Log)
	}
	assertNothingLeft(t, dir)
}

func TestStartCancelled(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile("../../fixtures/broken/never-listens/server.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := project(t, map[string]string{"grader.yaml": "run: sh ./server.sh\n", "server.sh": string(script)})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Start(ctx, Config{Manifest: m})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("Start = %v after %s, want the context's error at once", err, time.Since(start))
	}
	assertNothingLeft(t, dir)
}

func TestCrashOnRequest(t *testing.T) {
	m := fixture(t, "../../fixtures/broken/crash-on-request", true)
	p, err := Start(context.Background(), Config{Manifest: m})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	if p.Exited() != nil {
		t.Fatalf("Exited() = %v before any request", p.Exited())
	}
	c := http.Client{Timeout: 3 * time.Second}
	if resp, err := c.Get(p.URL() + "/health"); err == nil {
		resp.Body.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for p.Exited() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Exited(); err == nil || err.Error() != "exited with code 2" {
		t.Fatalf("Exited() = %v, want exited with code 2", err)
	}
	if logs := strings.Join(p.Logs(20), "\n"); !strings.Contains(logs, "panic: assignment to entry in nil map") {
		t.Errorf("logs = %q", logs)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, m.Dir)
}

func TestFloodedOutputIsCappedWithoutBlocking(t *testing.T) {
	m := fixture(t, "../../fixtures/broken/floods-output", true)
	var out syncBuffer
	p, err := Start(context.Background(), Config{Manifest: m, Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "[grader] output truncated") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	echoed := len(out.String())
	if !strings.Contains(out.String(), "[grader] output truncated") || echoed > echoCap+500 {
		t.Fatalf("echo not capped: %d bytes, truncated: %v", echoed, strings.Contains(out.String(), "[grader] output truncated"))
	}
	// The service keeps printing (the grader keeps reading) and keeps serving.
	first := p.Logs(1)
	for i := 0; i < 5; i++ {
		if code, body := get(t, p.URL()+"/health"); code != 200 || body != `{"status":"ok"}` {
			t.Fatalf("GET /health = %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if later := p.Logs(1); later[0] == first[0] {
		t.Errorf("the output stopped moving: %q", later)
	}
	if len(out.String()) != echoed {
		t.Errorf("echo grew after the cap: %d -> %d bytes", echoed, len(out.String()))
	}
	pgid := pgidOf(t, p.main)
	start := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %s", d)
	}
	assertNothingLeft(t, m.Dir, pgid)
}

func TestIgnoresSIGTERMIsKilled(t *testing.T) {
	t.Parallel()
	m := fixture(t, "../../fixtures/broken/ignores-sigterm", true)
	p, err := Start(context.Background(), Config{Manifest: m})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, p.URL()+"/health"); code != 200 {
		t.Fatalf("GET /health = %d", code)
	}
	pgid := pgidOf(t, p.main)
	start := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d < stopGrace || d > stopGrace+time.Second {
		t.Errorf("Stop took %s, want SIGKILL after %s", d, stopGrace)
	}
	assertNothingLeft(t, m.Dir, pgid)
	if err := p.Exited(); err == nil || err.Error() != "was stopped by the grader" {
		t.Errorf("Exited() after Stop = %v", err)
	}
}

func TestGoodServiceEnvRestartInstances(t *testing.T) {
	t.Setenv("GRADER_SECRET_THING", "x")
	t.Setenv("JWT_SECRET", "from-the-graders-own-env")
	m := fixture(t, "testdata/good", true)
	var out syncBuffer
	var logs syncBuffer
	cfg := Config{Manifest: m, Output: &out,
		Env:  map[string]string{"DATABASE_URL": "postgres://u@h/db1", "NAME": "world"},
		Logf: func(f string, a ...any) { fmt.Fprintf(&logs, "[grader] "+f+"\n", a...) }}
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	url := p.URL()
	port := strings.TrimPrefix(url, "http://127.0.0.1:")

	envOf := func(base, name string) string {
		code, body := get(t, base+"/env?name="+name)
		if code == 404 {
			return "<unset>"
		}
		return body
	}
	for name, want := range map[string]string{
		"PORT": port, "DATABASE_URL": "postgres://u@h/db1", "DB_DSN": "postgres://u@h/db1",
		"GREETING": "hello world!", "LITERAL": "$HOME",
		"GRADER_SECRET_THING": "<unset>", "JWT_SECRET": "<unset>", "PATH": os.Getenv("PATH"),
	} {
		if got := envOf(url, name); got != want {
			t.Errorf("service env %s = %q, want %q", name, got, want)
		}
	}
	if p.Env()["PORT"] != port || p.Env()["DB_DSN"] != "postgres://u@h/db1" || p.Env()["PATH"] != "" {
		t.Errorf("Env() = %v", p.Env())
	}
	if p.Command() != "go build -o .grader-bin/server . && ./.grader-bin/server" {
		t.Errorf("Command() = %q", p.Command())
	}
	if !strings.Contains(out.String(), "[your_service] ") || !strings.Contains(logs.String(), "listens on $PORT") {
		t.Errorf("echo %q / logf %q", out.String(), logs.String())
	}

	// Restart: same URL, a new process, the old group gone.
	_, pid1 := get(t, url+"/pid")
	oldPgid := pgidOf(t, p.main)
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.URL() != url {
		t.Errorf("URL changed on restart: %s -> %s", url, p.URL())
	}
	if _, pid2 := get(t, url+"/pid"); pid2 == pid1 {
		t.Errorf("same pid %s after restart", pid2)
	}
	if err := syscall.Kill(-oldPgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("old process group %d survived the restart", oldPgid)
	}
	if p.Exited() != nil {
		t.Errorf("Exited() = %v after restart", p.Exited())
	}
	if got := strings.Join(p.Logs(0), "\n"); !strings.Contains(got, "got SIGTERM") || strings.Count(got, "listening on") != 2 {
		t.Errorf("logs across the restart = %q", got)
	}

	// A second instance: own port, the run's env plus overrides.
	inst, err := p.StartInstance(context.Background(), map[string]string{"NAME": "two", "RATE_LIMIT_REQUESTS": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.URL() == url {
		t.Fatal("instance shares the main URL")
	}
	if got := envOf(inst.URL(), "GREETING"); got != "hello two!" {
		t.Errorf("instance GREETING = %q", got)
	}
	if got := envOf(inst.URL(), "RATE_LIMIT_REQUESTS"); got != "3" {
		t.Errorf("instance RATE_LIMIT_REQUESTS = %q", got)
	}
	if got := envOf(url, "GREETING"); got != "hello world!" {
		t.Errorf("main GREETING changed to %q", got)
	}
	if !strings.Contains(out.String(), "[your_service #2] ") {
		t.Error("the instance's output is not echoed with its own prefix")
	}
	inst2, err := p.StartInstance(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	if inst.Exited() == nil || inst2.Exited() != nil || p.Exited() != nil {
		t.Errorf("after stopping one instance: %v / %v / %v", inst.Exited(), inst2.Exited(), p.Exited())
	}

	// Stop, concurrently and twice: nothing left.
	var pgids []int
	p.mu.Lock()
	for _, r := range p.runners {
		pgids = append(pgids, pgidOf(t, r))
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, m.Dir, pgids...)
	if inst2.Exited() == nil || p.Exited() == nil {
		t.Error("Exited() is nil after Stop")
	}
	if err := p.Restart(context.Background()); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

// A service that does not come back after a restart: Exited says why, once;
// Restart's own error only says what happened and unwraps to the cause.
func TestRestartFailureSaysItsCauseOnce(t *testing.T) {
	t.Parallel()
	dir := project(t, map[string]string{
		"grader.yaml": "run: python3 server.py\nstartupTimeout: 5s\n",
		"server.py": "import os, socket, sys, time\n" +
			"if os.path.exists('started'):\n" +
			"    print('fatal: relation \"todos\" already exists', flush=True)\n" +
			"    sys.exit(1)\n" +
			"open('started', 'w').close()\n" +
			"s = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
			"s.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\ntime.sleep(60)\n",
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), Config{Manifest: m})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	port := strings.TrimPrefix(p.URL(), "http://127.0.0.1:")

	err = p.Restart(context.Background())
	if err == nil {
		t.Fatal("Restart succeeded; the second start should exit")
	}
	if got, want := err.Error(), "it did not listen on $PORT again"; got != want {
		t.Errorf("Restart error = %q, want %q", got, want)
	}
	var pe *ProjectError
	if !errors.As(err, &pe) || pe.Kind != "start" || !strings.Contains(pe.Log, `relation "todos" already exists`) {
		t.Errorf("Restart error does not unwrap to the start problem with its log: %#v", pe)
	}
	want := "did not come back after a restart: exited with code 1 before it listened on $PORT (PORT=" + port + ")"
	if got := fmt.Sprint(p.Exited()); got != want {
		t.Errorf("Exited() = %q, want %q", got, want)
	}
	// How the runner and the check put the two together: the cause once.
	combined := fmt.Sprintf("your service stopped during check c: %v (your service did not start again after a restart (x): %v)", p.Exited(), err)
	if n := strings.Count(combined, "exited with code 1"); n != 1 {
		t.Errorf("the cause appears %d times in %q", n, combined)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, dir)
}
