package report

import "testing"

func TestCleanDropsColoursAndEscapesOtherSequences(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[35m[GIN-debug]\x1b[0m listening": "[GIN-debug] listening",
		"\x1b[1;33mwarn\x1b[m":                 "warn",
		"\x1b[2Jcleared":                       `\x1b[2Jcleared`,
		"\x1b]52;c;aGk=\x07":                   `\x1b]52;c;aGk=\x07`,
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
