package harness

import (
	"fmt"
	"strings"
	"testing"
)

// outputService is a Service whose output the test writes.
type outputService struct {
	Service
	lines []string
}

func (s *outputService) OutputMark() uint64 { return uint64(len(s.lines)) }
func (s *outputService) OutputSince(mark uint64) ([]string, uint64) {
	return append([]string(nil), s.lines[mark:]...), 0
}

func TestFaultTranscriptShowsTheServiceOutputDuringTheFault(t *testing.T) {
	svc := &outputService{lines: []string{"before the fault"}}
	h := New(Options{Service: svc}).ForCheck("resilience.x")
	h.markFault("postgres")
	for i := range 15 {
		svc.lines = append(svc.lines, fmt.Sprintf("db error %d", i))
	}
	h.serviceOutputDuring("postgres")
	steps := h.Transcript()
	if len(steps) != 1 {
		t.Fatalf("steps = %+v, want one log step", steps)
	}
	s := steps[0]
	if s.Kind != "log" || !strings.Contains(s.Command, "during the postgres fault") {
		t.Errorf("step = %+v", s)
	}
	if strings.Contains(s.Output, "before the fault") || !strings.Contains(s.Output, "db error 14") ||
		strings.Contains(s.Output, "db error 2\n") || !strings.Contains(s.Output, "(3 earlier lines not shown)") {
		t.Errorf("output = %q, want the last %d lines of the fault and a count of the others", s.Output, maxFaultLog)
	}
	// Restored twice (the check, then its cleanup): said once.
	h.serviceOutputDuring("postgres")
	if n := len(h.Transcript()); n != 1 {
		t.Errorf("%d steps after a second restore, want 1", n)
	}
}
