package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/grading/system"
)

func testIO() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb, NoColor: true,
		Getenv: func(string) string { return "" }}, &out, &errb
}

// Every way a command can go wrong before grading says what is wrong on
// stderr and exits with the code DESIGN.md §2.4 gives.
func TestErrorsAreSaidWithTheRightExitCode(t *testing.T) {
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "grader.yaml"), []byte("stage: http\nrun: ./x\nservics: [redis]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"unknown stage", []string{"check", empty, "--stage", "nope"}, ExitUsage, `unknown stage "nope"`},
		{"missing dir", []string{"check", filepath.Join(empty, "x"), "--stage", "http"}, ExitUsage, "does not exist"},
		{"nothing to run", []string{"check", empty, "--stage", "http"}, ExitNotPassed, "grader.yaml"},
		{"manifest line", []string{"check", bad}, ExitNotPassed, "line 3"},
		{"bad flag", []string{"check", "--nope"}, ExitUsage, "unknown flag"},
		{"bad format", []string{"check", empty, "--stage", "http", "--format", "xml"}, ExitUsage, "unknown --format"},
		{"bad output", []string{"check", empty, "--stage", "http", "--output", "junit"}, ExitUsage, "FORMAT=FILE"},
		{"bad env", []string{"check", empty, "--stage", "http", "--env", "NOEQUALS"}, ExitUsage, "KEY=VALUE"},
		{"bad services", []string{"check", empty, "--stage", "http", "--services", "cloud"}, ExitUsage, "docker, external or auto"},
		{"unknown command", []string{"grade"}, ExitUsage, "unknown command"},
		{"explain unknown", []string{"explain", "nope"}, ExitUsage, "the stages are"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, errb := testIO()
			code := Run(context.Background(), ios, system.New(), tc.args)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errb)
			}
			if !strings.Contains(errb.String(), tc.says) || !strings.HasPrefix(errb.String(), "grader: ") {
				t.Errorf("stderr %q does not say %q", errb, tc.says)
			}
			if strings.Contains(errb.String(), "goroutine") || strings.Contains(errb.String(), "panic") {
				t.Errorf("stack trace on stderr: %s", errb)
			}
		})
	}
}

func TestStagesJSONListsEveryCheck(t *testing.T) {
	ios, out, _ := testIO()
	if code := Run(context.Background(), ios, system.New(), []string{"stages", "--format", "json"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{`"track": "tasks"`, `"id": "http.health"`, `"id": "caching"`, `"points"`, `"skills"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stages JSON lacks %s", want)
		}
	}
}
