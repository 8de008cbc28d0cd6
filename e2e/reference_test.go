package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/grader"
)

type stagesDoc struct {
	Track  string `json:"track"`
	Stages []struct {
		ID       string   `json:"id"`
		Services []string `json:"services"`
		Checks   []struct {
			ID     string   `json:"id"`
			Points int      `json:"points"`
			Skills []string `json:"skills"`
		} `json:"checks"`
	} `json:"stages"`
}

func loadStages(t *testing.T) stagesDoc {
	t.Helper()
	r := runGrader(t, 30*time.Second, "stages", "--format", "json")
	if r.code != 0 {
		t.Fatalf("grader stages exited %d: %s", r.code, r.stderr)
	}
	var doc stagesDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("grader stages --format json: %v", err)
	}
	return doc
}

// stageNeedsServices: does a run of --stage s (with its earlier stages) need
// Postgres or Redis?
func stageNeedsServices(doc stagesDoc, s string) bool {
	for _, st := range doc.Stages {
		if len(st.Services) > 0 {
			return true
		}
		if st.ID == s {
			return false
		}
	}
	return false
}

// TestEveryCheckCanFail: every check id appears in some defect's fails, and
// every id a defect names exists.
func TestEveryCheckCanFail(t *testing.T) {
	doc := loadStages(t)
	defects := loadDefects(t)
	failed := map[string]bool{}
	for _, d := range defects {
		for _, id := range d.Fails {
			failed[id] = true
		}
	}
	ids := map[string]bool{}
	for _, s := range doc.Stages {
		for _, c := range s.Checks {
			ids[c.ID] = true
			if !failed[c.ID] {
				t.Errorf("check %s is in no defect's fails: nothing proves it can fail", c.ID)
			}
			if !strings.HasPrefix(c.ID, s.ID+".") {
				t.Errorf("check %s does not start with its stage id %q", c.ID, s.ID)
			}
			if c.Points <= 0 || len(c.Skills) == 0 {
				t.Errorf("check %s: points %d, skills %v", c.ID, c.Points, c.Skills)
			}
		}
	}
	for name, d := range defects {
		if d.Stage == "" {
			t.Errorf("defect %s names no stage", name)
		}
		for _, id := range append(append([]string{}, d.Fails...), d.Blocked...) {
			if !ids[id] {
				t.Errorf("defect %s lists unknown check %s", name, id)
			}
			if !strings.HasPrefix(id, d.Stage+".") {
				t.Errorf("defect %s (stage %s) lists %s from another stage", name, d.Stage, id)
			}
		}
		for _, id := range d.Blocked {
			if slices.Contains(d.Fails, id) {
				t.Errorf("defect %s lists %s as failing and blocked", name, id)
			}
		}
	}
}

// TestReferencePassesHTTPWithoutServices is the README's first promise: the
// http stage needs nothing but the project.
func TestReferencePassesHTTPWithoutServices(t *testing.T) {
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 3*time.Minute, "check", dir, "--stage", "http", "--format", "json")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	n := 0
	for _, st := range statuses(r.report) {
		n++
		if st != grader.StatusPass {
			t.Errorf("a check is %s", st)
		}
	}
	if n < 6 {
		t.Errorf("%d checks ran, want at least 6", n)
	}
	assertNothingLeft(t, dir)
}

// TestReferencePassesEveryStage runs the whole track against the machine's
// own services (external mode).
func TestReferencePassesEveryStage(t *testing.T) {
	needLocalServices(t)
	doc := loadStages(t)
	last := doc.Stages[len(doc.Stages)-1].ID
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 5*time.Minute, "check", dir, "--stage", last, "--services", "external", "--format", "json")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	if got, want := len(statuses(r.report)), countChecks(doc); got != want {
		t.Errorf("%d checks in the report, the track has %d", got, want)
	}
	assertNothingLeft(t, dir)
}

func countChecks(doc stagesDoc) int {
	n := 0
	for _, s := range doc.Stages {
		n += len(s.Checks)
	}
	return n
}

func reportSummary(r result) string {
	if r.report == nil {
		return "no JSON report; stdout:\n" + tail(r.stdout, 20)
	}
	return explainFailures(r.report)
}

// TestDefectsFailExactlyTheirChecks: for every defect, `--stage <stage>
// --only` in the mode the defect needs fails exactly the listed checks,
// blocks exactly the listed ones and passes all others.
func TestDefectsFailExactlyTheirChecks(t *testing.T) {
	runCases(t, loadDefects(t), "TASKS_API_DEFECTS", 2)
}

var (
	durationField = regexp.MustCompile(`"(durationMs|provisionMs|buildMs|startMs|checksMs|totalMs)": \d+`)
	portNumber    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	uuidText      = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	jwtText       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
	timestamp     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// TestSameSeedSameReport: a run is repeatable with --seed. Everything the
// grader decides (checks, statuses, points, messages, hints, its own data)
// is the same; what the service makes up itself (ids, tokens, clock times,
// ports) and durations are normalised. Evidence is the service's own words
// and is left out.
func TestSameSeedSameReport(t *testing.T) {
	dir := copyFixture(t, "tasks-api")
	norm := func(r result) string {
		rep := *r.report
		rep.Stages = append([]grader.StageResult(nil), rep.Stages...)
		for i := range rep.Stages {
			cs := append([]grader.CheckResult(nil), rep.Stages[i].Checks...)
			for j := range cs {
				cs[j].Evidence = nil
			}
			rep.Stages[i].Checks = cs
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		s := durationField.ReplaceAllString(string(b), `"$1": 0`)
		s = portNumber.ReplaceAllString(s, "127.0.0.1:PORT")
		s = uuidText.ReplaceAllString(s, "UUID")
		s = jwtText.ReplaceAllString(s, "JWT")
		return timestamp.ReplaceAllString(s, "TIME")
	}
	// A defect makes failures (with their messages) part of the comparison.
	args := []string{"check", dir, "--stage", "rest", "--format", "json", "--seed", "4242", "--env", "TASKS_API_DEFECTS=" + firstDefectOf(t, "rest")}
	a := runGrader(t, 3*time.Minute, args...)
	b := runGrader(t, 3*time.Minute, args...)
	if a.report == nil || b.report == nil {
		t.Fatalf("no JSON report: %s", tail(a.stderr, 20))
	}
	if a.report.Passed {
		t.Fatal("the defect made no check fail: the comparison would be weak")
	}
	if d := cmp.Diff(norm(a), norm(b)); d != "" {
		t.Errorf("same seed, different reports (-first +second):\n%s", d)
	}
}

func firstDefectOf(t *testing.T, stage string) string {
	var names []string
	for n, d := range loadDefects(t) {
		if d.Stage == stage {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no defect for stage %s", stage)
	}
	sort.Strings(names)
	return names[0]
}

// TestOtherLanguagePassesHTTP: a stdlib Python project passes the http stage.
func TestOtherLanguagePassesHTTP(t *testing.T) {
	dir := copyFixture(t, "tasks-api-python")
	r := runGrader(t, 2*time.Minute, "check", dir, "--stage", "http", "--format", "json")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	assertNothingLeft(t, dir)
}
