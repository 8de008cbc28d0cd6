package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// needDocker skips when no Docker engine answers; in CI it fails instead.
func needDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		if inCI() {
			t.Fatalf("CI=true but no Docker engine answers (docker info: %v: %s): .ci/run starts one with scripts/docker-up.sh", err, strings.TrimSpace(string(out)))
		}
		t.Skip("no Docker engine answers: docker-mode tests need one (scripts/docker-up.sh)")
	}
}

// labelled lists containers and networks carrying the grader's label,
// except those of other packages' unit tests (run ids "test-…"), which
// `go test ./...` runs at the same time as this package.
func labelled(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}} container {{.Names}} {{.Labels}}`},
		{"network", "ls", "--filter", "label=io.grader.run", "--format", `{{.Label "io.grader.run"}} network {{.Name}}`},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			run, what, _ := strings.Cut(l, " ")
			if what != "" && !strings.HasPrefix(run, "test-") {
				left = append(left, what)
			}
		}
	}
	return left
}

func assertNoContainersLeft(t *testing.T) {
	t.Helper()
	if left := labelled(t); len(left) > 0 {
		t.Fatalf("left behind with the grader's label:\n%s", strings.Join(left, "\n"))
	}
}

// Docker mode: the grader starts its own Postgres, Redis and RabbitMQ
// containers and removes them afterwards.
func TestDockerModePassesAuth(t *testing.T) {
	needDocker(t)
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 8*time.Minute, "check", dir, "--stage", "auth", "--services", "docker", "--format", "json")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 40))
	}
	if r.report.Timings.ProvisionMs <= 0 {
		t.Errorf("provisioning time not in the report: %+v", r.report.Timings)
	}
	assertNoContainersLeft(t)
	assertNothingLeft(t, dir)
}

// SIGINT in the middle of a docker-mode run: within 10 s no container or
// network with the grader's label remains.
func TestDockerModeInterruptCleansUp(t *testing.T) {
	needDocker(t)
	dir := copyFixture(t, "tasks-api")
	warmBuild(t, dir)
	code, took, stderr := interrupted(t, 5*time.Minute, "rest.", "check", dir, "--stage", "persistence", "--services", "docker")
	if code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, tail(stderr, 30))
	}
	if took > 10*time.Second {
		t.Errorf("cleanup took %s after SIGINT, want within 10 s", took.Round(time.Millisecond))
	}
	assertNoContainersLeft(t)
	assertNothingLeft(t, dir)
}

// Two external-mode runs at the same time against the same servers are
// isolated from each other and both pass.
func TestExternalModeConcurrentRuns(t *testing.T) {
	needLocalServices(t)
	var wg sync.WaitGroup
	results := make([]result, 2)
	errs := make([]error, 2)
	dirs := []string{copyFixture(t, "tasks-api"), copyFixture(t, "tasks-api")}
	for i := range results {
		wg.Add(1)
		go func() { // execGrader, not runGrader: no t.Fatal off the test's goroutine
			defer wg.Done()
			results[i], errs[i] = execGrader(5*time.Minute, "check", dirs[i], "--stage", "auth", "--services", "external", "--format", "json")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil {
			t.Errorf("run %d: %v", i, errs[i])
			continue
		}
		var rep statusReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.Passed {
			t.Errorf("run %d: exit %d (report: %v)\n%s\nstderr:\n%s", i, r.code, err, rep.explain(), tail(r.stderr, 30))
		}
	}
}

// Without a Docker engine: doctor says what to do and exits non-zero; a
// check that needs services exits 3 (the environment's fault, never 1).
func TestNoDockerIsAnEnvironmentError(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	for _, k := range []string{"GRADER_POSTGRES_URL", "GRADER_REDIS_URL", "GRADER_AMQP_URL"} {
		t.Setenv(k, "")
	}
	r := runGrader(t, time.Minute, "doctor", "--services", "docker")
	if r.code == 0 {
		t.Errorf("doctor exited 0 with no Docker engine:\n%s", r.stdout)
	}
	if !strings.Contains(strings.ToLower(r.stdout+r.stderr), "docker") {
		t.Errorf("doctor does not mention Docker:\n%s%s", r.stdout, r.stderr)
	}
	dir := copyFixture(t, "tasks-api")
	for _, mode := range []string{"docker", "auto"} {
		r := runGrader(t, time.Minute, "check", dir, "--stage", "persistence", "--services", mode)
		if r.code != 3 {
			t.Errorf("--services %s without Docker: exit %d, want 3\nstderr:\n%s", mode, r.code, tail(r.stderr, 10))
		}
		if !strings.Contains(r.stderr, "--services external") {
			t.Errorf("--services %s: the error does not say how to fix it:\n%s", mode, tail(r.stderr, 10))
		}
	}
}
