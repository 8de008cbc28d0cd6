package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/submission"
)

// init proposes basePath and env: from the project's code, and what it
// writes loads.
func TestInitProposesBasePathAndEnv(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"package.json":  `{"name": "todo", "scripts": {"start": "node src/index.js"}}`,
		"src/index.js":  "app.use('/api/v1', router);\napp.listen(process.env.PORT);\n",
		"src/routes.js": "router.get('/api/v1/health', h);\n",
		"src/db.js":     "new Pool({host: process.env.DB_HOST, port: process.env.DB_PORT});\nconst m = process.env.MONGO_URL;\n",
	}
	for name, body := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stderr := runCLI(t, "init", dir, "--stage", "persistence")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err := submission.Load(dir)
	if err != nil {
		t.Fatalf("the written grader.yaml does not load: %v", err)
	}
	if m.BasePath != "/api/v1" {
		t.Errorf("basePath = %q, want /api/v1", m.BasePath)
	}
	if d := cmp.Diff(map[string]string{"DB_HOST": "${DATABASE_URL.host}", "DB_PORT": "${DATABASE_URL.port}"}, m.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	text, _ := os.ReadFile(filepath.Join(dir, "grader.yaml"))
	if !strings.Contains(string(text), "# MONGO_URL:") || !strings.Contains(string(text), "read in src/db.js") {
		t.Errorf("grader.yaml does not name the variable the grader has no value for, or where it was read:\n%s", text)
	}
}
