package grader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/verdict"
)

func TestRunnerStopsWhenANeededServiceIsMissing(t *testing.T) {
	ran := map[string]bool{}
	mark := func(id string) func(context.Context, *harness.H) error {
		return func(context.Context, *harness.H) error { ran[id] = true; return nil }
	}
	stage := Stage{ID: "s", Checks: []Check{
		check("s.before", 1, mark("s.before")),
		{ID: "s.redis", Points: 2, Needs: []Service{Redis}, Run: mark("s.redis")},
		check("s.after", 1, mark("s.after")),
	}}
	// No Redis in this harness.
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if !verdict.IsEnvironment(err) {
		t.Fatalf("err = %v, want a verdict.Environment", err)
	}
	for _, want := range []string{"s.redis", "Redis", "--redis-url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if d := cmp.Diff(map[string]bool{"s.before": true}, ran); d != "" {
		t.Errorf("checks run (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]Status{"s.before": StatusPass}, statuses(run.Stages)); d != "" {
		t.Errorf("results before the stop (-want +got):\n%s", d)
	}
}

func TestRunnerStopsWhenACheckMeetsAnEnvironmentFailure(t *testing.T) {
	cleaned := false
	stage := Stage{ID: "s", Checks: []Check{
		check("s.fault", 1, func(_ context.Context, h *harness.H) error {
			h.Cleanup(func(context.Context) error { cleaned = true; return nil })
			return fmt.Errorf("pausing redis: %w", verdict.Environmentf("the docker engine refused to pause redis"))
		}),
		check("s.after", 1, func(context.Context, *harness.H) error { t.Error("ran after the environment failed"); return nil }),
	}}
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if !verdict.IsEnvironment(err) || !strings.Contains(err.Error(), "s.fault") || !strings.Contains(err.Error(), "refused to pause") {
		t.Fatalf("err = %v, want a verdict.Environment naming the check and the cause", err)
	}
	if len(run.Stages) != 0 {
		t.Errorf("the check that met the environment failure has a result: %+v", run.Stages)
	}
	if !cleaned {
		t.Error("the check's cleanup did not run before the run stopped")
	}
}

func TestRunnerBlockedChecksAndRootCauses(t *testing.T) {
	reg := Failf("POST /register: expected 201, got 500")
	stage := Stage{ID: "auth", Checks: []Check{
		check("auth.register", 2, func(context.Context, *harness.H) error { return reg }),
		check("auth.a", 3, func(context.Context, *harness.H) error {
			return fmt.Errorf("setup: %w", Blockedf("auth.register", "registering a user failed: POST /register answered 500"))
		}),
		check("auth.b", 1, func(context.Context, *harness.H) error {
			return Blockedf("auth.register", "registering a user failed").WithHint("fix registration first")
		}),
		check("auth.c", 1, func(context.Context, *harness.H) error { return Blockedf("rest.create", "creating a todo failed") }),
		check("auth.self", 1, func(context.Context, *harness.H) error { return Blockedf("", "no cause named") }),
		check("auth.ok", 1, func(context.Context, *harness.H) error { return nil }),
	}}
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"auth.register": StatusFail, "auth.a": StatusBlocked, "auth.b": StatusBlocked,
		"auth.c": StatusBlocked, "auth.self": StatusError, "auth.ok": StatusPass}
	if d := cmp.Diff(want, statuses(run.Stages)); d != "" {
		t.Fatalf("statuses (-want +got):\n%s", d)
	}
	got := run.Stages[0].Checks
	if got[1].BlockedBy != "auth.register" || got[2].Hint != "fix registration first" || len(got[1].Evidence) != 0 {
		t.Errorf("blocked results: %+v %+v", got[1], got[2])
	}
	if !strings.Contains(got[4].Message, "grader bug") {
		t.Errorf("a check blocked by no check: %q", got[4].Message)
	}

	rep := Report{}
	rep.Apply(run)
	if rep.Passed || rep.Score != 1 || rep.MaxScore != 9 {
		t.Errorf("tally: passed %v %d/%d, want false 1/9 (blocked checks score 0 and count)", rep.Passed, rep.Score, rep.MaxScore)
	}
	wantCauses := []Cause{
		{Check: "auth.register", Title: "auth.register", Status: StatusFail, Message: reg.Message,
			Reason: "registering a user failed: POST /register answered 500", Blocked: []string{"auth.a", "auth.b"}, Count: 2},
		// rest.create did not run here: the cause still names it.
		{Check: "rest.create", Reason: "creating a todo failed", Blocked: []string{"auth.c"}, Count: 1},
	}
	if d := cmp.Diff(wantCauses, rep.Causes); d != "" {
		t.Errorf("causes (-want +got):\n%s", d)
	}
}

func TestCausesAreOrderedByHowManyTheyBlock(t *testing.T) {
	b := func(id, by string) CheckResult {
		return CheckResult{ID: id, Status: StatusBlocked, BlockedBy: by, Message: "x"}
	}
	rep := Report{Stages: []StageResult{{ID: "s", Checks: []CheckResult{
		b("s.1", "one"), b("s.2", "two"), b("s.3", "two"), b("s.4", "three"), b("s.5", "two"), b("s.6", "three"),
	}}}}
	rep.Tally()
	var order []string
	for _, c := range rep.Causes {
		order = append(order, fmt.Sprintf("%s:%d", c.Check, c.Count))
	}
	if d := cmp.Diff([]string{"two:3", "three:2", "one:1"}, order); d != "" {
		t.Errorf("cause order (-want +got):\n%s", d)
	}
}

// events is a log shared by checks and cleanups, safe for the goroutine
// of a check that overran.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) { e.mu.Lock(); e.log = append(e.log, s); e.mu.Unlock() }
func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

func TestCleanupsRunAfterPanicAndTimeoutBeforeTheNextCheck(t *testing.T) {
	var ev events
	release := make(chan struct{})
	defer close(release)
	cleanup := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			if ctx.Err() != nil {
				ev.add(name + " with a dead context")
			}
			ev.add(name)
			return nil
		}
	}
	stage := Stage{ID: "s", Checks: []Check{
		check("s.panics", 1, func(_ context.Context, h *harness.H) error {
			h.Cleanup(cleanup("panics: first registered"))
			h.Cleanup(cleanup("panics: second registered"))
			panic("boom")
		}),
		check("s.next", 1, func(context.Context, *harness.H) error { ev.add("s.next starts"); return nil }),
		{ID: "s.overruns", Points: 1, Timeout: 20 * time.Millisecond, Run: func(_ context.Context, h *harness.H) error {
			h.Cleanup(cleanup("overruns: cleanup"))
			<-release // ignores its context: still running after the grace
			return nil
		}},
		check("s.last", 1, func(context.Context, *harness.H) error { ev.add("s.last starts"); return nil }),
	}}
	run, err := (&Runner{Grace: 30 * time.Millisecond}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"panics: second registered", "panics: first registered", "s.next starts",
		"overruns: cleanup", "s.last starts",
	}
	if d := cmp.Diff(want, ev.get()); d != "" {
		t.Errorf("order of events (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]Status{"s.panics": StatusError, "s.next": StatusPass, "s.overruns": StatusError, "s.last": StatusPass},
		statuses(run.Stages)); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"s.overruns"}, run.Tainted); d != "" {
		t.Errorf("tainted (-want +got):\n%s", d)
	}
	if len(run.Notes) != 1 || !strings.Contains(run.Notes[0], "s.overruns") || !strings.Contains(run.Notes[0], "--check") {
		t.Errorf("notes: %q, want one saying which check overran and what to do", run.Notes)
	}
	rep := Report{}
	rep.Apply(run)
	if d := cmp.Diff([]string{"s.overruns"}, rep.Tainted); d != "" {
		t.Errorf("report tainted (-want +got):\n%s", d)
	}
}

func TestCleanupsRunWhenInterruptedAndFailuresAreNoted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ev events
	stage := Stage{ID: "s", Checks: []Check{
		check("s.a", 1, func(_ context.Context, h *harness.H) error {
			h.Cleanup(func(ctx context.Context) error {
				if ctx.Err() != nil {
					return errors.New("the cleanup's context was already cancelled")
				}
				ev.add("undone")
				return nil
			})
			h.Cleanup(func(context.Context) error { return errors.New("could not unpause redis") })
			cancel()
			return nil
		}),
	}}
	run, err := (&Runner{}).Run(ctx, []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"undone"}, ev.get()); d != "" {
		t.Errorf("cleanups after an interrupt (-want +got):\n%s", d)
	}
	if len(run.Notes) != 1 || !strings.Contains(run.Notes[0], "could not unpause redis") || !strings.Contains(run.Notes[0], "s.a") {
		t.Errorf("notes: %q", run.Notes)
	}
	if d := cmp.Diff([]string{"s.a"}, run.Tainted); d != "" {
		t.Errorf("tainted (-want +got):\n%s", d)
	}
}

func TestRunnerNotesOnlyWhatHappened(t *testing.T) {
	stage := Stage{ID: "s", Checks: []Check{
		check("s.a", 1, func(_ context.Context, h *harness.H) error {
			h.Cleanup(func(context.Context) error { return nil })
			return Failf("wrong")
		}),
		check("s.b", 1, func(context.Context, *harness.H) error { return Skipf("no docker") }),
	}}
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil || len(run.Notes) != 0 || len(run.Tainted) != 0 {
		t.Errorf("err %v, notes %q, tainted %q: want none for an ordinary run", err, run.Notes, run.Tainted)
	}
}

func TestErrNoFaultsIsASkip(t *testing.T) {
	stage := Stage{ID: "s", Checks: []Check{
		check("s.pause", 2, func(ctx context.Context, h *harness.H) error {
			return fmt.Errorf("pausing redis: %w", harness.ErrNoFaults)
		}),
	}}
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil {
		t.Fatal(err)
	}
	got := run.Stages[0].Checks[0]
	if got.Status != StatusSkip || !strings.Contains(got.Message, "--services docker") {
		t.Errorf("a check returning ErrNoFaults: %+v, want skip saying how to get faults", got)
	}
}

func TestEvidenceKeepsTheDecisiveStep(t *testing.T) {
	stage := Stage{ID: "s", Checks: []Check{
		check("s.a", 1, func(_ context.Context, h *harness.H) error {
			h.Record("http", "curl one", "HTTP 500")
			h.MarkDecisive()
			for i := range 5 {
				h.Record("sql", fmt.Sprintf("SELECT %d", i), "(0 rows)")
			}
			h.Cleanup(func(context.Context) error { h.Record("note", "cleanup", ""); return nil })
			return Failf("expected 200, got 500")
		}),
	}}
	run, err := (&Runner{}).Run(context.Background(), []Stage{stage}, harness.New(harness.Options{Service: &fakeService{}}))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, s := range run.Stages[0].Checks[0].Evidence {
		cmds = append(cmds, fmt.Sprintf("%s %v", s.Command, s.Decisive))
	}
	if d := cmp.Diff([]string{"curl one true", "SELECT 2 false", "SELECT 3 false", "SELECT 4 false"}, cmds); d != "" {
		t.Errorf("evidence (-want +got):\n%s", d)
	}
}
