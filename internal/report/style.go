package report

import (
	"github.com/fatih/color"

	"github.com/backend-grader/grader/internal/grader"
)

// palette holds the colours of the text format. Each colour is its own
// object, switched on or off explicitly, so fatih/color's global NoColor
// detection (which looks at os.Stdout) never decides for us.
type palette struct {
	green, red, yellow, faint, bold, cyan, boldGreen, boldRed *color.Color
}

func newPalette(on bool) palette {
	mk := func(a ...color.Attribute) *color.Color {
		c := color.New(a...)
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return palette{
		green:     mk(color.FgGreen),
		red:       mk(color.FgRed),
		yellow:    mk(color.FgYellow),
		faint:     mk(color.Faint),
		bold:      mk(color.Bold),
		cyan:      mk(color.FgCyan),
		boldGreen: mk(color.FgGreen, color.Bold),
		boldRed:   mk(color.FgRed, color.Bold),
	}
}

// symbol returns a status's mark: ✓ pass, ✗ fail, ! error, ⊘ blocked,
// – skip (the legend of the text report says so).
func symbol(s grader.Status) string {
	switch s {
	case grader.StatusPass:
		return "✓"
	case grader.StatusFail:
		return "✗"
	case grader.StatusError:
		return "!"
	case grader.StatusBlocked:
		return "⊘"
	default:
		return "–"
	}
}

// decisiveMark precedes the step that decided a failure.
const decisiveMark = "▶"

// legend explains the marks of the text report.
const legend = "✓ pass  ✗ fail  ! error (could not be judged)  ⊘ blocked (by another check)  – skip  " +
	decisiveMark + " the step that decided it"

// mark is the status symbol in its colour.
func (p palette) mark(s grader.Status) string {
	switch s {
	case grader.StatusPass:
		return p.green.Sprint(symbol(s))
	case grader.StatusFail:
		return p.red.Sprint(symbol(s))
	case grader.StatusError, grader.StatusBlocked:
		return p.yellow.Sprint(symbol(s))
	default:
		return p.faint.Sprint(symbol(s))
	}
}

// verdict colours the PASSED / NOT PASSED line.
func (p palette) verdict(passed bool, s string) string {
	if passed {
		return p.boldGreen.Sprint(s)
	}
	return p.boldRed.Sprint(s)
}
