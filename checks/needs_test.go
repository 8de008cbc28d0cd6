package checks

import (
	"slices"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
)

// A check may need only services its stage or an earlier one declares:
// otherwise every run of it would stop with exit 3.
func TestChecksNeedOnlyDeclaredServices(t *testing.T) {
	var declared []grader.Service
	needing := 0
	for _, st := range Tasks.Stages {
		declared = append(declared, st.Services...)
		for _, c := range st.Checks {
			for _, s := range c.Needs {
				needing++
				if !slices.Contains(declared, s) {
					t.Errorf("%s needs %s, which neither stage %s nor an earlier one declares", c.ID, s, st.ID)
				}
			}
		}
	}
	if needing == 0 {
		t.Error("no check declares Needs: checks that look into Postgres or Redis must")
	}
}
