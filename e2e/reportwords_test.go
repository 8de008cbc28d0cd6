package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
)

// goInternals are words of the grader's own implementation that must
// never reach a learner (DESIGN.md §3.1: messages speak HTTP and JSON).
var goInternals = []string{"Go struct", "map[string]any", "map[string]interface", "cannot unmarshal", "looking for beginning of value"}

// internalWords lists every message or hint of rep that holds one of
// goInternals, as "where: text". runGrader calls it on every JSON report
// the suite produces.
func internalWords(rep *grader.Report) []string {
	var bad []string
	look := func(where, text string) {
		for _, w := range goInternals {
			if strings.Contains(text, w) {
				bad = append(bad, fmt.Sprintf("%s holds %q: %s", where, w, firstLine(text)))
				return
			}
		}
	}
	if p := rep.Problem; p != nil {
		look("problem.message", p.Message)
		look("problem.hint", p.Hint)
	}
	for _, d := range rep.Diagnoses {
		look("diagnoses["+d.Kind+"].message", d.Message)
		look("diagnoses["+d.Kind+"].fix", d.Fix)
	}
	for _, c := range rep.Causes {
		look("causes["+c.Check+"].reason", c.Reason)
	}
	for i, n := range rep.Notes {
		look(fmt.Sprintf("notes[%d]", i), n)
	}
	for _, st := range rep.Stages {
		for _, c := range st.Checks {
			look(c.ID+".message", c.Message)
			look(c.ID+".hint", c.Hint)
		}
	}
	return bad
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// The guard itself: it finds a decode error of ours in a hint and passes a
// report in HTTP and JSON terms (it runs on every report, so a guard that
// finds nothing would pass vacuously).
func TestInternalWordsFindsGoInternals(t *testing.T) {
	rep := &grader.Report{Stages: []grader.StageResult{{ID: "rest", Checks: []grader.CheckResult{
		{ID: "rest.ok", Message: `GET /todos/1: $.title: expected "a", got ["a"]`},
		{ID: "rest.bad", Hint: "json: cannot unmarshal array into Go struct field apiTodo.title of type string"},
	}}}}
	bad := internalWords(rep)
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "rest.bad.hint") {
		t.Errorf("internalWords = %q, want one finding in rest.bad.hint", bad)
	}
}
