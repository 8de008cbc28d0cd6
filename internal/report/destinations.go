package report

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/backend-grader/grader/internal/grader"
)

// FileOutput is one `--output FORMAT=FILE`.
type FileOutput struct{ Format, Path string }

// Destinations are every place one report goes, decided in one place:
// stdout in Format, each of Files, and on GitHub Actions the annotations
// and the job summary.
type Destinations struct {
	Stdout io.Writer
	Format string
	Color  bool // colour on stdout (text)
	Files  []FileOutput
	// StepSummary is $GITHUB_STEP_SUMMARY ("": none). The markdown report
	// is appended to it once per run, when any github output is written.
	StepSummary string
	// GitHubActions: GITHUB_ACTIONS=true. A text report on stdout then also
	// prints the github annotations.
	GitHubActions bool
}

// Write prints rep to every destination.
func (d *Destinations) Write(rep *grader.Report) error {
	github := false
	if err := Write(d.Stdout, d.Format, rep, Options{Color: d.Color}); err != nil {
		return err
	}
	github = github || d.Format == "github"
	if d.Format == "text" && d.GitHubActions {
		if err := Write(d.Stdout, "github", rep, Options{Color: d.Color, AnnotationsOnly: true}); err != nil {
			return err
		}
		github = true
	}
	for _, f := range d.Files {
		if err := writeFile(f, rep); err != nil {
			return err
		}
		github = github || f.Format == "github"
	}
	// The job summary is one per run, however many github outputs there
	// are (the github writer would append it once for each).
	if github && d.StepSummary != "" {
		return appendFile(d.StepSummary, renderMarkdown(rep, MaxMarkdownBytes))
	}
	return nil
}

// OutputError is an --output file that cannot be created: the caller's
// mistake (a usage error).
type OutputError struct {
	File FileOutput
	Err  error
}

func (e *OutputError) Error() string {
	return fmt.Sprintf("--output %s=%s: %v; choose a writable path", e.File.Format, e.File.Path, e.Err)
}

func (e *OutputError) Unwrap() error { return e.Err }

func writeFile(f FileOutput, rep *grader.Report) error {
	if dir := filepath.Dir(f.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return &OutputError{f, err}
		}
	}
	fh, err := os.Create(f.Path)
	if err != nil {
		return &OutputError{f, err}
	}
	werr := Write(fh, f.Format, rep, Options{})
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// SubmissionFiles maps the report formats a batch can write per submission
// to their file names in <out>/<name>/ (text and json are always written).
var SubmissionFiles = map[string]string{
	"text":       "report.txt",
	"json":       "report.json",
	"junit":      "report.xml",
	"markdown":   "report.md",
	"classroom":  "classroom.json",
	"gradescope": "results.json",
}

// WriteSubmissionFiles writes a batch submission's report into dir:
// report.txt, the extra formats, then report.json (last and atomically: its
// presence means "graded"). It removes an error.txt of an earlier run.
func WriteSubmissionFiles(dir string, rep *grader.Report, formats []string) error {
	for _, f := range formats {
		if _, ok := SubmissionFiles[f]; !ok {
			return fmt.Errorf("no file name for the %s format in a batch (a grader bug): use one of junit, markdown, classroom, gradescope", f)
		}
	}
	for _, f := range append([]string{"text"}, slices.DeleteFunc(slices.Clone(formats), func(f string) bool { return f == "json" })...) {
		if err := writeAtomic(filepath.Join(dir, SubmissionFiles[f]), f, rep); err != nil {
			return err
		}
	}
	if err := writeAtomic(filepath.Join(dir, SubmissionFiles["json"]), "json", rep); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "error.txt"))
	return nil
}

func writeAtomic(path, format string, rep *grader.Report) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, err)
	}
	werr := f.Chmod(0o644)
	if werr == nil {
		werr = Write(f, format, rep, Options{})
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot write %s: %v", path, werr)
	}
	return nil
}
