package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Under GitHub Actions the job summary holds the markdown report once per
// run, however many outputs speak github (the bug: `--format github
// --output github=FILE` appended it twice).
func TestDestinationsAppendTheJobSummaryOnce(t *testing.T) {
	r := mixedReport()
	markdown := render(t, "markdown", r, Options{})
	cases := []struct {
		name        string
		format      string
		files       []string // formats written to files
		wantSummary bool
	}{
		{"github on stdout and in a file", "github", []string{"github"}, true},
		{"github on stdout", "github", nil, true},
		{"text under actions, github in two files", "text", []string{"github", "github"}, true},
		{"text under actions", "text", nil, true},
		{"json and a junit file", "json", []string{"junit"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			summary := filepath.Join(dir, "step-summary.md")
			if err := os.WriteFile(summary, []byte("from an earlier step\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			d := &Destinations{Stdout: &out, Format: tc.format, StepSummary: summary, GitHubActions: true}
			for i, f := range tc.files {
				d.Files = append(d.Files, FileOutput{Format: f, Path: filepath.Join(dir, "out", string(rune('a'+i))+"."+f)})
			}
			if err := d.Write(r); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			want := "from an earlier step\n"
			if tc.wantSummary {
				want += markdown
			}
			if string(got) != want {
				t.Errorf("the job summary holds the report %d times, want %d:\n%s",
					strings.Count(string(got), markdown), map[bool]int{true: 1}[tc.wantSummary], got)
			}
			for _, f := range d.Files {
				data, err := os.ReadFile(f.Path)
				if err != nil || len(data) == 0 {
					t.Errorf("--output %s=%s was not written: %v", f.Format, f.Path, err)
				}
			}
			if tc.format == "text" && !strings.Contains(out.String(), "::error title=") {
				t.Errorf("a text report under GitHub Actions has no annotations:\n%s", out.String())
			}
		})
	}
}

// With no GitHub Actions there is no job summary, and stdout is the format alone.
func TestDestinationsOutsideActions(t *testing.T) {
	r := mixedReport()
	var out bytes.Buffer
	d := &Destinations{Stdout: &out, Format: "text"}
	if err := d.Write(r); err != nil {
		t.Fatal(err)
	}
	if want := render(t, "text", r, Options{}); out.String() != want {
		t.Errorf("stdout is not the text report alone:\n%s", out.String())
	}
}

func TestDestinationsUnwritableFileIsAnOutputError(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Destinations{Stdout: &bytes.Buffer{}, Format: "json",
		Files: []FileOutput{{Format: "junit", Path: filepath.Join(blocker, "report.xml")}}}
	err := d.Write(mixedReport())
	var oe *OutputError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "--output junit=") {
		t.Errorf("got %v, want an *OutputError naming the --output", err)
	}
}

func TestSubmissionFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "error.txt"), []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSubmissionFiles(dir, mixedReport(), []string{"junit", "gradescope"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.txt", "report.json", "report.xml", "results.json"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "error.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error.txt of an earlier run is still there (%v)", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
