package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
	"github.com/backend-grader/grader/internal/submission"
)

// chk is a check result for a synthetic report.
func chk(id string, status grader.Status, points int, msg string, sk ...string) grader.CheckResult {
	return grader.CheckResult{ID: id, Title: "title of " + id, Status: status, MaxPoints: points, Skills: sk, Message: msg}
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

// classRows is a small class: one perfect, two failing the same check with
// messages that differ only by an id, one that did not start, one not graded.
func classRows() []batchRow {
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
	return []batchRow{
		{name: "alice", rep: synth(nil, full("", ""))},
		{name: "bob", rep: synth(nil, full("GET /todos/0b7e2f9c-1a2b-4c3d-8e9f-0123456789ab: expected 200, got 404", ""))},
		{name: "carol", rep: synth(nil, full("GET /todos/11111111-2222-4333-8444-555555555555: expected 200, got 404", "expected total 3, got 0"))},
		{name: "dave", rep: synth(&grader.Problem{Kind: "start", Message: "your service never listened on $PORT"}, notStarted)},
		{name: "=eve", err: "could not copy the submission: permission denied"},
	}
}

func TestGradesCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := writeGradesCSV(&buf, classRows()); err != nil {
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
	if err := writeSummary(&buf, "rest", classRows()); err != nil {
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
	var rows []batchRow
	var cs []grader.CheckResult
	for i := range 12 {
		cs = append(cs, chk("rest.c"+string(rune('a'+i)), grader.StatusFail, 1, "wrong", skills.RESTDesign))
	}
	for range 3 {
		rows = append(rows, batchRow{name: "x", rep: synth(nil, map[string][]grader.CheckResult{"rest": cs})})
	}
	var buf bytes.Buffer
	if err := writeSummary(&buf, "rest", rows); err != nil {
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

func TestCollectSubmissions(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"class/bob", "class/alice", "class/.git", "class/grader-out", "other/alice", "listed/carol"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "class", "notes.txt"), []byte("x"), 0o644)
	list := filepath.Join(root, "list.txt")
	os.WriteFile(list, []byte("# the late ones\nlisted/carol\n\n"), 0o644)
	ios := &IOStreams{In: strings.NewReader("")}
	items, err := collectSubmissions(ios, []string{filepath.Join(root, "class"), filepath.Join(root, "other")}, list, filepath.Join(root, "class", "grader-out"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.name+"="+strings.TrimPrefix(it.src, root+"/"))
	}
	want := []string{"bob=class/bob", "carol=listed/carol", "class-alice=class/alice", "other-alice=other/alice"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("submissions (-want +got):\n%s", d)
	}

	// A directory with no subdirectory is a usage error that says what to do.
	proj := filepath.Join(root, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module x\n"), 0o644)
	_, err = collectSubmissions(ios, []string{proj}, "", "/nowhere")
	var ue *usageError
	if err == nil || !asUsage(err, &ue) || !strings.Contains(err.Error(), "grader check") {
		t.Errorf("err = %v, want a usage error pointing to grader check", err)
	}
}

func asUsage(err error, ue **usageError) bool {
	u, ok := err.(*usageError)
	*ue = u
	return ok
}

func TestKeepEarlierReports(t *testing.T) {
	out := t.TempDir()
	mk := func(name, stage string) *batchItem {
		it := &batchItem{name: name, outDir: filepath.Join(out, name)}
		if stage != "" {
			os.MkdirAll(it.outDir, 0o755)
			rep := synth(nil, nil)
			rep.Stage = stage
			if err := writeSubmissionReports(it.outDir, rep, nil); err != nil {
				t.Fatal(err)
			}
		}
		return it
	}
	a, b := mk("a", "rest"), mk("b", "")
	if err := keepEarlierReports([]*batchItem{a, b}, "rest", false); err != nil {
		t.Fatal(err)
	}
	if !a.skipped || a.rep == nil || b.skipped {
		t.Errorf("a skipped=%v, b skipped=%v; want only a (it has a report.json)", a.skipped, b.skipped)
	}
	a.skipped = false
	if err := keepEarlierReports([]*batchItem{a}, "rest", true); err != nil || a.skipped {
		t.Errorf("--force: skipped=%v err=%v, want graded again", a.skipped, err)
	}
	c := mk("c", "http")
	err := keepEarlierReports([]*batchItem{c}, "rest", false)
	if err == nil || !strings.Contains(err.Error(), "c (stage http)") {
		t.Errorf("a report of another stage: err = %v, want a usage error naming it", err)
	}
	for _, f := range []string{"report.json", "report.txt"} {
		if _, err := os.Stat(filepath.Join(out, "a", f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

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

func TestCopyTree(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, ".git", "objects"), 0o755)
	os.MkdirAll(filepath.Join(src, "cmd", "api"), 0o755)
	os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("ref"), 0o644)
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("echo hi"), 0o755)
	os.WriteFile(filepath.Join(src, "cmd", "api", "main.go"), []byte("package main"), 0o444)
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dst, "run.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh not copied with its mode: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "cmd", "api", "main.go")); string(b) != "package main" {
		t.Errorf("nested file not copied")
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "/etc/passwd" {
		t.Errorf("symlink: %q %v, want copied as a link", l, err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); err == nil {
		t.Errorf(".git was copied")
	}
}

func TestProgressLine(t *testing.T) {
	rep := synth(nil, map[string][]grader.CheckResult{"rest": {chk("rest.a", grader.StatusPass, 41, "", skills.RESTDesign), chk("rest.b", grader.StatusFail, 9, "no", skills.RESTDesign)}})
	it := &batchItem{name: "alice", rep: rep, dur: 12340 * time.Millisecond}
	if got, want := progressLine(3, 6, 7, it), "[3/6] alice    41/50  not passed  (12.3s)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
