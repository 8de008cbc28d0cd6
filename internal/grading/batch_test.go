package grading

import (
	"strings"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

func TestTimedOutReport(t *testing.T) {
	p, err := NewPlan(Selection{Stage: StageIDs()[0], SeedSet: true}, &Project{Dir: "/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	rep := timedOut(nil, p, 90*time.Second)
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
	rep := &grader.Report{Stages: []grader.StageResult{{ID: "rest", Checks: []grader.CheckResult{
		{ID: "rest.a", Status: grader.StatusPass, MaxPoints: 41, Skills: []string{skills.RESTDesign}},
		{ID: "rest.b", Status: grader.StatusFail, MaxPoints: 9, Message: "no", Skills: []string{skills.RESTDesign}},
	}}}}
	rep.Tally()
	it := &batchItem{name: "alice", rep: rep, dur: 12340 * time.Millisecond}
	if got, want := progressLine(3, 6, 7, it), "[3/6] alice    41/50  not passed  (12.3s)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
