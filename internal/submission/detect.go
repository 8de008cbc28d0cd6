package submission

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// goBinary is where a detected Go project is built, inside the project.
const goBinary = ".grader-bin/server"

// detect chooses how to build and run a project that has no grader.yaml, in
// this order: a Dockerfile, run.sh, go.mod, package.json with a start
// script, main.py or app.py.
func detect(dir string) (*Manifest, error) {
	m := &Manifest{Dir: dir}
	has := func(name string) bool { return exists(filepath.Join(dir, name)) }
	var notes []string
	switch {
	case has("Dockerfile"):
		m.Docker = true
		m.Detected = "found a Dockerfile: building it and running the image (as docker: true would)"
		return m, nil
	case has("run.sh"):
		m.Run = "sh ./run.sh"
		m.Detected = "found run.sh: running `sh ./run.sh`"
		return m, nil
	case has("go.mod"):
		pkg := goMainPackage(dir)
		m.Build = "go build -o " + goBinary + " " + pkg
		m.Run = "./" + goBinary
		m.Detected = fmt.Sprintf("found go.mod: building with `%s` and running `%s`", m.Build, m.Run)
		return m, nil
	}
	if has("package.json") {
		ok, err := hasStartScript(filepath.Join(dir, "package.json"))
		if err != nil {
			return nil, &ProjectError{Kind: "manifest",
				Message: fmt.Sprintf("no grader.yaml, and package.json cannot be read: %v", err),
				Hint:    "fix package.json, or add a grader.yaml; " + exampleManifest}
		}
		if ok {
			m.Run = "npm start"
			if has("node_modules") {
				m.Detected = "found package.json with a start script: running `npm start` (node_modules is there, so no npm install)"
			} else {
				m.Build = "npm install"
				m.Detected = "found package.json with a start script: running `npm install`, then `npm start`"
			}
			return m, nil
		}
		notes = append(notes, `package.json has no "start" script`)
	}
	for _, name := range []string{"main.py", "app.py"} {
		if has(name) {
			m.Run = "python3 " + name
			m.Detected = fmt.Sprintf("found %s: running `python3 %s`", name, name)
			return m, nil
		}
	}
	msg := fmt.Sprintf("no grader.yaml in %s, and nothing to start it with: looked for a Dockerfile, run.sh, go.mod, package.json with a \"start\" script, main.py and app.py", dir)
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return nil, &ProjectError{Kind: "manifest", Message: msg,
		Hint: "add grader.yaml at the project root to say how to build and run your service; " + exampleManifest}
}

// goMainPackage is "." when the module root holds Go files, else the only
// ./cmd/NAME directory when there is exactly one, else ".".
func goMainPackage(dir string) string {
	if goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(goFiles) > 0 {
		return "."
	}
	var cmds []string
	entries, _ := os.ReadDir(filepath.Join(dir, "cmd"))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "cmd", e.Name(), "*.go")); len(files) > 0 {
			cmds = append(cmds, e.Name())
		}
	}
	if len(cmds) == 1 {
		return "./cmd/" + cmds[0]
	}
	return "."
}

// hasStartScript reports whether package.json has scripts.start.
func hasStartScript(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var pkg struct {
		Scripts map[string]any `json:"scripts"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return false, err
	}
	s, ok := pkg.Scripts["start"].(string)
	return ok && strings.TrimSpace(s) != "", nil
}
