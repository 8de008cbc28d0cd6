package submission

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// project writes files (name -> content) into a new directory.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// projectError asserts err is a *ProjectError of kind and returns it.
func projectError(t *testing.T, err error, kind string) *ProjectError {
	t.Helper()
	var pe *ProjectError
	if !errors.As(err, &pe) {
		t.Fatalf("want a *ProjectError of kind %s, got %T: %v", kind, err, err)
	}
	if pe.Kind != kind {
		t.Fatalf("kind = %q, want %q (message: %s)", pe.Kind, kind, pe.Message)
	}
	return pe
}

func TestLoadManifest(t *testing.T) {
	dir := project(t, map[string]string{"grader.yaml": `
stage: caching
build: go build -o server .
run: ./server
startupTimeout: 45s
services: [postgres, redis]
env:
  DB_DSN: ${DATABASE_URL}
  MODE: test
`})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{Stage: "caching", Build: "go build -o server .", Run: "./server",
		StartupTimeout: Duration(45 * time.Second), Services: []string{"postgres", "redis"},
		Env: map[string]string{"DB_DSN": "${DATABASE_URL}", "MODE": "test"}, Dir: dir, Found: true}
	if diff := cmp.Diff(want, m, cmp.AllowUnexported(Manifest{})); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if m.Timeout() != 45*time.Second {
		t.Errorf("Timeout() = %s", m.Timeout())
	}
}

func TestManifestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "1m30s": 90 * time.Second, "12": 12 * time.Second,
		`"7"`: 7 * time.Second, "0.5": 500 * time.Millisecond, "0": DefaultStartupTimeout,
	} {
		m, err := parseManifest("grader.yaml", []byte("run: ./x\nstartupTimeout: "+in+"\n"))
		if err != nil {
			t.Errorf("startupTimeout: %s: %v", in, err)
			continue
		}
		if m.Timeout() != want {
			t.Errorf("startupTimeout: %s = %s, want %s", in, m.Timeout(), want)
		}
	}
	m, err := parseManifest("grader.yaml", []byte("run: ./x\n"))
	if err != nil || m.Timeout() != 30*time.Second {
		t.Errorf("default timeout = %v, %v; want 30s", m.Timeout(), err)
	}
}

func TestManifestErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the message
	}{
		{"syntax error names the line", "stage: http\nrun: ./server\n  build: x: y\n",
			[]string{"grader.yaml line 3: "}},
		{"unknown key names the line and the keys", "stage: http\nrun: ./server\nservics: [redis]\n",
			[]string{`grader.yaml line 3: unknown key "servics"`, "the keys are stage, build, run"}},
		{"bad bool names the key", "run: ./server\ndocker: yes please\n",
			[]string{"grader.yaml line 2: docker: expected true or false, got `yes please`"}},
		{"bad list names the key", "run: ./server\nservices: {a: b}\n",
			[]string{"grader.yaml line 2: services: expected a list"}},
		{"bad duration", "run: ./server\nstartupTimeout: soon\n",
			[]string{`grader.yaml line 2: startupTimeout: "soon" is not a duration`}},
		{"negative duration", "run: ./server\nstartupTimeout: -3s\n",
			[]string{"grader.yaml line 2:", "negative"}},
		{"top level not a mapping", "- run\n- ./server\n",
			[]string{"grader.yaml line 1:", "expected a mapping of keys"}},
		{"duplicate key", "run: ./a\nrun: ./b\n",
			[]string{"grader.yaml line 2:", `"run" already defined`}},
		{"no run", "stage: http\nbuild: make\n",
			[]string{"grader.yaml has no run:"}},
		{"empty file", "", []string{"grader.yaml has no run:"}},
		{"env sets PORT", "run: ./server\nenv:\n  MODE: x\n  PORT: \"8080\"\n",
			[]string{"grader.yaml line 4: env sets PORT"}},
		{"bad env name", "run: ./server\nenv:\n  1BAD: x\n",
			[]string{`grader.yaml line 3: env "1BAD" is not a variable name`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(project(t, map[string]string{"grader.yaml": c.yaml}))
			pe := projectError(t, err, "manifest")
			t.Logf("message: %s", pe.Message)
			for _, w := range c.want {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message %q does not contain %q", pe.Message, w)
				}
			}
			if pe.Message != strings.ToLower(pe.Message[:1])+pe.Message[1:] || strings.Contains(pe.Message, "\n") {
				t.Errorf("message is not one lower-case line: %q", pe.Message)
			}
			if pe.Hint == "" && !strings.Contains(c.name, "env") {
				t.Errorf("no hint for %q", pe.Message)
			}
		})
	}
}

func TestManifestDockerNeedsDockerfile(t *testing.T) {
	_, err := Load(project(t, map[string]string{"grader.yaml": "docker: true\n"}))
	pe := projectError(t, err, "manifest")
	if !strings.Contains(pe.Message, "docker: true, but there is no Dockerfile") {
		t.Errorf("message = %q", pe.Message)
	}
	m, err := Load(project(t, map[string]string{"grader.yaml": "docker: true\n", "Dockerfile": "FROM scratch\n"}))
	if err != nil || !m.Docker || m.Run != "" {
		t.Errorf("docker manifest = %+v, %v", m, err)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name        string
		files       map[string]string
		build, run  string
		docker      bool
		detectedHas string
	}{
		{"Dockerfile first", map[string]string{"Dockerfile": "FROM x", "go.mod": "module x", "run.sh": ""},
			"", "", true, "Dockerfile"},
		{"run.sh before go.mod", map[string]string{"run.sh": "echo", "go.mod": "module x"},
			"", "sh ./run.sh", false, "run.sh"},
		{"go.mod at the root", map[string]string{"go.mod": "module x", "main.go": "package main"},
			"go build -o .grader-bin/server .", "./.grader-bin/server", false, "go.mod"},
		{"go.mod with one cmd", map[string]string{"go.mod": "module x", "cmd/api/main.go": "package main", "internal/a/a.go": "package a"},
			"go build -o .grader-bin/server ./cmd/api", "./.grader-bin/server", false, "./cmd/api"},
		{"package.json without node_modules", map[string]string{"package.json": `{"scripts": {"start": "node index.js"}}`},
			"npm install", "npm start", false, "npm install"},
		{"package.json with node_modules", map[string]string{"package.json": `{"scripts": {"start": "node index.js"}}`, "node_modules/.keep": ""},
			"", "npm start", false, "no npm install"},
		{"package.json without start falls through", map[string]string{"package.json": `{"scripts": {"test": "x"}}`, "app.py": ""},
			"", "python3 app.py", false, "app.py"},
		{"main.py before app.py", map[string]string{"main.py": "", "app.py": ""},
			"", "python3 main.py", false, "main.py"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(project(t, c.files))
			if err != nil {
				t.Fatal(err)
			}
			if m.Found || m.Build != c.build || m.Run != c.run || m.Docker != c.docker {
				t.Errorf("got found=%v build=%q run=%q docker=%v; want build=%q run=%q docker=%v",
					m.Found, m.Build, m.Run, m.Docker, c.build, c.run, c.docker)
			}
			if !strings.Contains(m.Detected, c.detectedHas) || strings.Contains(m.Detected, "\n") {
				t.Errorf("Detected = %q, want one line mentioning %q", m.Detected, c.detectedHas)
			}
		})
	}
}

func TestDetectNothing(t *testing.T) {
	_, err := Load(project(t, map[string]string{"README.md": "hi", "package.json": `{"scripts": {}}`}))
	pe := projectError(t, err, "manifest")
	for _, w := range []string{"no grader.yaml", "Dockerfile", "run.sh", "go.mod", "package.json", "main.py", "app.py", `package.json has no "start" script`} {
		if !strings.Contains(pe.Message, w) {
			t.Errorf("message %q does not mention %q", pe.Message, w)
		}
	}
	if !strings.Contains(pe.Hint, "grader.yaml") || strings.Count(pe.Hint, "\n  ") != 3 {
		t.Errorf("hint should show a 3-line grader.yaml: %q", pe.Hint)
	}
}

func TestLoadNotADirectory(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope"))
	projectError(t, err, "manifest")
}
