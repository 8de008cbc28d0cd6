package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/verdict"
)

func TestCleanupsRunLastFirstAndLateOnesAtOnce(t *testing.T) {
	h := New(Options{}).ForCheck("x.a")
	var order []string
	h.Cleanup(func(context.Context) error { order = append(order, "first"); return nil })
	h.Cleanup(func(context.Context) error { panic("boom") })
	h.Cleanup(func(context.Context) error { order = append(order, "third"); return errors.New("could not undo") })
	errs := h.RunCleanups(context.Background())
	if strings.Join(order, ",") != "third,first" {
		t.Errorf("order %v, want third,first", order)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "could not undo") || !strings.Contains(errs[1].Error(), "crashed") {
		t.Errorf("errors %v, want the failure and the panic", errs)
	}
	// A check still running after its cleanups registers one more: it runs now.
	h.Cleanup(func(context.Context) error { order = append(order, "late"); return nil })
	if order[len(order)-1] != "late" {
		t.Errorf("a late cleanup did not run at once: %v", order)
	}
	if errs := h.RunCleanups(context.Background()); len(errs) != 0 {
		t.Errorf("cleanups ran twice: %v", errs)
	}
	// Another check's harness has none of them.
	if errs := New(Options{}).ForCheck("x.b").RunCleanups(context.Background()); errs != nil {
		t.Errorf("fresh harness: %v", errs)
	}
}

func TestErrNoFaultsIsASkippedVerdict(t *testing.T) {
	err := fmt.Errorf("pausing postgres: %w", ErrNoFaults)
	if !errors.Is(err, ErrNoFaults) {
		t.Error("errors.Is lost ErrNoFaults through wrapping")
	}
	if o := verdict.Classify(err); o.Status != verdict.Skip || !strings.Contains(o.Message, "--services docker") {
		t.Errorf("classified as %+v, want skip with the reason", o)
	}
}

func TestHasNamesTheServicesOfTheRun(t *testing.T) {
	h := New(Options{AMQPURL: "amqp://guest:guest@127.0.0.1:5672/"})
	if h.Has("postgres") || h.Has("redis") || !h.Has("rabbitmq") || h.Has("mysql") {
		t.Errorf("Has: postgres %v redis %v rabbitmq %v mysql %v", h.Has("postgres"), h.Has("redis"), h.Has("rabbitmq"), h.Has("mysql"))
	}
}
