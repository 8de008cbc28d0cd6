package e2e

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests below grade fixtures/adversarial/terminal-escapes (a service
// whose output, responses and grader.yaml carry terminal escapes, GitHub
// workflow commands and a spreadsheet formula) and the small Python
// reference at stage http: no services, no build, seconds each.

const adversarial = "adversarial/terminal-escapes"

// hostileNames are submission directory names that are themselves attacks;
// the batch names their outputs with control characters as '_'.
var hostileNames = []string{"\x1b]8;;https:evil.example\x07 ::error::name", "=1+2 ##[error]x"}

func outName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// assertInertText fails when text holds a raw control character other
// than newline and tab (ESC starts every CSI and OSC sequence, BEL ends
// OSC), a line that GitHub's runner reads as a workflow command, or "##[".
func assertInertText(t *testing.T, where, text string) {
	t.Helper()
	for i, r := range text {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Errorf("%s: raw control character %U at byte %d: %q", where, r, i, around(text, i))
			return
		}
	}
	if i := strings.Index(text, "##["); i >= 0 {
		t.Errorf("%s: an unescaped ##[ command: %q", where, around(text, i))
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "::") {
			t.Errorf("%s: a line starts a workflow command: %q", where, l)
		}
	}
}

func around(s string, i int) string {
	return s[max(0, i-40):min(len(s), i+40)]
}

// assertGitHubStream is assertInertText for a step's output where the
// grader's own annotations are allowed: every "::" line must be one of
// them, with the submission's text escaped inside.
func assertGitHubStream(t *testing.T, where, text string) {
	t.Helper()
	var mine, rest []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "::error title=") || strings.HasPrefix(l, "::notice title=") {
			mine = append(mine, l)
			continue
		}
		rest = append(rest, l)
	}
	assertInertText(t, where, strings.Join(rest, "\n"))
	for _, l := range mine {
		assertInertText(t, where+" (annotation)", strings.TrimPrefix(l, "::"))
	}
}

func TestBatchEscapesSubmissionText(t *testing.T) {
	t.Setenv("GRADER_BATCH_KEY", "e2e-batch-safety-key-0123456789")
	class := t.TempDir()
	for _, name := range append([]string{"adv"}, hostileNames...) {
		if err := os.Rename(copyFixture(t, adversarial), filepath.Join(class, name)); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	r := runGrader(t, 3*time.Minute, "batch", class, "--stage", "http", "--parallel", "3", "--timeout", "90s",
		"--out", out, "--format", "markdown", "--no-sandbox")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (both graded)\n%s", r.code, tail(r.stderr, 30))
	}
	assertInertText(t, "batch stderr (progress and log)", r.stderr)
	for _, want := range []string{`_]8;;https:evil.example_ ::error::name  `, `=1+2 #\x23[error]x  `} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the progress does not show the hostile name as %q:\n%s", want, r.stderr)
		}
	}
	files := []string{"summary.md", "grades.csv"}
	for _, name := range append([]string{"adv"}, hostileNames...) {
		name = outName(name)
		for _, f := range []string{"report.txt", "report.md", "grader.log"} {
			files = append(files, filepath.Join(name, f))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		assertInertText(t, f, string(b))
	}
	// grader.log keeps what the service printed, escaped.
	if b, _ := os.ReadFile(filepath.Join(out, "adv", "grader.log")); !strings.Contains(string(b), `[your_service] \x1b]52;c;cm0gLXJmIH4K\x07`) {
		t.Errorf("grader.log does not show the service's OSC 52 write escaped:\n%s", tail(string(b), 20))
	}
	f, err := os.Open(filepath.Join(out, "grades.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("grades.csv cell %q would be read as a formula", cell)
			}
		}
	}
}

func TestCheckGitHubEscapesSubmissionText(t *testing.T) {
	dir := copyFixture(t, adversarial)
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	r := runGrader(t, 2*time.Minute, "check", dir, "--stage", "http", "-v", "--format", "github")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (not passed)\n%s", r.code, tail(r.stderr, 30))
	}
	assertGitHubStream(t, "stdout", r.stdout)
	assertInertText(t, "stderr (-v output and log)", r.stderr)
	if !strings.Contains(r.stdout, "::error title=http.not-found::") {
		t.Errorf("no annotation for the failing check:\n%s", r.stdout)
	}
	for _, want := range []string{`[your_service] \x1b[2J\x1b[H screen cleared`, `[your_service] #\x23[error]forged`, `'\x1b]52;c;aGk=\x07' '::error::from grader.yaml' '#\x23[warning]yaml'`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not show %q:\n%s", want, tail(r.stderr, 30))
		}
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("no job summary: %v", err)
	}
	assertInertText(t, "job summary", string(b))
}

func TestBatchGradesTamperedReportAgain(t *testing.T) {
	t.Setenv("GRADER_BATCH_KEY", "e2e-batch-tamper-key-0123456789")
	class := t.TempDir()
	for _, name := range []string{"amy", "ben"} {
		if err := os.Rename(copyFixture(t, "tasks-api-python"), filepath.Join(class, name)); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"batch", class, "--stage", "http", "--parallel", "2", "--seed", "11", "--out", out, "--no-sandbox"}
	if r := runGrader(t, 2*time.Minute, args...); r.code != 0 {
		t.Fatalf("first run: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	path := filepath.Join(out, "ben", "report.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(orig), `"passed": true`, `"passed": false`, 1)
	if forged == string(orig) {
		t.Fatalf("ben did not pass at stage http: %s", orig)
	}
	if err := os.WriteFile(path, []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runGrader(t, 2*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if !strings.Contains(r.stderr, "kept 1 submission graded earlier") || !strings.Contains(r.stderr, ": amy") {
		t.Errorf("amy's signed report should be kept:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "grading ben again: its earlier report.json: not signed by this grader's key") ||
		!strings.Contains(r.stderr, "(graded again: its earlier report.json: not signed") {
		t.Errorf("the progress does not say ben's tampered report is graded again:\n%s", r.stderr)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"passed": true`) {
		t.Errorf("ben's report was not graded again:\n%s", b)
	}
	// With another key nothing earlier is trusted.
	t.Setenv("GRADER_BATCH_KEY", "another-key-entirely-0123456789")
	r = runGrader(t, 2*time.Minute, args...)
	if r.code != 0 || strings.Contains(r.stderr, "kept ") || strings.Count(r.stderr, "(graded again: ") != 2 {
		t.Errorf("another key: exit %d, want both graded again:\n%s", r.code, r.stderr)
	}
}

// csvRows is grades.csv as its header and its rows by submission.
func csvRows(t *testing.T, path string) ([]string, map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	rows := map[string][]string{}
	for _, rec := range recs[1:] {
		rows[rec[0]] = rec
	}
	return recs[0], rows
}

func TestBatchShardsMergeLikeOneBatch(t *testing.T) {
	t.Setenv("GRADER_BATCH_KEY", "e2e-batch-shard-key-0123456789")
	class := t.TempDir()
	names := []string{"p1", "p2", "p3", "p4", "x-adv"}
	for _, name := range names {
		fixture := "tasks-api-python"
		if name == "x-adv" {
			fixture = adversarial
		}
		if err := os.Rename(copyFixture(t, fixture), filepath.Join(class, name)); err != nil {
			t.Fatal(err)
		}
	}
	base := t.TempDir()
	common := []string{"batch", class, "--stage", "http", "--seed", "42", "--parallel", "2", "--timeout", "90s", "-q", "--no-sandbox"}
	whole := runGrader(t, 3*time.Minute, append(common, "--out", filepath.Join(base, "whole"))...)
	if whole.code != 0 {
		t.Fatalf("unsharded: exit %d\n%s", whole.code, tail(whole.stderr, 20))
	}
	var shardDirs []string
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		dir := filepath.Join(base, "shard", string(rune('0'+i)))
		shardDirs = append(shardDirs, dir)
		r := runGrader(t, 3*time.Minute, append(common, "--shard", string(rune('0'+i))+"/3", "--out", dir)...)
		if r.code != 0 {
			t.Fatalf("shard %d/3: exit %d\n%s", i, r.code, tail(r.stderr, 20))
		}
		_, rows := csvRows(t, filepath.Join(dir, "grades.csv"))
		for n := range rows {
			if seen[n] {
				t.Errorf("%s graded by two shards", n)
			}
			seen[n] = true
		}
	}
	merged := filepath.Join(base, "merged")
	r := runGrader(t, time.Minute, "merge", shardDirs[2], shardDirs[0], shardDirs[1], "--out", merged)
	if r.code != 0 {
		t.Fatalf("merge: exit %d\n%s", r.code, r.stderr)
	}
	wantHead, want := csvRows(t, filepath.Join(base, "whole", "grades.csv"))
	gotHead, got := csvRows(t, filepath.Join(merged, "grades.csv"))
	if !slices.Equal(gotHead, wantHead) {
		t.Errorf("merged header %v, want %v", gotHead, wantHead)
	}
	for _, n := range names {
		if !slices.Equal(got[n], want[n]) {
			t.Errorf("%s: merged row %v, unsharded %v", n, got[n], want[n])
		}
	}
	if len(got) != len(names) {
		t.Errorf("merged %d rows, want %d", len(got), len(names))
	}
	if _, err := os.Stat(filepath.Join(merged, "summary.md")); err != nil {
		t.Errorf("no merged summary.md: %v", err)
	}

	// Overlapping and missing shards are refused.
	r = runGrader(t, time.Minute, "merge", shardDirs[0], shardDirs[0], shardDirs[1], "--out", filepath.Join(base, "bad"))
	if r.code != 2 || !strings.Contains(r.stderr, "overlapping shards") {
		t.Errorf("overlapping: exit %d, want 2 with 'overlapping shards':\n%s", r.code, r.stderr)
	}
	r = runGrader(t, time.Minute, "merge", shardDirs[0], shardDirs[1], "--out", filepath.Join(base, "bad"))
	if r.code != 2 || !strings.Contains(r.stderr, "shard 3/3 missing") {
		t.Errorf("missing: exit %d, want 2 naming shard 3/3:\n%s", r.code, r.stderr)
	}
}
