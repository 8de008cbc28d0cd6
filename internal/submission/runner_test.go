package submission

import (
	"strings"
	"testing"
)

// The runner image follows the commands first, then the files; a project
// that names no toolchain gets "" (the Go image, a Debian with a shell).
func TestToolchain(t *testing.T) {
	for _, c := range []struct {
		files      map[string]string
		build, run string
		want       string
	}{
		{map[string]string{"go.mod": "module x"}, "go build -o bin/s .", "./bin/s", "go"},
		{map[string]string{"go.mod": "module x"}, "", "./prebuilt", "go"},
		{map[string]string{"package.json": "{}"}, "npm ci", "npm start", "node"},
		{map[string]string{"index.js": ""}, "", "/usr/bin/node index.js", "node"},
		{map[string]string{"requirements.txt": "flask"}, "pip install -r requirements.txt", "gunicorn app:app", "python"},
		{map[string]string{"main.py": ""}, "", "sh ./start.sh", "python"},
		{map[string]string{"server.sh": ""}, "", "sh ./server.sh", ""},
	} {
		m := &Manifest{Dir: project(t, c.files), Build: c.build, Run: c.run}
		if got := toolchain(m); got != c.want {
			t.Errorf("toolchain(build %q, run %q, files %v) = %q, want %q", c.build, c.run, c.files, got, c.want)
		}
	}
}

// Python projects share a venv between build and run; others get nothing
// before their commands.
func TestPrelude(t *testing.T) {
	py := &Manifest{Dir: project(t, map[string]string{"app.py": ""}), Run: "python3 app.py"}
	if p := prelude(py); !strings.Contains(p, "python3 -m venv "+pyVenv) || !strings.Contains(p, ". "+pyVenv+"/bin/activate; ") {
		t.Errorf("python prelude %q", p)
	}
	if p := prelude(&Manifest{Dir: t.TempDir(), Run: "node index.js"}); p != "" {
		t.Errorf("node prelude %q, want none", p)
	}
}
