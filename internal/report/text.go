package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/backend-grader/grader/internal/grader"
)

// maxTitleWidth bounds the title column of the text report.
const maxTitleWidth = 48

// renderText is the human report: header, problem, per-stage checks with
// evidence and hints, skills, timings and the one-line result.
func renderText(r *grader.Report, o Options) []byte {
	p := newPalette(o.Color)
	c := cutText
	if o.Verbose {
		c = cutVerbose
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	// Header: what was graded, how, against what.
	head := "grader"
	if r.Grader.Version != "" {
		head += " " + r.Grader.Version
	}
	line("%s · track %s · stage %s · seed %d", p.bold.Sprint(head), r.Track, r.Stage, r.Seed)
	line("  submission  %s", clean(r.Submission.Path))
	if r.Submission.Run != "" {
		line("  run         %s", clean(r.Submission.Run))
	}
	if len(r.Diagnoses) > 0 {
		line("")
		line("%s", p.bold.Sprint("what broke the whole run"))
		for _, d := range r.Diagnoses {
			line("  %s %s", p.boldRed.Sprint("!!"), clean(d.Message))
			line("     %s %s", p.yellow.Sprint("fix:"), clean(d.Fix))
		}
	}
	if r.Problem != nil {
		b.WriteString("\n")
		writeProblem(&b, p, r.Problem)
	}
	if len(r.Causes) > 0 {
		line("")
		line("%s", p.bold.Sprint("root causes"))
		for _, cause := range r.Causes {
			head, detail := causeParts(r, cause)
			line("  %s %s", p.mark(grader.StatusBlocked), clean(head))
			line("      %s", clean(detail))
			line("      %s", p.faint.Sprint("blocked: "+blockedList(cause, 8)))
		}
	}
	if len(r.Notes) > 0 {
		line("")
		line("notes:")
		for _, n := range r.Notes {
			line("  - %s", clean(n))
		}
	}

	// When no check ran (the project did not build or start), each stage
	// is one line: the problem above is the whole story.
	ranNone := r.Problem != nil && noneRan(r)
	if t := countChecks(r); !ranNone && t.fail+t.errs+t.blocked+t.notRun+t.skip > 0 {
		line("")
		line("%s", p.faint.Sprint("legend: "+legend))
	}
	for _, st := range r.Stages {
		line("")
		writeStage(&b, p, r, st, c, o.Verbose)
	}

	if len(r.Skills) > 0 && !ranNone {
		line("")
		line("%s", p.bold.Sprint("skills"))
		w := 0
		for _, s := range r.Skills {
			w = max(w, utf8.RuneCountInString(skillTitle(s)))
		}
		for _, s := range r.Skills {
			score := fmt.Sprintf("%d/%d", s.Score, s.MaxScore)
			line("  %s  %5s  %s", pad(skillTitle(s), w), score, p.bar(s.Score, s.MaxScore))
		}
	}

	t := r.Timings
	line("")
	line("time   provision %s · build %s · start %s · checks %s · total %s",
		dur(t.ProvisionMs), dur(t.BuildMs), dur(t.StartMs), dur(t.ChecksMs), dur(t.TotalMs))

	if r.Problem != nil && !ranNone {
		// A long report ends with the problem too, where the reader is.
		line("")
		writeProblem(&b, p, r.Problem)
	}
	line("")
	line("%s", p.verdict(r.Passed, resultLine(r)))
	if h := rerunHint(r); h != "" {
		line("%s", p.faint.Sprint(h))
	}
	return []byte(b.String())
}

func writeStage(b *strings.Builder, p palette, r *grader.Report, st grader.StageResult, c cut, verbose bool) {
	score := fmt.Sprintf("%d/%d", st.Score, st.MaxScore)
	if st.Passed {
		score = p.green.Sprint(score)
	} else {
		score = p.red.Sprint(score)
	}
	if r.Problem != nil && allNotRun(st) {
		fmt.Fprintf(b, "%s  %s  %s\n", p.bold.Sprint(stageName(st)), score, p.faint.Sprint(plural(len(st.Checks), "check", "checks")+" not run"))
		return
	}
	fmt.Fprintf(b, "%s  %s\n", p.bold.Sprint(stageName(st)), score)

	idW, titleW := 0, 0
	for _, ch := range st.Checks {
		idW = max(idW, utf8.RuneCountInString(ch.ID))
		titleW = max(titleW, min(maxTitleWidth, utf8.RuneCountInString(ch.Title)))
	}
	for _, ch := range st.Checks {
		pts := fmt.Sprintf("[%d/%d]", ch.Points, ch.MaxPoints)
		if ch.Status == grader.StatusSkip {
			pts = "[skipped]"
		}
		title := ch.Title
		if utf8.RuneCountInString(title) > maxTitleWidth {
			title = string([]rune(title)[:maxTitleWidth-1]) + "…"
		}
		l := fmt.Sprintf("  %s %s  %s  %s", p.mark(ch.Status), pad(ch.ID, idW), pad(title, titleW), pts)
		if verbose && ch.Status != grader.StatusSkip && !isNotRun(ch) {
			l += "  " + p.faint.Sprint(dur(ch.DurationMs))
		}
		quietNotRun := isNotRun(ch) && r.Problem != nil
		if quietNotRun {
			l += "  " + p.faint.Sprint("not run")
		}
		b.WriteString(strings.TrimRight(l, " ") + "\n")
		if ch.Status == grader.StatusPass || quietNotRun {
			continue
		}
		const ind = "      "
		msg := clean(ch.Message)
		if ch.Status == grader.StatusBlocked {
			msg = blockedText(ch)
			if listedCause(r, ch) {
				msg = "blocked by " + ch.BlockedBy + " (see root causes above)"
			}
		}
		for _, m := range strings.Split(msg, "\n") {
			if ch.Status == grader.StatusSkip {
				m = p.faint.Sprint(m)
			}
			b.WriteString(strings.TrimRight(ind+m, " ") + "\n")
		}
		if isFailure(ch) {
			for i, s := range ch.Evidence {
				if i > 0 {
					b.WriteString("\n")
				}
				sl := renderStep(s, c)
				for j, l := range sl.cmd {
					if j == 0 && s.Decisive {
						// The mark stands out to the left of the evidence.
						l = strings.TrimPrefix(l, decisiveMark+" ")
						b.WriteString(ind[:len(ind)-2] + p.boldRed.Sprint(decisiveMark) + " " + p.cyan.Sprint(l) + "\n")
						continue
					}
					b.WriteString(ind + p.cyan.Sprint(l) + "\n")
				}
				for _, l := range sl.out {
					b.WriteString(strings.TrimRight(ind+p.faint.Sprint("│")+" "+l, " ") + "\n")
				}
			}
		}
		if ch.Hint != "" {
			b.WriteString(ind + p.yellow.Sprint("hint:") + " " + clean(ch.Hint) + "\n")
		}
	}
}

// writeProblem prints the block that explains why the run could not grade
// normally: cause, hint and the tail of the output.
func writeProblem(b *strings.Builder, p palette, pr *grader.Problem) {
	fmt.Fprintf(b, "%s %s\n", p.boldRed.Sprint("!!"), p.boldRed.Sprint(strings.ToUpper(problemTitle(pr))))
	for _, m := range strings.Split(clean(pr.Message), "\n") {
		b.WriteString(strings.TrimRight("   "+m, " ") + "\n")
	}
	if pr.Hint != "" {
		b.WriteString("   " + p.yellow.Sprint("hint:") + " " + clean(pr.Hint) + "\n")
	}
	if tail := logTail(clean(pr.Log), problemLogLines); len(tail) > 0 {
		fmt.Fprintf(b, "   last %d lines of output:\n", len(tail))
		for _, l := range tail {
			b.WriteString(strings.TrimRight("   "+p.faint.Sprint(logPrefix(pr))+l, " ") + "\n")
		}
	}
}

// bar draws score/max as ten cells.
func (p palette) bar(score, maxScore int) string {
	const width = 10
	filled := 0
	if maxScore > 0 {
		filled = (score*width + maxScore/2) / maxScore
	}
	s := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	switch {
	case maxScore > 0 && score == maxScore:
		return p.green.Sprint(s)
	case score > 0:
		return p.yellow.Sprint(s)
	default:
		return p.red.Sprint(s)
	}
}

func skillTitle(s grader.SkillScore) string {
	if s.Title != "" {
		return s.Title
	}
	return s.ID
}

// pad right-pads s with spaces to width runes.
func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// allNotRun reports whether no check of st ran.
func allNotRun(st grader.StageResult) bool {
	for _, ch := range st.Checks {
		if !isNotRun(ch) {
			return false
		}
	}
	return true
}

// noneRan reports whether no check of the report ran.
func noneRan(r *grader.Report) bool {
	for _, st := range r.Stages {
		if !allNotRun(st) {
			return false
		}
	}
	return true
}
