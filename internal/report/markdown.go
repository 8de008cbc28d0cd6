package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// MaxMarkdownBytes is GitHub's limit for one step's job summary (1 MiB).
// The markdown report stays under it, cutting evidence first.
const MaxMarkdownBytes = 1 << 20

// mdLevel is how much detail the markdown report carries.
type mdLevel struct {
	evidence cut    // per-step cut of the evidence (lines 0: none)
	details  bool   // show the <details> block of each failed check
	trimNote string // said under the heading when detail was dropped
}

var mdLevels = []mdLevel{
	{evidence: cutText, details: true},
	{evidence: cutShort, details: true,
		trimNote: "the evidence of failed checks was shortened"},
	{evidence: cut{lines: 0, bytes: 300}, details: true,
		trimNote: "the responses in the evidence of failed checks were left out"},
	{details: false,
		trimNote: "the details of failed checks were left out"},
}

// renderMarkdown is the report for CI job summaries, kept under limit bytes:
// it drops detail level by level and, as a last resort, cuts the text.
func renderMarkdown(r *grader.Report, limit int) []byte {
	var out string
	for _, l := range mdLevels {
		out = markdown(r, l)
		if len(out) <= limit {
			return []byte(out)
		}
	}
	note := "\n\n_…the summary was cut here to stay under GitHub's 1 MiB limit; the text and JSON reports have all of it._\n"
	at := runeStart(out, max(0, limit-len(note)))
	if i := strings.LastIndexByte(out[:at], '\n'); i > 0 {
		at = i
	}
	return []byte(out[:at] + note)
}

func markdown(r *grader.Report, l mdLevel) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	icon := "✅"
	if !r.Passed {
		icon = "❌"
	}
	p("## %s grader: %s", icon, mdText(resultLine(r)))
	p("")
	version := ""
	if r.Grader.Version != "" {
		version = " " + mdText(r.Grader.Version)
	}
	p("**grader**%s · track `%s` · stage `%s` · seed `%d`  ", version, mdCode(r.Track), mdCode(r.Stage), r.Seed)
	run := ""
	if r.Submission.Run != "" {
		run = " · run `" + mdCode(r.Submission.Run) + "`"
	}
	p("submission `%s`%s", mdCode(r.Submission.Path), run)
	if l.trimNote != "" {
		p("")
		p("_Note: %s to keep this summary under GitHub's 1 MiB limit; the text and JSON reports have all of it._", l.trimNote)
	}
	if len(r.Diagnoses) > 0 {
		p("")
		p("**What broke the whole run**")
		p("")
		for _, d := range r.Diagnoses {
			p("- %s  ", mdText(d.Message))
			p("  fix: %s", mdText(d.Fix))
		}
	}
	if r.Problem != nil {
		p("")
		writeMarkdownProblem(&b, r.Problem)
	}
	if len(r.Causes) > 0 {
		p("")
		p("**Root causes**")
		p("")
		for _, c := range r.Causes {
			head, detail := causeParts(r, c)
			p("- %s %s  ", statusEmoji(grader.StatusBlocked), mdText(head))
			p("  %s  ", mdText(detail))
			p("  blocked: %s", mdText(blockedList(c, 8)))
		}
	}
	if len(r.Notes) > 0 {
		p("")
		p("**Notes**")
		p("")
		for _, n := range r.Notes {
			p("- %s", mdText(n))
		}
	}

	for _, st := range r.Stages {
		p("")
		p("### %s %s — %d/%d", stageIcon(st), mdText(stageName(st)), st.Score, st.MaxScore)
		p("")
		p("| | Check | Points |")
		p("|:-:|---|--:|")
		for _, c := range st.Checks {
			pts := fmt.Sprintf("%d/%d", c.Points, c.MaxPoints)
			if c.Status == grader.StatusSkip {
				pts = "skipped"
			}
			p("| %s | `%s` %s | %s |", statusEmoji(c.Status), mdCode(c.ID), mdText(c.Title), pts)
		}
		if !l.details {
			continue
		}
		for _, c := range st.Checks {
			// Blocked checks are listed under their root cause above.
			if c.Status == grader.StatusPass || c.Status == grader.StatusBlocked || (isNotRun(c) && r.Problem != nil) {
				continue
			}
			p("")
			writeMarkdownCheck(&b, c, l)
		}
	}

	if len(r.Skills) > 0 {
		p("")
		p("### Skills")
		p("")
		p("| Skill | Score | |")
		p("|---|--:|---|")
		for _, s := range r.Skills {
			name := mdText(skillTitle(s))
			if s.URL != "" {
				name = "[" + name + "](" + s.URL + ")"
			}
			p("| %s | %d/%d | %s |", name, s.Score, s.MaxScore, newPalette(false).bar(s.Score, s.MaxScore))
		}
	}

	t := r.Timings
	p("")
	p("⏱ provision %s · build %s · start %s · checks %s · total %s",
		dur(t.ProvisionMs), dur(t.BuildMs), dur(t.StartMs), dur(t.ChecksMs), dur(t.TotalMs))
	if h := rerunHint(r); h != "" {
		i := strings.Index(h, ": ")
		p("")
		p("%s: `%s`", h[:i], mdCode(h[i+2:]))
	}
	return b.String()
}

func writeMarkdownProblem(b *strings.Builder, pr *grader.Problem) {
	fmt.Fprintf(b, "> **❗ %s:** %s\n", mdText(upperFirst(problemTitle(pr))), mdText(firstLine(pr.Message, 500)))
	if pr.Hint != "" {
		fmt.Fprintf(b, ">\n> **hint:** %s\n", mdText(pr.Hint))
	}
	if tail := logTail(clean(pr.Log), problemLogLines); len(tail) > 0 {
		lines := make([]string, len(tail))
		for i, l := range tail {
			lines[i] = logPrefix(pr) + l
		}
		fmt.Fprintf(b, "\n<details><summary>last %d lines of output</summary>\n\n", len(tail))
		writeFenced(b, "text", strings.Join(lines, "\n"))
		b.WriteString("\n</details>\n")
	}
}

func writeMarkdownCheck(b *strings.Builder, c grader.CheckResult, l mdLevel) {
	fmt.Fprintf(b, "<details><summary>%s <code>%s</code> %s</summary>\n\n",
		statusEmoji(c.Status), html.EscapeString(c.ID), html.EscapeString(clean(c.Title)))
	writeFenced(b, "text", clean(c.Message))
	if c.Hint != "" {
		fmt.Fprintf(b, "\n**hint:** %s\n", mdText(c.Hint))
	}
	if isFailure(c) && len(c.Evidence) > 0 {
		var ev []string
		if l.evidence.lines == 0 {
			// Commands only: what to run to see it for yourself.
			for _, s := range c.Evidence {
				ev = append(ev, renderStep(s, l.evidence).cmd...)
			}
		} else {
			ev = evidenceText(c.Evidence, l.evidence)
		}
		b.WriteString("\n")
		writeFenced(b, "console", strings.Join(ev, "\n"))
	}
	b.WriteString("\n</details>\n")
}

// writeFenced writes s as a fenced code block whose fence is longer than
// any run of backticks inside s.
func writeFenced(b *strings.Builder, lang, s string) {
	n, run := 3, 0
	for _, r := range s {
		if r == '`' {
			run++
			n = max(n, run+1)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", n)
	fmt.Fprintf(b, "%s%s\n%s\n%s\n", fence, lang, strings.TrimRight(s, "\n"), fence)
}

// mdText makes s safe inside a table cell or a line of markdown: one line,
// no raw HTML, no cell breaks. `code spans` in s stay code spans (HTML
// entities would show literally inside them).
func mdText(s string) string {
	s = strings.ReplaceAll(clean(s), "\n", " ")
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		inCode := i%2 == 1
		if inCode && i == strings.Count(s, "`") {
			// An unpaired backtick: the rest is plain text.
			b.WriteString("`")
			inCode = false
		} else if i > 0 {
			b.WriteString("`")
		}
		if !inCode {
			part = html.EscapeString(part)
		}
		b.WriteString(strings.ReplaceAll(part, "|", `\|`))
	}
	return b.String()
}

// mdCode makes s safe inside `inline code` (in a table cell too).
func mdCode(s string) string {
	s = strings.ReplaceAll(clean(s), "\n", " ")
	s = strings.ReplaceAll(s, "`", "'")
	return strings.ReplaceAll(s, "|", `\|`)
}

func statusEmoji(s grader.Status) string {
	switch s {
	case grader.StatusPass:
		return "✅"
	case grader.StatusFail:
		return "❌"
	case grader.StatusError:
		return "⚠️"
	case grader.StatusBlocked:
		return "⛔"
	default:
		return "⏭️"
	}
}

func stageIcon(st grader.StageResult) string {
	if st.Passed {
		return "✅"
	}
	return "❌"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
