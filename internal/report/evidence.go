package report

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backend-grader/grader/internal/verdict"
)

// cut bounds how much of one evidence step a writer shows.
type cut struct {
	lines int // at most this many output lines (0: none at all)
	bytes int // at most this many bytes of output / of the command
}

var (
	// cutText is the default for the text and markdown formats.
	cutText = cut{lines: 30, bytes: 3000}
	// cutVerbose is for --verbose: practically whole.
	cutVerbose = cut{lines: 1000, bytes: 64 << 10}
	// cutShort is for places with little room (annotations, results.json).
	cutShort = cut{lines: 15, bytes: 1200}
)

// prompt is what precedes a step's command, by kind, so the learner can
// tell a curl line from SQL from a redis-cli command.
func prompt(kind string) string {
	switch kind {
	case "http":
		return "$ "
	case "sql":
		return "sql> "
	case "redis":
		return "redis> "
	case "amqp":
		return "amqp> "
	case "note":
		return "# "
	default:
		return "> "
	}
}

// stepLines is one evidence step ready to print: the command (with its
// prompt) and what came back.
type stepLines struct {
	cmd, out []string
}

// renderStep renders one step, cut to c. The step that decided a failure
// has its command marked with decisiveMark.
func renderStep(s verdict.Step, c cut) stepLines {
	var sl stepLines
	for i, l := range strings.Split(clean(shorten(s.Command, c.bytes)), "\n") {
		if i == 0 {
			l = prompt(s.Kind) + l
			if s.Decisive {
				l = decisiveMark + " " + l
			}
		}
		sl.cmd = append(sl.cmd, l)
	}
	if out := strings.TrimRight(clean(s.Output), "\n"); out != "" && c.lines > 0 {
		sl.out = cutLines(out, c)
	}
	return sl
}

// evidenceText renders steps as plain lines, a blank line between steps.
func evidenceText(steps []verdict.Step, c cut) []string {
	var lines []string
	for i, s := range steps {
		if i > 0 {
			lines = append(lines, "")
		}
		sl := renderStep(s, c)
		lines = append(append(lines, sl.cmd...), sl.out...)
	}
	return lines
}

// cutLines splits s into lines, keeping at most c.lines lines and c.bytes
// bytes, and says what was left out.
func cutLines(s string, c cut) []string {
	total, totalLines := len(s), strings.Count(s, "\n")+1
	trimmed := false
	if len(s) > c.bytes {
		s, trimmed = s[:runeStart(s, c.bytes)], true
	}
	lines := strings.Split(s, "\n")
	if len(lines) > c.lines {
		lines, trimmed = lines[:c.lines], true
	}
	if trimmed {
		lines = append(lines, fmt.Sprintf("… (cut here: %d lines, %d bytes in all)", totalLines, total))
	}
	return lines
}

// shorten cuts s to n bytes on a rune boundary, saying so.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:runeStart(s, n)] + fmt.Sprintf("… (%d bytes in all)", len(s))
}

func runeStart(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// clean makes learner-controlled text safe to print: CRLF becomes LF, and
// other control characters (terminal escapes, a lone CR, NUL) are shown as
// \xNN instead of acting on the reader's terminal. Invalid UTF-8 becomes U+FFFD.
//
// It also neutralises GitHub workflow commands (see escape.go): a CI log is
// a terminal the runner reads for commands.
func clean(s string) string {
	if !needsClean(s) {
		return ghCommands(s)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	// Colours and styles (SGR) carry no text: logs from nodemon, Gin or a
	// logger with colours read better without them than with \x1b[33m.
	s = sgr.ReplaceAllString(s, "")
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return ghCommands(b.String())
}

// sgr matches a Select Graphic Rendition sequence (ESC [ params m).
var sgr = regexp.MustCompile("\x1b\\[[0-9;:]{0,32}m")

func needsClean(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return true
		}
	}
	return false
}

// firstLine returns the first line of s, cut to n bytes.
func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return shorten(clean(s), n)
}

// dur formats milliseconds for people: 340ms, 1.2s, 2m05s.
func dur(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		return fmt.Sprintf("%dm%02ds", m, s)
	}
}

// seconds formats milliseconds as seconds with three decimals (JUnit time).
func seconds(ms int64) string {
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}
