package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fatih/color"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func render(t *testing.T, format string, r *grader.Report, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, format, r, o); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return buf.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/report -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, fx := range fixtures {
		for _, f := range Formats {
			t.Run(fx.name+"/"+f, func(t *testing.T) {
				golden(t, fx.name+"."+f, render(t, f, fx.make(), Options{}))
			})
		}
	}
	t.Run("mixed/text-verbose", func(t *testing.T) {
		golden(t, "mixed.text-verbose", render(t, "text", mixedReport(), Options{Verbose: true}))
	})
	t.Run("mixed/text-color", func(t *testing.T) {
		golden(t, "mixed.text-color", render(t, "text", mixedReport(), Options{Color: true}))
	})
}

func TestWriteRejectsUnknownFormatAndNilReport(t *testing.T) {
	err := Write(&bytes.Buffer{}, "yaml", mixedReport(), Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown report format "yaml"`) || !strings.Contains(err.Error(), "gradescope") {
		t.Errorf("unknown format: got %v, want an error naming the format and the choices", err)
	}
	if err := Write(&bytes.Buffer{}, "text", nil, Options{}); err == nil {
		t.Error("nil report: got no error")
	}
}

func TestColorIsPerWriteNotGlobal(t *testing.T) {
	saved := color.NoColor
	defer func() { color.NoColor = saved }()

	color.NoColor = true // what fatih/color decides when stdout is not a TTY
	if out := render(t, "text", mixedReport(), Options{Color: true}); !strings.Contains(out, "\x1b[") {
		t.Error("Color: true printed no colour when color.NoColor is set globally")
	}
	color.NoColor = false
	if out := render(t, "text", mixedReport(), Options{}); strings.Contains(out, "\x1b[") {
		t.Error("Color: false printed colour codes")
	}
	// The learner's own escape codes never reach the terminal raw.
	if out := render(t, "text", mixedReport(), Options{}); !strings.Contains(out, `\x1b[2J`) {
		t.Error("an escape code from the evidence was not shown as \\x1b")
	}
}

func TestJSONRoundTrips(t *testing.T) {
	for _, fx := range fixtures {
		r := fx.make()
		out := render(t, "json", r, Options{})
		var back grader.Report
		if err := json.Unmarshal([]byte(out), &back); err != nil {
			t.Fatalf("%s: the JSON does not parse: %v", fx.name, err)
		}
		if !reflect.DeepEqual(&back, withLists(r)) {
			t.Errorf("%s: the JSON does not decode back to the report:\n%s", fx.name, out)
		}
		if strings.Contains(out, "null") {
			t.Errorf("%s: the JSON holds a null list:\n%s", fx.name, out)
		}
	}
	// Nil lists come out as [] and the caller's report is left alone.
	r := &grader.Report{Stages: []grader.StageResult{{ID: "http", Checks: []grader.CheckResult{{ID: "http.x"}}}}}
	out := render(t, "json", r, Options{})
	for _, want := range []string{`"skills": []`, `"checks": [`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if r.Skills != nil || r.Stages[0].Checks[0].Skills != nil {
		t.Error("rendering JSON changed the caller's report")
	}
}

func TestJUnitIsValidXMLWithTheRightCounts(t *testing.T) {
	nasty := mixedReport()
	nasty.Stages[0].Checks[1].Message = "bad \x00 byte, escape \x1b[0m, <tag> & \"quotes\"\nsecond line"
	nasty.Stages[0].Checks[1].Evidence[0].Output = "]]> \x07 \xff invalid utf-8 \uffff"
	cases := append(fixtures, struct {
		name string
		make func() *grader.Report
	}{"nasty", func() *grader.Report { return nasty }})
	for _, fx := range cases {
		r := fx.make()
		out := render(t, "junit", r, Options{})
		var doc junitSuites
		if err := xml.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: the JUnit XML does not parse: %v\n%s", fx.name, err, out)
		}
		n := r.Counts()
		// A blocked check is skipped when its cause failed in the report,
		// else a failure (see junit.go).
		blockedSkipped := 0
		for _, st := range r.Stages {
			for _, c := range st.Checks {
				if c.Status == grader.StatusBlocked && causeFailed(r, c.BlockedBy) {
					blockedSkipped++
				}
			}
		}
		blockedFailed := n[grader.StatusBlocked] - blockedSkipped
		if doc.Tests != n[grader.StatusPass]+n[grader.StatusFail]+n[grader.StatusError]+n[grader.StatusSkip]+n[grader.StatusBlocked] ||
			doc.Failures != n[grader.StatusFail]+blockedFailed || doc.Errors != n[grader.StatusError] ||
			doc.Skipped != n[grader.StatusSkip]+blockedSkipped {
			t.Errorf("%s: counts tests=%d failures=%d errors=%d skipped=%d, want %v", fx.name,
				doc.Tests, doc.Failures, doc.Errors, doc.Skipped, n)
		}
		if len(doc.Suites) != len(r.Stages) {
			t.Errorf("%s: %d testsuites, want one per stage (%d)", fx.name, len(doc.Suites), len(r.Stages))
		}
		for i, s := range doc.Suites {
			if s.Name != r.Stages[i].ID || len(s.Cases) != len(r.Stages[i].Checks) {
				t.Errorf("%s: suite %q has %d cases, want %q with %d", fx.name, s.Name, len(s.Cases), r.Stages[i].ID, len(r.Stages[i].Checks))
			}
		}
	}
	// The message survives the round trip, control characters made visible.
	var doc junitSuites
	_ = xml.Unmarshal([]byte(render(t, "junit", nasty, Options{})), &doc)
	got := doc.Suites[0].Cases[1].Failure
	if got == nil || !strings.Contains(got.Message, `<tag> & "quotes"`) || !strings.Contains(got.Message, `\x00`) ||
		!strings.Contains(got.Body, "hint: your router") || !strings.Contains(got.Body, "$ curl -i") {
		t.Errorf("failure after the round trip: %+v", got)
	}
}

func TestJUnitProblemWithoutStages(t *testing.T) {
	r := problemReport()
	r.Stages = nil
	r.Tally()
	var doc junitSuites
	if err := xml.Unmarshal([]byte(render(t, "junit", r, Options{})), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Errors != 1 || len(doc.Suites) != 1 || doc.Suites[0].SystemErr == nil || !strings.Contains(doc.Suites[0].SystemErr.Text, "undefined: handleTasks") {
		t.Errorf("a problem with no stages should be one error case with the log: %+v", doc)
	}
}

func TestGitHubEscaping(t *testing.T) {
	if got, want := escapeData("100% done\r\nnext"), "100%25 done%0D%0Anext"; got != want {
		t.Errorf("escapeData = %q, want %q", got, want)
	}
	if got, want := escapeProperty("rest.create: a, b %\n"), "rest.create%3A a%2C b %25%0A"; got != want {
		t.Errorf("escapeProperty = %q, want %q", got, want)
	}

	// A learner-controlled message cannot start a workflow command.
	r := mixedReport()
	r.Stages[0].Checks[1].Message = "got 50%\n::warning::injected\r\n::add-mask::x"
	r.Submission.Path = "/tmp/x\n::error::injected"
	out := render(t, "github", r, Options{})
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(l, "::") && !strings.HasPrefix(l, "::error title=") && !strings.HasPrefix(l, "::notice title=") {
			t.Errorf("unexpected workflow command line %q", l)
		}
		if strings.Contains(l, "injected") && !strings.HasPrefix(l, "::error title=http.not-found::") && !strings.HasPrefix(l, "re-run") {
			t.Errorf("injected text on its own line: %q", l)
		}
	}
	if !strings.Contains(out, "::error title=http.not-found::got 50%25%0A\\x3a:warning::injected%0A\\x3a:add-mask::x%0Ahint: ") {
		t.Errorf("message not escaped as expected:\n%s", out)
	}
}

func TestGitHubAnnotationLimit(t *testing.T) {
	out := render(t, "github", manyFailuresReport(15, 100), Options{})
	if n := strings.Count(out, "::error "); n != maxAnnotations {
		t.Errorf("%d error annotations, want %d", n, maxAnnotations)
	}
	if n := strings.Count(out, "::notice "); n != 1 || !strings.Contains(out, "5 more failures not shown") {
		t.Errorf("want one notice about 5 more failures:\n%s", out)
	}
	if !strings.HasSuffix(out, "NOT PASSED 0/15 (15 failed)\nre-run one check: grader check /home/learner/tasks-api --stage caching --check rest.check-000\n") {
		t.Errorf("missing the plain result line:\n%s", out)
	}

	// A build problem: one annotation for it, one notice for the checks not run.
	out = render(t, "github", problemReport(), Options{})
	if strings.Count(out, "::error ") != 1 || !strings.Contains(out, "::error title=grader%3A build::your project did not build") ||
		!strings.Contains(out, "::notice title=grader::3 checks not run because your project did not build") {
		t.Errorf("problem annotations:\n%s", out)
	}
}

func TestGitHubAppendsTheSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	if err := os.WriteFile(path, []byte("from an earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mixedReport()
	render(t, "github", r, Options{SummaryPath: path})
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "from an earlier step\n" + render(t, "markdown", r, Options{}); string(got) != want {
		t.Errorf("summary file:\n%s\nwant:\n%s", got, want)
	}

	bad := filepath.Join(t.TempDir(), "no-such-dir", "summary.md")
	err = Write(&bytes.Buffer{}, "github", r, Options{SummaryPath: bad})
	if err == nil || !strings.Contains(err.Error(), bad) || err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
		t.Errorf("unwritable summary: got %v, want a lower-case error naming the path", err)
	}
}

func TestMarkdownStaysUnderTheLimit(t *testing.T) {
	// 400 failures with 2 x 8 KiB of evidence each: ~6 MiB uncut.
	r := manyFailuresReport(400, 8<<10)
	full := markdown(r, mdLevels[0])
	if len(full) <= MaxMarkdownBytes {
		t.Fatalf("test report too small (%d bytes) to exercise the cap", len(full))
	}
	out := render(t, "markdown", r, Options{})
	if len(out) > MaxMarkdownBytes {
		t.Errorf("markdown is %d bytes, over the %d limit", len(out), MaxMarkdownBytes)
	}
	if !strings.Contains(out, "to keep this summary under GitHub's 1 MiB limit") {
		t.Error("the markdown does not say what was cut")
	}
	if !strings.Contains(out, "`rest.check-399`") || !strings.Contains(out, "### Skills") {
		t.Error("cutting evidence lost the check table or the skills")
	}

	// A small report is left whole.
	if out := render(t, "markdown", mixedReport(), Options{}); strings.Contains(out, "1 MiB") {
		t.Error("a small report says it was cut")
	}

	// Last resort: a hard cut, still under the limit and saying so.
	out = string(renderMarkdown(r, 4000))
	if len(out) > 4000 || !strings.Contains(out, "the summary was cut here") {
		t.Errorf("hard cut: %d bytes:\n%s", len(out), out)
	}
}

func TestClassroomShape(t *testing.T) {
	for _, fx := range fixtures {
		r := fx.make()
		var got struct {
			Version  int    `json:"version"`
			Status   string `json:"status"`
			MaxScore int    `json:"max_score"`
			Tests    []map[string]any
		}
		if err := json.Unmarshal([]byte(render(t, "classroom", r, Options{})), &got); err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, tc := range got.Tests {
			for _, k := range []string{"name", "status", "score", "max_score", "message", "test_code", "filename", "line_no", "duration"} {
				if _, ok := tc[k]; !ok {
					t.Errorf("%s: test %v has no %q", fx.name, tc["name"], k)
				}
			}
			if s := tc["status"]; s != "pass" && s != "fail" && s != "error" {
				t.Errorf("%s: status %v", fx.name, s)
			}
			sum += int(tc["score"].(float64))
		}
		if got.Version != 1 || sum != r.Score || got.MaxScore != r.MaxScore {
			t.Errorf("%s: version %d, tests sum to %d of %d; want 1, %d of %d", fx.name, got.Version, sum, got.MaxScore, r.Score, r.MaxScore)
		}
		want := map[string]string{"allpass": "pass", "mixed": "fail", "problem": "fail", "blocked": "fail"}[fx.name]
		if got.Status != want {
			t.Errorf("%s: status %q, want %q", fx.name, got.Status, want)
		}
	}
}

func TestGradescopeShape(t *testing.T) {
	for _, fx := range fixtures {
		r := fx.make()
		var got struct {
			Score int `json:"score"`
			Tests []struct {
				Score    int    `json:"score"`
				MaxScore int    `json:"max_score"`
				Status   string `json:"status"`
			} `json:"tests"`
		}
		if err := json.Unmarshal([]byte(render(t, "gradescope", r, Options{})), &got); err != nil {
			t.Fatal(err)
		}
		sum, maxSum := 0, 0
		for _, tc := range got.Tests {
			if tc.Status != "passed" && tc.Status != "failed" {
				t.Errorf("%s: status %q", fx.name, tc.Status)
			}
			sum += tc.Score
			maxSum += tc.MaxScore
		}
		if got.Score != r.Score || sum != r.Score || maxSum != r.MaxScore {
			t.Errorf("%s: score %d, tests %d/%d; want %d/%d", fx.name, got.Score, sum, maxSum, r.Score, r.MaxScore)
		}
	}
}

func TestResultLine(t *testing.T) {
	cases := map[string]string{
		"allpass": "PASSED 10/10",
		"mixed":   "NOT PASSED 7/14 (2 failed, 1 error, 1 skipped)",
		"problem": "NOT PASSED 0/6 (your project did not build, 3 not run)",
		"blocked": "NOT PASSED 1/15 (1 failed, 1 error, 4 blocked)",
	}
	for _, fx := range fixtures {
		if got := resultLine(fx.make()); got != cases[fx.name] {
			t.Errorf("%s: %q, want %q", fx.name, got, cases[fx.name])
		}
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	onStart, onResult := Progress(&buf, false)
	st := grader.Stage{ID: "caching", Title: "Caching with Redis"}
	r := mixedReport()
	for _, c := range r.Stages[2].Checks {
		onStart(st, grader.Check{ID: c.ID})
		onResult(st, c)
	}
	want := "caching · Caching with Redis\n" +
		"  ✓ caching.hit  Repeated reads come from the cache  [2/2]  120ms\n" +
		"  ! caching.ttl  Cached entries expire after CACHE_TTL_SECONDS  [0/2]  30.0s  — timed out after 30s: the service did not answer in time\n" +
		"  – caching.redis-down  Survives Redis going away  [skipped]  — fault injection needs the grader's own service containers (--services docker)\n"
	if buf.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	onStart, onResult = Progress(&buf, true)
	onStart(st, grader.Check{})
	onResult(st, r.Stages[2].Checks[0])
	if !strings.Contains(buf.String(), "\x1b[32m✓") {
		t.Errorf("coloured progress has no green mark: %q", buf.String())
	}
}

func TestEvidenceIsCut(t *testing.T) {
	long := strings.Repeat("line\n", 500)
	lines := renderStep(verdict.Step{Kind: "sql", Command: "SELECT 1", Output: long}, cutText)
	if lines.cmd[0] != "sql> SELECT 1" {
		t.Errorf("command line %q", lines.cmd[0])
	}
	if len(lines.out) != cutText.lines+1 || !strings.Contains(lines.out[len(lines.out)-1], "500 lines, 2499 bytes in all") {
		t.Errorf("cut output: %d lines, last %q", len(lines.out), lines.out[len(lines.out)-1])
	}
	wide := strings.Repeat("é", 4000) // 8000 bytes, one line
	lines = renderStep(verdict.Step{Kind: "redis", Command: "GET k", Output: wide}, cutText)
	if len(lines.out) != 2 || len(lines.out[0]) > cutText.bytes || !strings.HasSuffix(lines.out[0], "é") {
		t.Errorf("cut on a rune boundary: %d lines, first %d bytes", len(lines.out), len(lines.out[0]))
	}
}

func TestNormalize(t *testing.T) {
	in := "curl -i 'http://127.0.0.1:41234/tasks' took 123ms, then 1.5s and 2m05s\n" +
		`  "durationMs": 12,` + "\n" + `  "totalMs": 19750` + "\n" + `  "duration": 7,` + "\n" +
		`<testcase name="x" time="0.012">` + "\n" +
		"built in /tmp/grader-8123/tasks-api/main.go and /tmp/TestFoo123/001\n" +
		"seed 42 · 3 checks · redis://localhost:6379/3\n"
	want := "curl -i 'http://127.0.0.1:<port>/tasks' took <dur>, then <dur> and <dur>\n" +
		`  "durationMs": 0,` + "\n" + `  "totalMs": 0` + "\n" + `  "duration": 0,` + "\n" +
		`<testcase name="x" time="0">` + "\n" +
		"built in <tmp>/tasks-api/main.go and <tmp>/001\n" +
		"seed 42 · 3 checks · redis://localhost:<port>/3\n"
	if got := Normalize(in); got != want {
		t.Errorf("Normalize:\n%s\nwant:\n%s", got, want)
	}
	// Normalised JSON still decodes into a Report.
	var r grader.Report
	if err := json.Unmarshal([]byte(Normalize(render(t, "json", mixedReport(), Options{}))), &r); err != nil {
		t.Errorf("normalised JSON does not decode: %v", err)
	}
}

func TestMarkdownText(t *testing.T) {
	cases := map[string]string{
		"x `a|b && c` <y> & z": "x `a\\|b && c` &lt;y&gt; &amp; z",
		"one ` unpaired <b>":   "one ` unpaired &lt;b&gt;",
		"two\nlines | cell":    "two lines \\| cell",
	}
	for in, want := range cases {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBlockedIsShownHonestlyEverywhere(t *testing.T) {
	r := blockedReport()
	// The text report opens with the root causes, before the stages.
	lines := strings.Split(render(t, "text", r, Options{}), "\n")
	if len(lines) < 6 || lines[4] != "root causes" ||
		!strings.HasPrefix(lines[5], "  ⊘ 3 checks blocked: registering a user failed") ||
		!strings.HasPrefix(lines[6], "      see auth.register-login (fail): POST /register: expected 201") {
		t.Errorf("the text report does not open with the root cause:\n%s", strings.Join(lines[:min(8, len(lines))], "\n"))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"legend: ✓ pass  ✗ fail  ! error", "⊘ blocked", "    ▶ $ curl -i -X POST",
		"rest.create grades this cause and was not run this time; run it: grader check /home/learner/tasks-api --stage auth --check rest.create"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	// Every blocked check names its cause in every format.
	for _, f := range []string{"junit", "classroom", "gradescope"} {
		out := render(t, f, r, Options{})
		if n := strings.Count(out, "blocked by auth.register-login"); n < 3 {
			t.Errorf("%s names the cause %d times, want once per blocked check (3)", f, n)
		}
	}
	var back grader.Report
	if err := json.Unmarshal([]byte(render(t, "json", r, Options{})), &back); err != nil {
		t.Fatal(err)
	}
	if back.SchemaVersion != 2 || back.Stages[0].Checks[1].BlockedBy != "auth.register-login" || len(back.Causes) != 2 ||
		back.Causes[0].Count != 3 || len(back.Tainted) != 1 {
		t.Errorf("json: schema %d, blockedBy %q, causes %+v, tainted %v", back.SchemaVersion, back.Stages[0].Checks[1].BlockedBy, back.Causes, back.Tainted)
	}
	gh := render(t, "github", r, Options{})
	if strings.Count(gh, "::error title=blocked by ") != 2 || strings.Contains(gh, "title=auth.unauthorized") {
		t.Errorf("github: want one annotation per root cause, none per blocked check:\n%s", gh)
	}
	md := render(t, "markdown", r, Options{})
	if !strings.Contains(md, "**Root causes**") || strings.Index(md, "**Root causes**") > strings.Index(md, "### ") {
		t.Errorf("markdown: the root causes do not come before the stages:\n%s", md)
	}

	// Progress says what blocked a check.
	var buf bytes.Buffer
	_, onResult := Progress(&buf, false)
	onResult(grader.Stage{ID: "auth"}, r.Stages[0].Checks[1])
	if !strings.Contains(buf.String(), "⊘ auth.unauthorized") || !strings.Contains(buf.String(), "— blocked by auth.register-login: registering") {
		t.Errorf("progress of a blocked check: %q", buf.String())
	}
}

// A pattern that broke the whole run is said, with its fix, in every
// report a learner reads: text, Markdown and GitHub annotations.
func TestDiagnosesInEveryReadableFormat(t *testing.T) {
	r := mixedReport()
	r.Diagnoses = []grader.Diagnosis{{Kind: "routes-404", Message: "every route answered 404 Not Found", Fix: "set basePath in grader.yaml"}}
	for format, want := range map[string]string{
		"text":     "every route answered 404 Not Found",
		"markdown": "- every route answered 404 Not Found  \n  fix: set basePath in grader.yaml",
		"github":   "::error title=grader%3A routes-404::every route answered 404 Not Found%0Afix: set basePath in grader.yaml",
	} {
		if out := render(t, format, r, Options{}); !strings.Contains(out, want) {
			t.Errorf("%s report does not contain %q:\n%s", format, want, out)
		}
	}
}

// After a problem in the sandbox, the re-run line says that grader check
// runs the service differently.
func TestRerunHintAfterASandboxProblem(t *testing.T) {
	r := mixedReport()
	r.Causes = nil
	r.Stages = nil
	r.Problem = &grader.Problem{Kind: "start", Message: "your service exited with code 1"}
	if h := rerunHint(r); strings.Contains(h, "container") {
		t.Errorf("outside the sandbox: %q", h)
	}
	r.Notes = append(r.Notes, grader.SandboxNote+"a container of its own (memory 2 GiB)")
	if h := rerunHint(r); !strings.Contains(h, "this grade came from a container") {
		t.Errorf("in the sandbox: %q", h)
	}
}
