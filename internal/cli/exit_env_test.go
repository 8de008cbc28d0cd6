package cli

import (
	"context"
	"fmt"
	"testing"

	"github.com/backend-grader/grader/internal/verdict"
)

// A check that meets a failure of the grader's environment stops the run
// with exit 3, never a score (DESIGN.md §2.4), however it is wrapped.
func TestEnvironmentVerdictExitsThree(t *testing.T) {
	err := fmt.Errorf("check caching.ttl: %w", verdict.Environmentf("the run has no Redis"))
	if got := exitCode(context.Background(), err); got != ExitEnvironment {
		t.Errorf("exit %d, want %d", got, ExitEnvironment)
	}
	if got := exitCode(context.Background(), fmt.Errorf("plain: %w", verdict.Failf("expected 200"))); got == ExitEnvironment {
		t.Errorf("a learner's failure exited %d", got)
	}
}
