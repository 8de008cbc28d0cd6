package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// hostile is what a submission may print or answer: a CSI screen clear, an
// OSC 8 link, an OSC 52 clipboard write, workflow commands old and new, a
// percent-encoded line break, a formula and markup.
const hostile = "\x1b[2J\x1b[H cleared\n" +
	"\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\n" +
	"\x1b]52;c;cm0gLXJmIH4=\x07\n" +
	"::error::forged\n" +
	"  ::add-mask::x\n" +
	"ok ##[error]old syntax\n" +
	"%0A::warning::encoded\r\n" +
	"=HYPERLINK(\"x\")|<img src=x>"

// assertInert fails when s holds a raw control character (other than
// newline and tab), a line that GitHub's runner reads as a command, or "##[".
func assertInert(t *testing.T, where, s string) {
	t.Helper()
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Errorf("%s: raw control character %U in %q", where, r, s)
			return
		}
	}
	if strings.Contains(s, "##[") {
		t.Errorf("%s: \"##[\" reaches the output: %q", where, s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "::") {
			t.Errorf("%s: line starts a workflow command: %q", where, l)
		}
	}
}

func TestEscapersLeaveNothingActive(t *testing.T) {
	for name, f := range map[string]func(string) string{
		"Terminal": Terminal, "TerminalLine": TerminalLine, "MarkdownText": MarkdownText,
		"MarkdownCode": MarkdownCode, "CSVCell": CSVCell, "GitHubLine": GitHubLine,
	} {
		assertInert(t, name, f(hostile))
	}
	// GitHub data and properties are one line by their %0A encoding.
	for name, f := range map[string]func(string) string{"GitHubData": GitHubData, "GitHubProperty": GitHubProperty} {
		got := f(hostile)
		assertInert(t, name, got)
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("%s keeps a line break: %q", name, got)
		}
		if strings.Contains(got, "%0A::") {
			t.Errorf("%s lets an encoded line break start a command: %q", name, got)
		}
	}
}

func TestEscapersKeepTextReadable(t *testing.T) {
	cases := []struct{ name, got, want string }{
		{"terminal ESC", Terminal("a\x1b[2Jb"), `a\x1b[2Jb`},
		{"terminal CRLF", Terminal("a\r\nb"), "a\nb"},
		{"terminal command", Terminal("x\n ::error::y"), "x\n \\x3a:error::y"},
		{"terminal old command", Terminal("see ##[group]"), `see #\x23[group]`},
		{"terminal plain colons", Terminal("a :: b"), "a :: b"},
		{"line", TerminalLine("a\nb\x07"), `a b\x07`},
		{"csv formula", CSVCell("=1+1"), "'=1+1"},
		{"csv minus", CSVCell("-2"), "'-2"},
		{"csv at", CSVCell("@SUM(A1)"), "'@SUM(A1)"},
		{"csv plus", CSVCell("+1"), "'+1"},
		{"csv plain", CSVCell("alice"), "alice"},
		{"csv multiline", CSVCell("a\nb"), "a b"},
		{"markdown", MarkdownText("<b>|x"), `&lt;b&gt;\|x`},
		{"gh data", GitHubData("50%\n::x"), `50%25%0A\x3a:x`},
		{"gh property", GitHubProperty("a:b,c"), "a%3Ab%2Cc"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestSafeWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewSafeWriter(&out)
	// A command split across writes is still caught: lines are whole.
	for _, p := range []string{"[your_service] \x1b]52;c;eA==\x07 ok\n::", "error::x\n##", "[warning]y\npartial"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "partial") {
		t.Errorf("an unfinished line was written before Flush: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "[your_service] \\x1b]52;c;eA==\\x07 ok\n\\x3a:error::x\n#\\x23[warning]y\npartial\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	assertInert(t, "SafeWriter", out.String())

	// A flood without newlines is written in escaped pieces.
	out.Reset()
	w = NewSafeWriter(&out)
	_, _ = w.Write([]byte(strings.Repeat("\x1b", 3*safeWriterMaxLine)))
	if out.Len() == 0 || strings.ContainsRune(out.String(), 0x1b) {
		t.Errorf("a long line without newline: %d bytes written, raw ESC: %v", out.Len(), strings.ContainsRune(out.String(), 0x1b))
	}
}

func TestGradebookEscapesSubmissionText(t *testing.T) {
	rows := classRows()
	rows[0].Name = "=cmd|' /C calc'!A0"
	for i := range rows {
		if r := rows[i].Report; r != nil && r.Problem != nil {
			r.Problem.Message = hostile
		}
		if rows[i].Report == nil {
			rows[i].Err = hostile
		}
		if r := rows[i].Report; r != nil {
			for s := range r.Stages {
				for c := range r.Stages[s].Checks {
					if r.Stages[s].Checks[c].Status == "fail" {
						r.Stages[s].Checks[c].Message = hostile
					}
				}
			}
		}
	}
	g := Gradebook{Stage: "rest", StageOrder: trackOrder, Rows: rows}
	var sum, grades bytes.Buffer
	if err := g.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteCSV(&grades); err != nil {
		t.Fatal(err)
	}
	assertInert(t, "summary.md", sum.String())
	if strings.Contains(sum.String(), "<img") {
		t.Errorf("summary.md holds raw HTML from a submission:\n%s", sum.String())
	}
	assertInert(t, "grades.csv", grades.String())
	recs, err := csv.NewReader(&grades).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("cell %q would be read as a formula", cell)
			}
		}
	}
}

func TestJSONHidesOldCommandSyntax(t *testing.T) {
	r := mixedReport()
	r.Stages[0].Checks[1].Message = "##[error]x \x1b[2J"
	out := render(t, "json", r, Options{})
	assertInert(t, "json", out)
	var back struct {
		Stages []struct{ Checks []struct{ Message string } }
	}
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Stages[0].Checks[1].Message; got != "##[error]x \x1b[2J" {
		t.Errorf("the JSON report changed the message: %q", got)
	}
}
