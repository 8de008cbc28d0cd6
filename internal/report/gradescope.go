package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// Gradescope autograder results.json, as documented in "Autograder
// Specifications", https://gradescope-autograders.readthedocs.io/en/latest/specs/
// (source: github.com/gradescope/autograder_samples, docs/specs.md).
// Only documented fields are written:
//
//	top level: score (overrides the sum of the tests), execution_time
//	(seconds), output (shown to the student), tests
//	tests[]:   name, number, score, max_score, status ("passed" | "failed"),
//	           output, tags, visibility ("visible")
//
// The spec has no top-level max_score: Gradescope takes the assignment's
// points from its own settings and the tests' max_score. A check that could
// not be judged (error) or was blocked by another check is "failed":
// Gradescope has no third state; its output says which. Skipped
// checks count in neither score nor max_score, so they are listed in the
// top-level output instead of as tests.
type gradescopeResult struct {
	Score         int              `json:"score"`
	ExecutionTime int64            `json:"execution_time"`
	Output        string           `json:"output"`
	Tests         []gradescopeTest `json:"tests"`
}

type gradescopeTest struct {
	Name       string   `json:"name"`
	Number     string   `json:"number"`
	Score      int      `json:"score"`
	MaxScore   int      `json:"max_score"`
	Status     string   `json:"status"`
	Output     string   `json:"output,omitempty"`
	Tags       []string `json:"tags"`
	Visibility string   `json:"visibility"`
}

func renderGradescope(r *grader.Report, _ Options) ([]byte, error) {
	res := gradescopeResult{
		Score:         r.Score,
		ExecutionTime: r.Timings.TotalMs / 1000,
		Output:        gradescopeOutput(r),
		Tests:         []gradescopeTest{},
	}
	for i, st := range r.Stages {
		for j, c := range st.Checks {
			if c.Status == grader.StatusSkip {
				continue
			}
			t := gradescopeTest{
				Name: checkName(c), Number: fmt.Sprintf("%d.%d", i+1, j+1),
				Score: c.Points, MaxScore: c.MaxPoints, Status: "failed",
				Tags: tags(st.ID, c.Skills), Visibility: "visible",
			}
			if c.Status == grader.StatusPass {
				t.Status = "passed"
			} else {
				t.Output = failureBody(c, cutShort)
				if c.Status == grader.StatusError && !isNotRun(c) {
					t.Output = "could not be judged: " + t.Output
				}
			}
			res.Tests = append(res.Tests, t)
		}
	}
	return marshalJSON(res)
}

// gradescopeOutput is the text shown above the tests: the result, the run's
// problem, notes, skipped checks and how to re-run.
func gradescopeOutput(r *grader.Report) string {
	var b strings.Builder
	b.WriteString(resultLine(r) + "\n")
	fmt.Fprintf(&b, "track %s · stage %s · seed %d\n", r.Track, r.Stage, r.Seed)
	if r.Problem != nil {
		b.WriteString("\n" + problemText(r.Problem) + "\n")
	}
	if len(r.Causes) > 0 {
		b.WriteString("\nroot causes:")
		for _, c := range r.Causes {
			head, detail := causeParts(r, c)
			b.WriteString("\n- " + clean(head) + "\n  " + clean(detail) + "\n  blocked: " + blockedList(c, 8))
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		b.WriteString("\nnote: " + clean(n))
	}
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			if c.Status == grader.StatusSkip {
				fmt.Fprintf(&b, "\nskipped %s: %s", checkName(c), clean(c.Message))
			}
		}
	}
	if h := rerunHint(r); h != "" {
		b.WriteString("\n" + h)
	}
	return strings.TrimRight(b.String(), "\n")
}

// tags are the stage id and the check's skills, each once.
func tags(stage string, skills []string) []string {
	out := []string{stage}
	for _, s := range skills {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
