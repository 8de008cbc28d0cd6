package report

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// maxAnnotations is how many error annotations GitHub shows per step;
// the rest are summed up in one notice.
const maxAnnotations = 10

// renderGitHub prints GitHub Actions workflow commands: one ::error per
// failed or errored check (and one for the run's Problem, one per root
// cause of blocked checks), at most
// maxAnnotations, then a ::notice for the rest and the one-line result.
// With o.SummaryPath set, the markdown report is appended to that file
// (the job summary).
func renderGitHub(r *grader.Report, o Options) ([]byte, error) {
	var b bytes.Buffer
	type annotation struct{ title, msg string }
	var errs []annotation
	if r.Problem != nil {
		msg := problemTitle(r.Problem) + ": " + r.Problem.Message
		if r.Problem.Hint != "" {
			msg += "\nhint: " + r.Problem.Hint
		}
		errs = append(errs, annotation{"grader: " + r.Problem.Kind, msg})
	}
	// A pattern that broke the whole run comes first, with its fix.
	for _, d := range r.Diagnoses {
		errs = append(errs, annotation{"grader: " + d.Kind, d.Message + "\nfix: " + d.Fix})
	}
	// Blocked checks are annotated once per root cause, not one by one.
	for _, c := range r.Causes {
		errs = append(errs, annotation{"blocked by " + c.Check, causeText(r, c) + "\nblocked: " + blockedList(c, 20)})
	}
	notRun := 0
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			if isNotRun(c) && r.Problem != nil {
				notRun++
				continue
			}
			if c.Status != grader.StatusFail && c.Status != grader.StatusError {
				continue
			}
			msg := c.Message
			if c.Hint != "" {
				msg += "\nhint: " + c.Hint
			}
			errs = append(errs, annotation{c.ID, msg})
		}
	}
	for i, a := range errs {
		if i == maxAnnotations {
			break
		}
		fmt.Fprintf(&b, "::error title=%s::%s\n", GitHubProperty(a.title), GitHubData(a.msg))
	}
	var more []string
	if n := len(errs) - maxAnnotations; n > 0 {
		more = append(more, fmt.Sprintf("%s not shown as annotations (GitHub shows at most %d per step)",
			plural(n, "more failure", "more failures"), maxAnnotations))
	}
	if notRun > 0 {
		more = append(more, fmt.Sprintf("%s not run because %s", plural(notRun, "check", "checks"), problemTitle(r.Problem)))
	}
	if len(more) > 0 {
		msg := strings.Join(more, "; ") + "; the job summary and the text report list them all"
		fmt.Fprintf(&b, "::notice title=%s::%s\n", GitHubProperty("grader"), GitHubData(msg))
	}
	// Plain lines: one line each, whatever a path holds, so nothing in
	// them can start a workflow command.
	if !o.AnnotationsOnly {
		b.WriteString(GitHubLine(resultLine(r)) + "\n")
		if h := rerunHint(r); h != "" {
			b.WriteString(GitHubLine(h) + "\n")
		}
	}

	if o.SummaryPath != "" {
		if err := appendFile(o.SummaryPath, renderMarkdown(r, MaxMarkdownBytes)); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// appendFile appends data to the job summary file, creating it if needed.
func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("could not open the job summary file %s (GITHUB_STEP_SUMMARY): %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("could not write the job summary to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("could not write the job summary to %s: %w", path, err)
	}
	return nil
}

// oneLine folds s onto one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(clean(s))
}

// escapeData escapes a workflow command's message: %, CR and LF
// (as @actions/core's escapeData does).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value: as data,
// plus ':' and ',' which separate properties.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
