package grading

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/backend-grader/grader/checks"
)

// InitRequest is one `grader init`.
type InitRequest struct {
	Dir   string
	Stage string // "": the first stage
	CI    string // "" or github
	Build string // overrides what detection finds
	Run   string // overrides what detection finds
	// Version is the grader's: a release pins the workflow's action to it.
	Version string
	// Log receives what was written and kept.
	Log io.Writer
}

// ManifestNames are the file names a manifest may have, preferred first.
var ManifestNames = []string{"grader.yaml", "grader.yml"}

// workflowPath is where --ci github writes its workflow, inside DIR.
var workflowPath = filepath.Join(".github", "workflows", "grader.yml")

// Init writes grader.yaml for the project in o.Dir from what l detects,
// and with CI "github" a workflow that grades every push. An existing file
// is never overwritten.
func Init(o InitRequest, l Launcher) error {
	stage := o.Stage
	if stage == "" {
		stage = StageIDs()[0]
	}
	if _, _, ok := checks.Tasks.Stage(stage); !ok {
		return UnknownStage(stage)
	}
	if o.CI != "" && o.CI != "github" {
		return Usagef("--ci %q: the CI systems init knows are: github", o.CI)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return Usagef("project directory %q: %v", o.Dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return Usagef("project directory %q does not exist or is not a directory", o.Dir)
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	wrote, kept := 0, []string{}

	existing := ""
	for _, name := range ManifestNames {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			existing = name
			break
		}
	}
	if existing != "" {
		fmt.Fprintf(w, "%s already exists in %s: left as it is (init never overwrites a file; edit it, or delete it and run grader init again)\n", existing, dir)
		kept = append(kept, existing)
	} else {
		content, detected, err := manifestFor(l, dir, stage, o.Build, o.Run)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, ManifestNames[0])
		if err := writeNew(path, content); err != nil {
			return err
		}
		// What was written must load: a grader bug otherwise.
		if _, err := l.Load(dir); err != nil {
			return fmt.Errorf("the grader.yaml just written does not load (a grader bug, please report it): %v", err)
		}
		wrote++
		fmt.Fprintf(w, "wrote %s: %s\n", path, detected)
		if strings.Contains(content, ".grader-bin/") {
			fmt.Fprintln(w, "tip: add .grader-bin/ to .gitignore (the grader builds your service there)")
		}
	}

	if o.CI == "github" {
		path := filepath.Join(dir, workflowPath)
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(w, "%s already exists: left as it is\n", path)
			kept = append(kept, workflowPath)
		} else {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return fmt.Errorf("cannot create %s: %v", filepath.Dir(path), err)
			}
			if err := writeNew(path, githubWorkflow(stage, actionRef(o.Version))); err != nil {
				return err
			}
			wrote++
			fmt.Fprintf(w, "wrote %s: grades stage %s on every push and pull request\n", path, stage)
		}
	}
	if wrote == 0 {
		return fmt.Errorf("nothing written: %s already there", strings.Join(kept, " and "))
	}
	fmt.Fprintf(w, "next: grader check %s --stage %s\n", shellQuote(o.Dir), stage)
	return nil
}

// manifestFor builds grader.yaml's text for dir and says what was chosen.
func manifestFor(l Launcher, dir, stage, build, run string) (content, detected string, err error) {
	var m *Project
	if run == "" {
		m, err = l.Load(dir)
		if err != nil {
			var pe *ProjectError
			if errors.As(err, &pe) {
				return "", "", Usagef("%s; say how to start it: grader init --run 'COMMAND' (and --build 'COMMAND' if it needs a build)", pe.Message)
			}
			return "", "", err
		}
		if build != "" {
			m.Build = build
		}
		detected = m.Detected
	} else {
		m = &Project{Build: build, Run: run}
		detected = "build and run as given"
	}
	var b strings.Builder
	b.WriteString("# How `grader` builds and runs this project (written by `grader init`).\n")
	if m.Detected != "" {
		b.WriteString("# Detected: " + oneLineCut(m.Detected, 200) + "\n")
	}
	b.WriteString("# `grader explain " + stage + "` shows what the stage asks for; `grader stages` lists them all.\n")
	b.WriteString("stage: " + yamlScalar(stage) + "\n")
	line := func(code, comment string) { fmt.Fprintf(&b, "%-34s # %s\n", code, comment) }
	if m.Docker {
		line("docker: true", "build ./Dockerfile and run the image")
	} else {
		if m.Build != "" {
			b.WriteString("build: " + yamlScalar(m.Build) + "\n")
		}
		b.WriteString("run: " + yamlScalar(m.Run) + "\n")
		line("# docker: true", "instead: build ./Dockerfile and run the image")
	}
	line("# startupTimeout: 30s", "how long the service has to listen on $PORT")
	line("# services: [postgres, redis]", "services needed beyond what the stage implies")
	var hints SourceHints
	if sc, ok := l.(SourceScanner); ok {
		hints = sc.ScanSource(dir)
	}
	writeHints(&b, line, hints)
	return b.String(), detected, nil
}

// writeHints proposes basePath and env: from what the project's code says:
// a route prefix as a value, each variable the code reads that the grader
// does not set mapped to the grader's value (a comment when the grader has
// none for it).
func writeHints(b *strings.Builder, line func(code, comment string), h SourceHints) {
	if h.BasePath != "" {
		line("basePath: "+yamlScalar(h.BasePath), "routes seen under "+h.BasePath+" in the code; delete if they live at the root")
	}
	names := make([]string, 0, len(h.Env))
	for n := range h.Env {
		names = append(names, n)
	}
	sort.Strings(names)
	mapped := 0
	for _, n := range names {
		if h.Env[n] != "" {
			mapped++
		}
	}
	if mapped == 0 {
		line("# env:", "names your app reads instead of the grader's:")
		line("#   DB_DSN: ${DATABASE_URL}", "${VAR} takes the grader's value, anything else is literal")
	} else {
		line("env:", "names your code reads, given the grader's values")
	}
	for _, n := range names {
		where := "read in " + h.Files[n]
		if v := h.Env[n]; v != "" {
			line("  "+n+": "+yamlScalar(v), where)
		} else {
			line("  # "+n+":", where+"; the grader has no value for it")
		}
	}
}

// yamlScalar renders s as one YAML scalar, quoted when it must be.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// writeNew creates path with content, failing if it exists.
func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists: left as it is", path)
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, err)
	}
	_, werr := f.WriteString(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("cannot write %s: %v", path, werr)
	}
	return nil
}

var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// actionRef is the ref of the grader's action a new workflow pins: this
// grader's own release, or the major version line when it is a dev build.
func actionRef(v string) string {
	if releaseTag.MatchString(v) {
		return v
	}
	return "v1"
}

// githubWorkflow is the workflow --ci github writes.
func githubWorkflow(stage, ref string) string {
	return fmt.Sprintf(`# Grades this project with backend-grader on every push and pull request.
# Written by 'grader init --ci github'. The report is in the job summary,
# failed checks are annotations, and the reports are an artifact.
# Pin the grader: @%s below is the action's version and the grader's.
name: grader
on:
  push:
  pull_request:
jobs:
  grade:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: backend-grader/grader@%s
        with:
          stage: %s
`, ref, ref, yamlScalar(stage))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
