package report

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Text that came from a submission (its output, its grader.yaml, its
// service's responses, the name of its directory) is escaped for the place
// it goes, by one helper per destination, and every writer uses them:
//
//	Terminal, TerminalLine, NewSafeWriter  a terminal, a log file, a CI log
//	MarkdownText, MarkdownCode             a Markdown line or table cell
//	CSVCell                                a grades.csv cell
//	GitHubData, GitHubProperty, GitHubLine GitHub's workflow-command stream
//
// Every one of them starts with the terminal escaping: control characters
// (ESC and so every CSI, OSC 8 link or OSC 52 clipboard sequence, a lone
// CR, NUL, C1 controls) are shown as \xNN, invalid UTF-8 as U+FFFD. And since
// a CI log is a terminal that GitHub's runner also reads for commands, none
// of them lets a line start with "::" (a workflow command) or hold "##["
// anywhere (the runner's older command syntax): the first character is
// shown as \x3a or \x23 instead.

// Terminal makes s safe to print on a terminal or in a CI log; line breaks
// stay (CRLF becomes LF).
func Terminal(s string) string { return clean(s) }

// TerminalLine is Terminal folded onto one line (line breaks become
// spaces), as progress and log lines need.
func TerminalLine(s string) string { return oneLine(s) }

// MarkdownText makes s safe inside a Markdown line or table cell: one
// line, no raw HTML, no cell break; `code spans` stay code spans.
func MarkdownText(s string) string { return mdText(s) }

// MarkdownCode makes s safe inside `inline code`, in a table cell too.
func MarkdownCode(s string) string { return mdCode(s) }

// CSVCell makes s a safe text cell of a CSV file: one line, terminal-safe,
// and never read by a spreadsheet as a formula (a cell that starts with =,
// +, -, @, a tab or a CR starts with ' instead).
func CSVCell(s string) string { return csvText(oneLineCut(clean(s), 1<<20)) }

// GitHubData escapes the message of a workflow command (after "::"), as
// @actions/core's escapeData does, after the terminal escaping.
func GitHubData(s string) string { return escapeData(clean(s)) }

// GitHubProperty escapes a property value of a workflow command (title=...).
func GitHubProperty(s string) string { return escapeProperty(clean(s)) }

// GitHubLine makes s one plain line of a step's log that the runner never
// reads as a command.
func GitHubLine(s string) string { return oneLine(s) }

// ghCommands neutralises GitHub workflow commands in s (already free of
// control characters): a line whose first non-blank characters are "::",
// and "##[" anywhere.
func ghCommands(s string) string {
	if !strings.Contains(s, "::") && !strings.Contains(s, "##[") {
		return s
	}
	s = strings.ReplaceAll(s, "##[", `#\x23[`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		rest := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(rest, "::") {
			lines[i] = l[:len(l)-len(rest)] + `\x3a` + rest[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// NewSafeWriter returns a writer that passes each line written to it
// through Terminal before it reaches w: for the service's output shown
// live (-v), progress lines and the [grader] log, which carry what a
// submission printed or declared. It writes whole lines; a line longer
// than 64 KiB is written in pieces, each escaped. Close (or Flush) writes
// what is left of an unfinished last line.
func NewSafeWriter(w io.Writer) *SafeWriter { return &SafeWriter{w: w} }

// SafeWriter is NewSafeWriter's writer; it is safe for concurrent use.
type SafeWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

const safeWriterMaxLine = 64 << 10

func (s *SafeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if err := s.emit(s.buf[:i+1]); err != nil {
			return len(p), err
		}
		s.buf = s.buf[i+1:]
	}
	for len(s.buf) > safeWriterMaxLine {
		n := safeWriterMaxLine
		for n > 0 && !utf8.RuneStart(s.buf[n]) {
			n--
		}
		if err := s.emit(append(s.buf[:n:n], '\n')); err != nil {
			return len(p), err
		}
		s.buf = s.buf[n:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return len(p), nil
}

func (s *SafeWriter) emit(line []byte) error {
	_, err := io.WriteString(s.w, clean(string(line)))
	return err
}

// Flush writes an unfinished last line, ended by a newline.
func (s *SafeWriter) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) == 0 {
		return nil
	}
	line := append(s.buf, '\n')
	s.buf = nil
	return s.emit(line)
}

// Close is Flush: the underlying writer is not closed.
func (s *SafeWriter) Close() error { return s.Flush() }
