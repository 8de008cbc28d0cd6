package grader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/harness"
)

// fakeService is a harness.Service whose process can be marked as exited.
type fakeService struct{ exited error }

func (f *fakeService) URL() string                   { return "http://127.0.0.1:1" }
func (f *fakeService) Restart(context.Context) error { return nil }
func (f *fakeService) Logs(int) []string             { return []string{"panic: boom"} }
func (f *fakeService) Exited() error                 { return f.exited }
func (f *fakeService) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, errors.New("not supported")
}

func check(id string, pts int, run func(context.Context, *harness.H) error) Check {
	return Check{ID: id, Title: id, Points: pts, Skills: []string{"http"}, Run: run}
}

func statuses(rs []StageResult) map[string]Status {
	m := map[string]Status{}
	for _, s := range rs {
		for _, c := range s.Checks {
			m[c.ID] = c.Status
		}
	}
	return m
}

func TestRunnerRunsEveryCheckAndClassifies(t *testing.T) {
	stage := Stage{ID: "s", Checks: []Check{
		check("s.pass", 2, func(context.Context, *harness.H) error { return nil }),
		check("s.fail", 3, func(context.Context, *harness.H) error { return Failf("expected 200, got 500").WithHint("look at it") }),
		check("s.plain", 1, func(context.Context, *harness.H) error { return errors.New("GET /x: no response") }),
		check("s.skip", 5, func(context.Context, *harness.H) error { return Skipf("needs docker") }),
		check("s.panic", 1, func(context.Context, *harness.H) error { panic("oops") }),
		check("s.broken", 1, func(context.Context, *harness.H) error { return Errorf("cannot judge") }),
		{ID: "s.slow", Points: 1, Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, _ *harness.H) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	}}
	h := harness.New(harness.Options{Service: &fakeService{}, Seed: 1})
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, h)
	if err != nil || run.Problem != nil {
		t.Fatalf("unexpected error %v or problem: %+v", err, run.Problem)
	}
	res := run.Stages
	want := map[string]Status{
		"s.pass": StatusPass, "s.fail": StatusFail, "s.plain": StatusFail, "s.skip": StatusSkip,
		"s.panic": StatusError, "s.broken": StatusError, "s.slow": StatusError,
	}
	if d := cmp.Diff(want, statuses(res)); d != "" {
		t.Fatalf("statuses (-want +got):\n%s", d)
	}
	got := res[0].Checks
	if got[1].Hint != "look at it" || !strings.Contains(got[1].Message, "expected 200") {
		t.Errorf("failure message/hint lost: %+v", got[1])
	}
	if !strings.Contains(got[4].Message, "oops") {
		t.Errorf("panic message lost: %q", got[4].Message)
	}
	if !strings.Contains(got[6].Message, "timed out") {
		t.Errorf("timeout message: %q", got[6].Message)
	}

	rep := Report{Stages: res}
	rep.Tally()
	// pass 2 of 2+3+1+1+1+1 = 9 (the skip's 5 counts nowhere).
	if rep.Score != 2 || rep.MaxScore != 9 || rep.Passed {
		t.Errorf("tally: score %d/%d passed %v, want 2/9 false", rep.Score, rep.MaxScore, rep.Passed)
	}
	if len(rep.Skills) != 1 || rep.Skills[0].Score != 2 || rep.Skills[0].MaxScore != 8 { // s.slow has no skill
		t.Errorf("skills: %+v", rep.Skills)
	}
}

func TestRunnerStopsJudgingAfterTheServiceDies(t *testing.T) {
	svc := &fakeService{}
	stage := Stage{ID: "s", Checks: []Check{
		check("s.one", 1, func(context.Context, *harness.H) error { return nil }),
		check("s.two", 1, func(context.Context, *harness.H) error {
			svc.exited = errors.New("exit status 2")
			return errors.New("no response")
		}),
		check("s.three", 1, func(context.Context, *harness.H) error { t.Error("ran after the crash"); return nil }),
	}}
	h := harness.New(harness.Options{Service: svc})
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, h)
	res, problem := run.Stages, run.Problem
	if err != nil {
		t.Fatal(err)
	}
	if problem == nil || problem.Kind != "crash" || !strings.Contains(problem.Message, "s.two") || !strings.Contains(problem.Log, "panic: boom") {
		t.Fatalf("problem = %+v", problem)
	}
	want := map[string]Status{"s.one": StatusPass, "s.two": StatusError, "s.three": StatusError}
	if d := cmp.Diff(want, statuses(res)); d != "" {
		t.Fatalf("statuses (-want +got):\n%s", d)
	}
	if three := res[0].Checks[2]; !three.NotRun || !strings.Contains(three.Message, "your service stopped") {
		t.Errorf("the check after the crash: %+v, want not run with the cause", three)
	}
	if two := res[0].Checks[1]; two.NotRun {
		t.Error("the check that met the crash ran: it is not 'not run'")
	}
}

func TestRunnerSelectAndSkipsDoNotFailTheRun(t *testing.T) {
	stage := Stage{ID: "s", Checks: []Check{
		check("s.a", 1, func(context.Context, *harness.H) error { return nil }),
		check("s.b", 1, func(context.Context, *harness.H) error { return Skipf("external mode") }),
		check("s.c", 1, func(context.Context, *harness.H) error { return Failf("never selected") }),
	}}
	r := &Runner{Select: func(c Check) bool { return c.ID != "s.c" }}
	run, _ := r.Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	res := run.Stages
	rep := Report{Stages: res}
	rep.Tally()
	if !rep.Passed || rep.Score != 1 || rep.MaxScore != 1 || len(res[0].Checks) != 2 {
		t.Fatalf("passed=%v %d/%d checks=%d", rep.Passed, rep.Score, rep.MaxScore, len(res[0].Checks))
	}
}

func TestForCheckRandomnessDependsOnSeedAndIDOnly(t *testing.T) {
	h := harness.New(harness.Options{Seed: 42})
	a1 := h.ForCheck("x.a").Rand.Uint64()
	_ = h.ForCheck("x.b").Rand.Uint64()
	a2 := h.ForCheck("x.a").Rand.Uint64()
	b := h.ForCheck("x.b").Rand.Uint64()
	if a1 != a2 {
		t.Error("same seed and id gave different numbers")
	}
	if a1 == b {
		t.Error("different ids gave the same numbers")
	}
	other := harness.New(harness.Options{Seed: 43}).ForCheck("x.a").Rand.Uint64()
	if other == a1 {
		t.Error("different seeds gave the same numbers")
	}
}

func TestRunnerInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stage := Stage{ID: "s", Checks: []Check{
		check("s.a", 1, func(context.Context, *harness.H) error { cancel(); return nil }),
		check("s.b", 1, func(context.Context, *harness.H) error { t.Error("ran after interrupt"); return nil }),
	}}
	run, _ := (&Runner{}).Run(ctx, []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if got := run.Stages[0].Checks[1]; got.Status != StatusError || !got.NotRun || !strings.Contains(got.Message, "interrupted") {
		t.Fatalf("second check: %+v", got)
	}
}
