package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Each broken project is graded within its startup timeout (5 s in its
// grader.yaml) + 10 s, exits 1, names the cause in one line and leaves
// nothing running.
func TestBrokenProjects(t *testing.T) {
	cases := []struct {
		fixture string
		kind    string // the report's problem kind ("" = graded normally)
		cause   string // a phrase the one-line cause must contain
		code    int    // expected exit code
	}{
		{"broken/no-build", "build", "did not build", 1},
		{"broken/exits", "start", "exited", 1},
		{"broken/never-listens", "start", "did not listen", 1},
		{"broken/wrong-port", "start", "listens on port", 1},
		{"broken/crash-on-request", "crash", "stopped", 1},
		{"broken/floods-output", "", "", -1},
		{"broken/ignores-sigterm", "", "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			dir := copyFixture(t, tc.fixture)
			// The build (for Go fixtures) is not part of the limit: warm it first.
			warmBuild(t, dir)
			r := runGrader(t, 2*time.Minute, "check", dir, "--stage", "http", "--format", "json")
			if limit := 5*time.Second + 10*time.Second; r.dur > limit+buildAllowance {
				t.Errorf("took %s, want within %s", r.dur.Round(time.Millisecond), limit)
			}
			if r.report == nil {
				t.Fatalf("exit %d, no JSON report\nstderr:\n%s", r.code, tail(r.stderr, 20))
			}
			if tc.code >= 0 && r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			if tc.code < 0 && r.code != 0 && r.code != 1 {
				t.Errorf("exit %d, want 0 or 1 (graded)", r.code)
			}
			if tc.kind != "" {
				p := r.report.Problem
				if p == nil {
					t.Fatalf("no problem in the report; checks:\n%s", explainFailures(r.report))
				}
				if p.Kind != tc.kind || !strings.Contains(p.Message, tc.cause) || strings.Contains(p.Message, "\n") {
					t.Errorf("problem = %s: %q; want kind %s and one line containing %q", p.Kind, p.Message, tc.kind, tc.cause)
				}
			}
			assertNothingLeft(t, dir)
		})
	}
}

// buildAllowance covers the fixture's own `go build` when the cache is cold.
const buildAllowance = 20 * time.Second

// warmBuild runs the fixture's Go build once so the timing above measures
// grading, not compiling.
func warmBuild(t *testing.T, dir string) {
	if _, err := os.Stat(dir + "/go.mod"); err != nil {
		return
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	_ = cmd.Run() // no-build is meant to fail
}

// TestInterrupt: SIGINT in the middle of a run makes the grader clean up and
// exit 130 within 5 s, leaving no child process.
func TestInterrupt(t *testing.T) {
	for _, tc := range []struct{ name, fixture, stage, waitFor string }{
		// while waiting for a service that never listens
		{"during start", "broken/never-listens", "http", "waiting up to"},
		// while checks run (rest has checks that wait over a second)
		{"during checks", "tasks-api", "rest", "rest."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyFixture(t, tc.fixture)
			warmBuild(t, dir)
			code, took, stderr := interrupted(t, 90*time.Second, tc.waitFor, "check", dir, "--stage", tc.stage)
			if took > 5*time.Second {
				t.Errorf("exited %s after SIGINT, want within 5 s", took.Round(time.Millisecond))
			}
			if code != 130 {
				t.Errorf("exit %d, want 130\nstderr:\n%s", code, tail(stderr, 30))
			}
			assertNothingLeft(t, dir)
		})
	}
}
