package report

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/backend-grader/grader/internal/grader"
)

// renderJSON is schema v1 (DESIGN.md §2.3), exactly the struct tags of
// grader.Report, indented by two spaces. Lists are never null.
func renderJSON(r *grader.Report, _ Options) ([]byte, error) {
	return marshalJSON(withLists(r))
}

// marshalJSON indents by two spaces, leaves <, > and & readable (curl lines
// and HTML bodies appear in evidence) and ends with a newline. Control
// characters are escaped by encoding/json (\u001b).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("could not encode the report as JSON: %w", err)
	}
	// JSON on stdout in CI is read by GitHub's runner for "##[" commands
	// anywhere in a line; '#' is only ever inside a string, where \u0023
	// means the same. (No JSON line starts with "::".)
	return bytes.ReplaceAll(buf.Bytes(), []byte("##["), []byte(`#\u0023[`)), nil
}

// withLists returns a copy of r whose lists are empty rather than nil, so
// readers of the JSON always find arrays. r itself is not changed.
func withLists(r *grader.Report) *grader.Report {
	c := *r
	if c.SchemaVersion == 0 {
		c.SchemaVersion = grader.SchemaVersion
	}
	if c.Skills == nil {
		c.Skills = []grader.SkillScore{}
	}
	c.Stages = make([]grader.StageResult, len(r.Stages))
	for i, st := range r.Stages {
		st.Checks = append([]grader.CheckResult{}, st.Checks...)
		for j := range st.Checks {
			if st.Checks[j].Skills == nil {
				st.Checks[j].Skills = []string{}
			}
		}
		c.Stages[i] = st
	}
	return &c
}
