package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
	"github.com/backend-grader/grader/internal/submission"
)

func TestTimedOutReport(t *testing.T) {
	p, err := makePlan(runFlags{stage: stageIDs()[0]}, &submission.Manifest{}, true)
	if err != nil {
		t.Fatal(err)
	}
	rep := timedOut(nil, "/tmp/x", &submission.Manifest{}, p, 90*time.Second)
	if rep.Passed || rep.Problem == nil || rep.Problem.Kind != "timeout" || !strings.Contains(rep.Problem.Message, "1m30s") {
		t.Fatalf("problem = %+v, passed = %v; want a timeout naming the limit", rep.Problem, rep.Passed)
	}
	if rep.MaxScore == 0 || rep.Score != 0 {
		t.Errorf("score %d/%d, want 0 of the stage's points", rep.Score, rep.MaxScore)
	}
	for _, s := range rep.Stages {
		for _, c := range s.Checks {
			if c.Status != grader.StatusError || !strings.HasPrefix(c.Message, "not run: grading took longer") {
				t.Errorf("%s: %s %q", c.ID, c.Status, c.Message)
			}
		}
	}
}

func TestProgressLine(t *testing.T) {
	rep := synth(nil, map[string][]grader.CheckResult{"rest": {chk("rest.a", grader.StatusPass, 41, "", skills.RESTDesign), chk("rest.b", grader.StatusFail, 9, "no", skills.RESTDesign)}})
	it := &batchItem{name: "alice", rep: rep, dur: 12340 * time.Millisecond}
	if got, want := progressLine(3, 6, 7, it), "[3/6] alice    41/50  not passed  (12.3s)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestGradeOneAppliesLimits grades a submission whose service records the
// limits it runs under, then exits: they are batchLimits of --timeout, in
// the shell's units (seconds, 512-byte blocks, files, KiB).
func TestGradeOneAppliesLimits(t *testing.T) {
	record := filepath.Join(t.TempDir(), "limits.txt")
	src := filepath.Join(t.TempDir(), "alice")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := "run: '{ ulimit -S -t; ulimit -H -t; ulimit -f; ulimit -n; ulimit -d; } > " + record + "'\n"
	if err := os.WriteFile(filepath.Join(src, "grader.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &batchOptions{run: runFlags{stage: stageIDs()[0]}, timeout: 45 * time.Second}
	it := &batchItem{name: "alice", src: src, outDir: filepath.Join(t.TempDir(), "alice")}
	gradeOne(context.Background(), o, it, batchEnv{scopeID: "t1", tmp: t.TempDir(), limits: batchLimits(o.timeout)})
	if it.err != nil {
		t.Fatalf("not graded: %v", it.err)
	}
	if p := it.rep.Problem; p == nil || p.Kind != "start" {
		t.Errorf("problem = %+v, want start (the service exits at once)", p)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the service did not record its limits: %v", err)
	}
	if want := "90 91 2097152 4096 4194304"; strings.Join(strings.Fields(string(got)), " ") != want {
		t.Errorf("limits = %q, want %s (CPU soft/hard s, 1 GiB in blocks, files, 4 GiB in KiB)", got, want)
	}
	logText, _ := os.ReadFile(filepath.Join(it.outDir, "grader.log"))
	if !strings.Contains(string(logText), "limits for each of its processes: CPU time 90s, file size 1 GiB, open files 4096, data 4 GiB") {
		t.Errorf("grader.log does not name the limits:\n%s", logText)
	}
}
