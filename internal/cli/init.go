package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/submission"
)

// initOptions are the flags of `grader init`.
type initOptions struct {
	ios   *IOStreams
	dir   string
	stage string
	ci    string
	build string
	run   string
}

func newCmdInit(ios *IOStreams) *cobra.Command {
	o := &initOptions{ios: ios}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a grader.yaml for the project in DIR (default .), and optionally a CI workflow",
		Long: `Write grader.yaml for the project in DIR from what can be detected (a
Dockerfile, run.sh, go.mod, package.json with a start script, main.py or
app.py), with the stage from --stage (default: the first stage). Nothing is
asked: what detection cannot tell comes from --build and --run.

With --ci github it also writes .github/workflows/grader.yml, a workflow that
grades every push and pull request with the grader's GitHub Action.

An existing file is never overwritten: init says so and leaves it as it is.`,
		Example: `  grader init
  grader init ./myproject --stage rest --ci github
  grader init --run "python3 server.py"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
			return runInit(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.stage, "stage", "", "the stage the project is at (default: the first stage)")
	fl.StringVar(&o.ci, "ci", "", "also write a CI workflow: github")
	fl.StringVar(&o.build, "build", "", "the build command, when detection does not find the right one")
	fl.StringVar(&o.run, "run", "", "the command that starts the service in the foreground, when detection does not find it")
	_ = cmd.RegisterFlagCompletionFunc("stage", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return stageIDs(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// workflowPath is where --ci github writes its workflow, inside DIR.
var workflowPath = filepath.Join(".github", "workflows", "grader.yml")

func runInit(o *initOptions) error {
	stage := o.stage
	if stage == "" {
		stage = stageIDs()[0]
	}
	if _, _, ok := checks.Tasks.Stage(stage); !ok {
		return unknownStage(stage)
	}
	if o.ci != "" && o.ci != "github" {
		return usagef("--ci %q: the CI systems init knows are: github", o.ci)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return usagef("project directory %q: %v", o.dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("project directory %q does not exist or is not a directory", o.dir)
	}
	w := o.ios.ErrOut
	wrote, kept := 0, []string{}

	existing := ""
	for _, name := range []string{submission.ManifestName, "grader.yml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			existing = name
			break
		}
	}
	if existing != "" {
		fmt.Fprintf(w, "%s already exists in %s: left as it is (init never overwrites a file; edit it, or delete it and run grader init again)\n", existing, dir)
		kept = append(kept, existing)
	} else {
		content, detected, err := manifestFor(dir, stage, o.build, o.run)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, submission.ManifestName)
		if err := writeNew(path, content); err != nil {
			return err
		}
		// What was written must load: a grader bug otherwise.
		if _, err := submission.Load(dir); err != nil {
			return fmt.Errorf("the grader.yaml just written does not load (a grader bug, please report it): %v", err)
		}
		wrote++
		fmt.Fprintf(w, "wrote %s: %s\n", path, detected)
		if strings.Contains(content, ".grader-bin/") {
			fmt.Fprintln(w, "tip: add .grader-bin/ to .gitignore (the grader builds your service there)")
		}
	}

	if o.ci == "github" {
		path := filepath.Join(dir, workflowPath)
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(w, "%s already exists: left as it is\n", path)
			kept = append(kept, workflowPath)
		} else {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return fmt.Errorf("cannot create %s: %v", filepath.Dir(path), err)
			}
			if err := writeNew(path, githubWorkflow(stage, actionRef())); err != nil {
				return err
			}
			wrote++
			fmt.Fprintf(w, "wrote %s: grades stage %s on every push and pull request\n", path, stage)
		}
	}
	if wrote == 0 {
		return fmt.Errorf("nothing written: %s already there", strings.Join(kept, " and "))
	}
	fmt.Fprintf(w, "next: grader check %s --stage %s\n", shellQuote(o.dir), stage)
	return nil
}

// manifestFor builds grader.yaml's text for dir and says what was chosen.
func manifestFor(dir, stage, build, run string) (content, detected string, err error) {
	var m *submission.Manifest
	if run == "" {
		m, err = submission.Load(dir)
		if err != nil {
			var pe *submission.ProjectError
			if errors.As(err, &pe) {
				return "", "", usagef("%s; say how to start it: grader init --run 'COMMAND' (and --build 'COMMAND' if it needs a build)", pe.Message)
			}
			return "", "", err
		}
		if build != "" {
			m.Build = build
		}
		detected = m.Detected
	} else {
		m = &submission.Manifest{Build: build, Run: run}
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
	line("# env:", "names your app reads instead of the grader's:")
	line("#   DB_DSN: ${DATABASE_URL}", "${VAR} takes the grader's value, anything else is literal")
	return b.String(), detected, nil
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
func actionRef() string {
	if v := version(); releaseTag.MatchString(v) {
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
