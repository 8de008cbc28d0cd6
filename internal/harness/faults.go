package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/backend-grader/grader/internal/faults"
	"github.com/backend-grader/grader/internal/verdict"
)

// Fault is the grader's fault proxy between the learner's service and one
// of its dependencies ("postgres", "redis", "rabbitmq"), for one check
// (DESIGN §6 "Fault injection"). Every fault registers its undo with
// h.Cleanup before it is applied, so whatever the check's outcome the next
// check meets healthy dependencies. A fault the grader cannot apply is a
// verdict.Environment (exit 3, never the learner's fault); a run without a
// proxy in front of that dependency gives a skip.
type Fault struct {
	h    *H
	name string
	p    *faults.Proxy
}

// faultMark is where the service's output stood when a fault began, per
// dependency, so that its lines during the fault join the transcript.
type faultMark struct {
	at   time.Time
	line uint64
}

// Fault returns the handle on the proxy in front of dependency. It never
// returns nil: without a proxy its faults say why they cannot be applied.
func (h *H) Fault(dependency string) *Fault {
	f := &Fault{h: h, name: dependency}
	if h.proxies != nil {
		f.p = h.proxies.Proxy(dependency)
	}
	return f
}

// Available reports whether a proxy sits in front of the dependency.
func (f *Fault) Available() bool { return f.p != nil }

func (f *Fault) apply(ctx context.Context, what string, op func(context.Context) error) error {
	if f.p == nil {
		if f.h.proxies == nil {
			return verdict.Skipf("this check takes %s away from the service through the grader's fault proxy, which this run does not have (the service reaches its dependencies directly: a docker: true project, or grading without provisioned services)", f.name)
		}
		return verdict.Skipf("this check takes %s away from the service, but the run provides no %s", f.name, f.name)
	}
	f.h.Cleanup(func(ctx context.Context) error {
		f.h.serviceOutputDuring(f.name) // when the check ended before Restore
		if err := f.p.Restore(ctx); err != nil {
			return fmt.Errorf("restoring %s behind the fault proxy: %w", f.name, err)
		}
		return nil
	})
	f.h.Record("fault", what, "applied at the grader's proxy "+f.p.Addr()+" (the service's "+f.name+" address)")
	f.h.markFault(f.name)
	if err := op(ctx); err != nil {
		return verdict.Environmentf("the grader could not take %s away from the service (%s): %v", f.name, what, err)
	}
	return nil
}

// Down closes every connection the service has to the dependency and
// refuses new ones until the check ends or Restore.
func (f *Fault) Down(ctx context.Context) error {
	return f.apply(ctx, f.name+" down: open connections closed, new ones refused", func(ctx context.Context) error { return f.p.Down(ctx) })
}

// Slow holds back data from the dependency to the service by d.
func (f *Fault) Slow(ctx context.Context, d time.Duration) error {
	return f.apply(ctx, fmt.Sprintf("%s slow: every answer held back %s", f.name, d), func(ctx context.Context) error { return f.p.Slow(ctx, d) })
}

// Reset closes every open connection to the dependency once.
func (f *Fault) Reset(ctx context.Context) error {
	return f.apply(ctx, f.name+" reset: every open connection closed once", func(ctx context.Context) error { return f.p.Reset(ctx) })
}

// Restore undoes the faults now (the cleanup does it again, harmlessly).
func (f *Fault) Restore(ctx context.Context) error {
	if f.p == nil {
		return nil
	}
	f.h.serviceOutputDuring(f.name)
	f.h.Record("fault", f.name+" restored", "the service can reach "+f.name+" again")
	if err := f.p.Restore(ctx); err != nil {
		return verdict.Environmentf("the grader could not give %s back to the service: %v", f.name, err)
	}
	return nil
}

// maxFaultLog bounds the service's lines a fault's transcript shows.
const maxFaultLog = 12

// markFault remembers when the fault on dependency began and where the
// service's output stood.
func (h *H) markFault(dependency string) {
	m := faultMark{at: time.Now()}
	if or, ok := h.Service.(OutputReader); ok {
		m.line = or.OutputMark()
	}
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	if h.check.faults == nil {
		h.check.faults = map[string]faultMark{}
	}
	h.check.faults[dependency] = m
}

// serviceOutputDuring records, on the transcript's time line, what the
// service printed while the fault on dependency lasted (its last lines),
// and how long the fault lasted.
func (h *H) serviceOutputDuring(dependency string) {
	h.check.mu.Lock()
	m, ok := h.check.faults[dependency]
	delete(h.check.faults, dependency)
	h.check.mu.Unlock()
	if !ok {
		return
	}
	what := fmt.Sprintf("the service's output during the %s fault (%s)", dependency, time.Since(m.at).Round(time.Millisecond))
	or, isReader := h.Service.(OutputReader)
	if !isReader {
		return
	}
	lines, lost := or.OutputSince(m.line)
	if len(lines) > maxFaultLog {
		lost += uint64(len(lines) - maxFaultLog)
		lines = lines[len(lines)-maxFaultLog:]
	}
	out := "(nothing)"
	if len(lines) > 0 {
		out = ""
		if lost > 0 {
			out = fmt.Sprintf("(%d earlier lines not shown)\n", lost)
		}
		for i, l := range lines {
			if i > 0 {
				out += "\n"
			}
			out += Shorten(l, 300)
		}
	}
	h.Record("log", what, out)
}
