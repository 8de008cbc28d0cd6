package e2e

import (
	"testing"
	"time"
)

// TestReferencePassesObservability: the reference passes the observability
// stage alone, every check of it.
func TestReferencePassesObservability(t *testing.T) {
	needLocalServices(t)
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 3*time.Minute, "check", dir, "--stage", "observability", "--only", "--services", "external", "--format", "json")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	n := 0
	for _, st := range statuses(r.report) {
		n++
		if st != "pass" {
			t.Errorf("a check is %s", st)
		}
	}
	if n < 8 {
		t.Errorf("%d checks ran, want at least 8", n)
	}
	assertNothingLeft(t, dir)
}
