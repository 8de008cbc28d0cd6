package report

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/backend-grader/grader/internal/grader"
)

// Progress returns the runner's OnStart / OnResult callbacks that print one
// line per check as it finishes (for stderr): the stage's title when a new
// stage begins, then "✓ id  title  [2/2]  12ms"; a check that did not pass
// also shows the first line of its message.
func Progress(w io.Writer, color bool) (onStart func(grader.Stage, grader.Check), onResult func(grader.Stage, grader.CheckResult)) {
	p := newPalette(color)
	var mu sync.Mutex
	lastStage := ""
	onStart = func(st grader.Stage, _ grader.Check) {
		mu.Lock()
		defer mu.Unlock()
		if st.ID == lastStage {
			return
		}
		lastStage = st.ID
		name := st.ID
		if st.Title != "" {
			name += " · " + st.Title
		}
		fmt.Fprintf(w, "%s\n", p.bold.Sprint(name))
	}
	onResult = func(st grader.Stage, c grader.CheckResult) {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, "  %s %s  %s", p.mark(c.Status), c.ID, c.Title)
		if c.Status == grader.StatusSkip {
			b.WriteString("  [skipped]")
		} else {
			fmt.Fprintf(&b, "  [%d/%d]", c.Points, c.MaxPoints)
			if !isNotRun(c) {
				b.WriteString("  " + p.faint.Sprint(dur(c.DurationMs)))
			}
		}
		switch {
		case c.Status == grader.StatusBlocked:
			b.WriteString("  " + p.faint.Sprint("— "+firstLine(blockedText(c), 100)))
		case c.Status != grader.StatusPass && c.Message != "":
			b.WriteString("  " + p.faint.Sprint("— "+firstLine(c.Message, 100)))
		}
		fmt.Fprintln(w, b.String())
	}
	return onStart, onResult
}
