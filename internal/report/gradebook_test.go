package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

// chk is a check result for a synthetic report.
func chk(id string, status grader.Status, points int, msg string, sk ...string) grader.CheckResult {
	return grader.CheckResult{ID: id, Title: "title of " + id, Status: status, MaxPoints: points, Skills: sk, Message: msg,
		NotRun: strings.HasPrefix(msg, "not run: ")}
}

// synth makes a tallied report at stage rest from stages of check results.
func synth(problem *grader.Problem, stages map[string][]grader.CheckResult) *grader.Report {
	r := &grader.Report{SchemaVersion: grader.SchemaVersion, Track: "tasks", Stage: "rest", Problem: problem}
	for _, id := range []string{"http", "rest"} {
		if cs, ok := stages[id]; ok {
			r.Stages = append(r.Stages, grader.StageResult{ID: id, Title: id, Checks: cs})
		}
	}
	r.Tally()
	return r
}

// trackOrder is the stage order of the columns: the track's.
var trackOrder = []string{"http", "rest", "persistence"}

// classRows is a small class: one perfect, two failing the same check with
// messages that differ only by an id, one that did not start, one not graded.
func classRows() []GradebookRow {
	ok := func(id string, pts int, sk string) grader.CheckResult { return chk(id, grader.StatusPass, pts, "", sk) }
	full := func(failCreate, failList string) map[string][]grader.CheckResult {
		create := ok("rest.create", 3, skills.RESTDesign)
		if failCreate != "" {
			create = chk("rest.create", grader.StatusFail, 3, failCreate, skills.RESTDesign)
		}
		list := ok("rest.list", 2, skills.Pagination)
		if failList != "" {
			list = chk("rest.list", grader.StatusFail, 2, failList, skills.Pagination)
		}
		return map[string][]grader.CheckResult{
			"http": {ok("http.health", 2, skills.HTTP), ok("http.not-found", 1, skills.HTTP)},
			"rest": {create, list},
		}
	}
	notStarted := map[string][]grader.CheckResult{
		"http": {chk("http.health", grader.StatusError, 2, "not run: never listened on $PORT", skills.HTTP),
			chk("http.not-found", grader.StatusError, 1, "not run: never listened on $PORT", skills.HTTP)},
		"rest": {chk("rest.create", grader.StatusError, 3, "not run: never listened on $PORT", skills.RESTDesign),
			chk("rest.list", grader.StatusError, 2, "not run: never listened on $PORT", skills.Pagination)},
	}
	return []GradebookRow{
		{Name: "alice", Report: synth(nil, full("", ""))},
		{Name: "bob", Report: synth(nil, full("GET /todos/0b7e2f9c-1a2b-4c3d-8e9f-0123456789ab: expected 200, got 404", ""))},
		{Name: "carol", Report: synth(nil, full("GET /todos/11111111-2222-4333-8444-555555555555: expected 200, got 404", "expected total 3, got 0"))},
		{Name: "dave", Report: synth(&grader.Problem{Kind: "start", Message: "your service never listened on $PORT"}, notStarted)},
		{Name: "=eve", Err: "could not copy the submission: permission denied"},
	}
}

func TestGradesCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := (Gradebook{Stage: "rest", StageOrder: trackOrder, Rows: classRows()}).WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("grades.csv does not parse: %v\n%s", err, buf.String())
	}
	want := [][]string{
		{"submission", "passed", "score", "maxScore", "stage:http", "stage:rest",
			"skill:" + skills.HTTP, "skill:" + skills.RESTDesign, "skill:" + skills.Pagination, "problem", "error"},
		{"alice", "true", "8", "8", "3", "5", "3", "3", "2", "", ""},
		{"bob", "false", "5", "8", "3", "2", "3", "0", "2", "", ""},
		{"carol", "false", "3", "8", "3", "0", "3", "0", "0", "", ""},
		{"dave", "false", "0", "8", "0", "0", "0", "0", "0", "start: your service never listened on $PORT", ""},
		{"'=eve", "", "", "", "", "", "", "", "", "", "could not copy the submission: permission denied"},
	}
	if d := cmp.Diff(want, recs); d != "" {
		t.Errorf("grades.csv (-want +got):\n%s", d)
	}
}

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	if err := (Gradebook{Stage: "rest", StageOrder: trackOrder, Rows: classRows()}).WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"# Batch summary: stage `rest`",
		"5 submissions · **1 passed** · **3 not passed** · **1 not graded**",
		// scores 0, 3, 5, 8 of 8: median 4
		"| min | 0/8 | 0% |", "| median | 4/8 | 50% |", "| max | 8/8 | 100% |",
		// histogram: 0% and 37.5% and 62.5% and 100%
		"0–9%     █ 1\n", "30–39%   █ 1\n", "60–69%   █ 1\n", "90–100%  █ 1\n", "10–19%    0\n",
		// the two 404 messages differ only by the todo's id: one group
		"| `rest.create` title of rest.create | 2 of 4 | GET /todos/&lt;id&gt;: expected 200, got 404 (2) |",
		"| `rest.list` title of rest.list | 1 of 4 | expected total 3, got 0 (1) |",
		"| http | 3 of 4 | 75% |", "| rest | 1 of 4 | 25% |",
		"- **dave**: start: your service never listened on $PORT",
		"- **=eve**: not graded: could not copy the submission: permission denied",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q\n---\n%s", want, md)
		}
	}
	// "not run" checks of a submission that did not start are not failures.
	if strings.Contains(md, "`http.health`") {
		t.Errorf("summary.md counts not-run checks as failures:\n%s", md)
	}
	if i, j := strings.Index(md, "`rest.create`"), strings.Index(md, "`rest.list`"); i < 0 || j < i {
		t.Errorf("checks are not ordered by how often they fail:\n%s", md)
	}
}

func TestSummaryTopTen(t *testing.T) {
	var rows []GradebookRow
	var cs []grader.CheckResult
	for i := range 12 {
		cs = append(cs, chk("rest.c"+string(rune('a'+i)), grader.StatusFail, 1, "wrong", skills.RESTDesign))
	}
	for range 3 {
		rows = append(rows, GradebookRow{Name: "x", Report: synth(nil, map[string][]grader.CheckResult{"rest": cs})})
	}
	var buf bytes.Buffer
	if err := (Gradebook{Stage: "rest", StageOrder: trackOrder, Rows: rows}).WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "| 3 of 3 |"); n != 10 {
		t.Errorf("%d failing checks listed, want the top 10", n)
	}
}

func TestHistogramScales(t *testing.T) {
	pcts := make([]float64, 200)
	h := histogram(pcts)
	if !strings.HasPrefix(h, "0–9%     "+strings.Repeat("█", 40)+" 200\n") {
		t.Errorf("a bucket of 200 is not scaled to 40:\n%s", h)
	}
}
