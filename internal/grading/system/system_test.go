package system_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/grading/system"
)

// TestBatchAppliesLimits grades a submission whose service records the
// limits it runs under, then exits: they are the batch's limits of
// --timeout, in the shell's units (seconds, 512-byte blocks, files, KiB).
func TestBatchAppliesLimits(t *testing.T) {
	record := filepath.Join(t.TempDir(), "limits.txt")
	subs := t.TempDir()
	src := filepath.Join(subs, "alice")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := "run: '{ ulimit -S -t; ulimit -H -t; ulimit -f; ulimit -n; ulimit -d; } > " + record + "'\n"
	if err := os.WriteFile(filepath.Join(src, "grader.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	err := grading.Batch(context.Background(), grading.BatchPlan{
		Dirs: []string{subs}, Selection: grading.Selection{Stage: grading.StageIDs()[0]},
		Services: grading.ServiceOptions{Mode: "auto"}, Parallel: 1, Out: out, Timeout: 45 * time.Second,
	}, system.New())
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(out, "alice", "report.json"))
	if err != nil || !strings.Contains(string(data), `"kind": "start"`) {
		t.Errorf("report.json: %v, want a start problem (the service exits at once):\n%s", err, data)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the service did not record its limits: %v", err)
	}
	if want := "90 91 2097152 4096 4194304"; strings.Join(strings.Fields(string(got)), " ") != want {
		t.Errorf("limits = %q, want %s (CPU soft/hard s, 1 GiB in blocks, files, 4 GiB in KiB)", got, want)
	}
	logText, _ := os.ReadFile(filepath.Join(out, "alice", "grader.log"))
	if !strings.Contains(string(logText), "limits for each of its processes: CPU time 90s, file size 1 GiB, open files 4096, data 4 GiB") {
		t.Errorf("grader.log does not name the limits:\n%s", logText)
	}
}

// TestGradeReferenceOnExternalServices grades the reference project at the
// caching stage (Postgres and Redis) on this machine's servers: every check
// passes, and the run's database and Redis claim are released.
func TestGradeReferenceOnExternalServices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the reference project: not in -short")
	}
	ctx := context.Background()
	sys := system.New()
	sel := grading.Selection{Stage: "caching", Only: true, Seed: 7, SeedSet: true}
	m, err := sys.Launcher.Load(filepath.Join("..", "..", "..", "fixtures", "tasks-api"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := grading.NewPlan(sel, m)
	if err != nil {
		t.Fatal(err)
	}
	p.ScopeID = grading.NewRunID()
	servers, err := sys.Services.Start(ctx, grading.ServiceOptions{Mode: "external", RunID: p.ScopeID, Logf: t.Logf}, p.Need)
	if servers != nil {
		defer servers.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("external Postgres and Redis: %v", err)
		}
		t.Skipf("no external Postgres and Redis here (%v)", err)
	}
	rep, err := grading.Grade(ctx, p, grading.Deps{Servers: servers, Launcher: sys.Launcher, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != nil {
		t.Fatalf("the reference did not run: %+v", rep.Problem)
	}
	n := 0
	for _, s := range rep.Stages {
		if s.ID != "caching" {
			t.Errorf("stage %s ran, want caching alone (--only)", s.ID)
		}
		for _, c := range s.Checks {
			n++
			if c.Status != "pass" {
				t.Errorf("%s: %s %s", c.ID, c.Status, c.Message)
			}
		}
	}
	if n == 0 || !rep.Passed {
		t.Errorf("%d checks, passed %v; want every caching check passed", n, rep.Passed)
	}
}
