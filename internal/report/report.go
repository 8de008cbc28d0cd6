// Package report prints a grader.Report: one writer per format (text, json,
// junit, markdown, github, classroom, gradescope) behind one entry point,
// Write, plus the live per-check progress lines the CLI shows on stderr.
//
// Writers never decide about terminals or the environment: colour and the
// GitHub step-summary path come in through Options, set by the CLI.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// Options tune the writers.
type Options struct {
	// Color adds ANSI colours to the text format (the CLI decides: a TTY and
	// no NO_COLOR). Other formats ignore it.
	Color bool
	// Verbose shows evidence uncut and per-check durations in the text
	// format. Failed checks show their evidence either way, cut to a sane size.
	Verbose bool
	// SummaryPath, for the github format, is the file the markdown summary
	// is appended to (the CLI passes $GITHUB_STEP_SUMMARY); empty: none.
	SummaryPath string
	// AnnotationsOnly, for the github format, leaves out the plain result
	// lines: the CLI sets it when the text report, which ends with the same
	// lines, is printed too.
	AnnotationsOnly bool
}

// Formats lists the format names Write accepts (DESIGN.md §2.5).
var Formats = []string{"text", "json", "junit", "markdown", "github", "classroom", "gradescope"}

type renderer func(r *grader.Report, o Options) ([]byte, error)

var renderers = map[string]renderer{
	"text":       func(r *grader.Report, o Options) ([]byte, error) { return renderText(r, o), nil },
	"json":       renderJSON,
	"junit":      renderJUnit,
	"markdown":   func(r *grader.Report, o Options) ([]byte, error) { return renderMarkdown(r, MaxMarkdownBytes), nil },
	"github":     renderGitHub,
	"classroom":  renderClassroom,
	"gradescope": renderGradescope,
}

// Write prints r to w in the named format.
func Write(w io.Writer, format string, r *grader.Report, o Options) error {
	if r == nil {
		return errors.New("no report to write (grader bug: the run produced no report)")
	}
	render, ok := renderers[format]
	if !ok {
		return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	out, err := render(r, o)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(out)); err != nil {
		return fmt.Errorf("could not write the %s report: %w", format, err)
	}
	return nil
}

// tally counts check outcomes; checks that never ran because of the run's
// Problem (or an interrupt) are counted apart from real errors.
type tally struct {
	pass, fail, errs, blocked, notRun, skip int
}

func countChecks(r *grader.Report) tally {
	var t tally
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			switch {
			case c.Status == grader.StatusPass:
				t.pass++
			case c.Status == grader.StatusFail:
				t.fail++
			case c.Status == grader.StatusSkip:
				t.skip++
			case c.Status == grader.StatusBlocked:
				t.blocked++
			case isNotRun(c):
				t.notRun++
			default:
				t.errs++
			}
		}
	}
	return t
}

// isNotRun reports whether c was never run (the runner or the CLI set
// NotRun: the project did not build or start, the service died earlier,
// the grader was interrupted).
func isNotRun(c grader.CheckResult) bool {
	return c.NotRun
}

// isFailure reports whether c failed or errored while actually running.
func isFailure(c grader.CheckResult) bool {
	return c.Status == grader.StatusFail || (c.Status == grader.StatusError && !isNotRun(c))
}

// causeText is one root cause in one line: "27 checks blocked: registering
// a user failed — POST /register: expected 201, got 500; see
// auth.register-login". What follows the dash says how the cause's check
// ended in this run.
func causeText(r *grader.Report, c grader.Cause) string {
	head, detail := causeParts(r, c)
	return head + "\n" + detail
}

// causeParts says a root cause in two sentences: what the blocked checks
// could not get, and where that is graded (with that check's own verdict).
// Kept apart, two different answers (a setup request and the graded one)
// never read as one contradictory sentence.
func causeParts(r *grader.Report, c grader.Cause) (head, detail string) {
	head = fmt.Sprintf("%s blocked: %s", plural(c.Count, "check", "checks"), firstLine(c.Reason, 300))
	switch {
	case c.Status == "":
		detail = fmt.Sprintf("%s grades this cause and was not run this time; run it: %s", c.Check, rerunCommand(r, c.Check))
	case c.Status == grader.StatusPass:
		detail = fmt.Sprintf("%s grades this cause and passed in this run, so it showed up only in the blocked checks", c.Check)
	case c.Message != "":
		detail = fmt.Sprintf("see %s (%s): %s", c.Check, c.Status, firstLine(c.Message, 300))
	default:
		detail = "see " + c.Check
	}
	return head, detail
}

// blockedList names the checks a cause blocked, at most n of them.
func blockedList(c grader.Cause, n int) string {
	if len(c.Blocked) <= n {
		return strings.Join(c.Blocked, ", ")
	}
	return strings.Join(c.Blocked[:n], ", ") + fmt.Sprintf(" and %d more", len(c.Blocked)-n)
}

// listedCause reports whether c's reason is the one its root cause already
// states, so that a report need not repeat it under c.
func listedCause(r *grader.Report, c grader.CheckResult) bool {
	for _, cause := range r.Causes {
		if cause.Check == c.BlockedBy {
			return cause.Reason == c.Message
		}
	}
	return false
}

// blockedText is what a blocked check says on its own.
func blockedText(c grader.CheckResult) string {
	return "blocked by " + c.BlockedBy + ": " + clean(c.Message)
}

// passedWord is "PASSED" or "NOT PASSED".
func passedWord(r *grader.Report) string {
	if r.Passed {
		return "PASSED"
	}
	return "NOT PASSED"
}

// resultLine is the one-line result: "PASSED 41/41" or
// "NOT PASSED 41/50 (3 failed, 1 error)".
func resultLine(r *grader.Report) string {
	line := fmt.Sprintf("%s %d/%d", passedWord(r), r.Score, r.MaxScore)
	if d := resultDetails(r); d != "" {
		line += " (" + d + ")"
	}
	return line
}

func resultDetails(r *grader.Report) string {
	t := countChecks(r)
	var parts []string
	if r.Problem != nil {
		parts = append(parts, problemTitle(r.Problem))
	}
	if t.fail > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", t.fail))
	}
	if t.errs > 0 {
		parts = append(parts, plural(t.errs, "error", "errors"))
	}
	if t.blocked > 0 {
		parts = append(parts, fmt.Sprintf("%d blocked", t.blocked))
	}
	if t.notRun > 0 {
		parts = append(parts, fmt.Sprintf("%d not run", t.notRun))
	}
	if t.skip > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", t.skip))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// problemTitle names a Problem's kind in the learner's terms.
func problemTitle(p *grader.Problem) string {
	switch p.Kind {
	case "build":
		return "your project did not build"
	case "start":
		return "your service did not start"
	case "crash":
		return "your service stopped during the run"
	default:
		return "the run could not finish"
	}
}

// logPrefix is what each line of a Problem's log tail is prefixed with.
func logPrefix(p *grader.Problem) string {
	if p.Kind == "build" {
		return "[build] "
	}
	return "[your_service] "
}

// logTail returns the last n lines of a Problem's log.
func logTail(log string, n int) []string {
	log = strings.TrimRight(log, "\n")
	if log == "" {
		return nil
	}
	lines := strings.Split(log, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// problemLogLines is how many lines of a Problem's log the reports show.
const problemLogLines = 20

// firstFailure returns the first check that failed or errored while running.
func firstFailure(r *grader.Report) (grader.CheckResult, bool) {
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			if isFailure(c) {
				return c, true
			}
		}
	}
	return grader.CheckResult{}, false
}

// rerunCommand is the command that re-runs one check (or, with no check id,
// the whole stage).
func rerunCommand(r *grader.Report, checkID string) string {
	dir := r.Submission.Path
	if dir == "" {
		dir = "."
	}
	cmd := "grader check " + shellWord(dir)
	if r.Stage != "" {
		cmd += " --stage " + shellWord(r.Stage)
	}
	if checkID != "" {
		cmd += " --check " + shellWord(checkID)
	}
	return cmd
}

// rerunHint is the "what next" line under a report, or "". It names the
// submission's path: it is escaped (TerminalLine) for every writer.
func rerunHint(r *grader.Report) string {
	if len(r.Causes) > 0 && r.Problem == nil {
		return TerminalLine("re-run the check that blocks the most: " + rerunCommand(r, r.Causes[0].Check))
	}
	if c, ok := firstFailure(r); ok {
		return TerminalLine("re-run one check: " + rerunCommand(r, c.ID))
	}
	if r.Problem != nil {
		line := "fix the problem above, then run: " + rerunCommand(r, "")
		if sandboxed(r) {
			line += " (that runs it as a process on your machine; this grade came from a container, where 127.0.0.1 is the container itself and only /app and /tmp are writable)"
		}
		return TerminalLine(line)
	}
	return ""
}

// sandboxed reports whether the submission was graded in the batch's sandbox.
func sandboxed(r *grader.Report) bool {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, grader.SandboxNote) {
			return true
		}
	}
	return false
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkName is how a check is named where one string must do.
func checkName(c grader.CheckResult) string {
	if c.Title == "" {
		return c.ID
	}
	return c.ID + ": " + c.Title
}

// stageName is a stage's id and title.
func stageName(st grader.StageResult) string {
	if st.Title == "" {
		return st.ID
	}
	return st.ID + " · " + st.Title
}
