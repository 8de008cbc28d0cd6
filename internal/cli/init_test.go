package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/submission"

	"github.com/backend-grader/grader/internal/grading/system"
)

// runCLI runs one command line in-process and returns the exit code and
// stderr.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ios := &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb, NoColor: true, Getenv: func(string) string { return "" }}
	code := Run(context.Background(), ios, system.New(), args)
	return code, errb.String()
}

func TestInitGoProject(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/todo\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)

	code, stderr := runCLI(t, "init", dir, "--stage", "http", "--ci", "github")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err := submission.Load(dir)
	if err != nil {
		t.Fatalf("the written grader.yaml does not load: %v", err)
	}
	if !m.Found || m.Stage != "http" || m.Run != "./.grader-bin/server" || !strings.HasPrefix(m.Build, "go build ") {
		t.Errorf("manifest = stage %q build %q run %q found %v; want the detected Go build and run at stage http", m.Stage, m.Build, m.Run, m.Found)
	}
	wf, err := os.ReadFile(filepath.Join(dir, ".github", "workflows", "grader.yml"))
	if err != nil {
		t.Fatalf("no workflow: %v", err)
	}
	for _, want := range []string{"uses: backend-grader/grader@", "stage: http", "uses: actions/checkout@"} {
		if !strings.Contains(string(wf), want) {
			t.Errorf("workflow lacks %q:\n%s", want, wf)
		}
	}
	if !strings.Contains(stderr, "wrote ") || !strings.Contains(stderr, "found go.mod") {
		t.Errorf("stderr does not say what was written and detected:\n%s", stderr)
	}

	// A second run changes nothing and says so.
	before, _ := os.ReadFile(filepath.Join(dir, "grader.yaml"))
	os.WriteFile(filepath.Join(dir, "grader.yaml"), append(before, []byte("# mine\n")...), 0o644)
	code, stderr = runCLI(t, "init", dir, "--stage", "rest", "--ci", "github")
	if code == 0 {
		t.Errorf("second init exited 0, want a failure: nothing could be written")
	}
	if !strings.Contains(stderr, "grader.yaml already exists") || !strings.Contains(stderr, "left as it is") {
		t.Errorf("stderr does not say the file was kept:\n%s", stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "grader.yaml"))
	if !strings.HasSuffix(string(after), "# mine\n") {
		t.Errorf("grader.yaml was overwritten:\n%s", after)
	}
}

func TestInitNothingDetected(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runCLI(t, "init", dir)
	if code != ExitUsage || !strings.Contains(stderr, "--run") {
		t.Errorf("exit %d, stderr %q; want a usage error asking for --run", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "grader.yaml")); err == nil {
		t.Errorf("grader.yaml written although nothing was detected")
	}

	// --run says it: the command is quoted so that YAML keeps it whole.
	code, stderr = runCLI(t, "init", dir, "--run", "python3 server.py --port: 1 # x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err := submission.Load(dir)
	if err != nil || m.Run != "python3 server.py --port: 1 # x" || m.Stage != stageIDs()[0] {
		t.Errorf("manifest %+v, err %v", m, err)
	}
}

func TestInitBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", dir, "--stage", "nope"},
		{"init", dir, "--ci", "gitlab"},
		{"init", filepath.Join(dir, "missing")},
	} {
		if code, stderr := runCLI(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, ExitUsage)
		}
	}
}
