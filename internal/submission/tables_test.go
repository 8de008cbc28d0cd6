package submission

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestManifestBasePathAndTables(t *testing.T) {
	m, err := parseManifest("grader.yaml", []byte(`run: ./server
basePath: /api/v1
tables: {todos: tasks, users: accounts}
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.BasePath != "/api/v1" {
		t.Errorf("basePath = %q", m.BasePath)
	}
	want := Tables{}
	want["todos"] = struct {
		Table   string
		Columns map[string]string
	}{Table: "tasks"}
	want["users"] = struct {
		Table   string
		Columns map[string]string
	}{Table: "accounts"}
	if d := cmp.Diff(want, m.Tables); d != "" {
		t.Errorf("short form (-want +got):\n%s", d)
	}

	m, err = parseManifest("grader.yaml", []byte(`run: ./server
tables:
  todos:
    table: app.tasks
    columns:
      created_at: inserted_at
      owner_id: user_id
  users: {columns: {password_hash: pw}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Tables["todos"]; got.Table != "app.tasks" || !cmp.Equal(got.Columns, map[string]string{"created_at": "inserted_at", "owner_id": "user_id"}) {
		t.Errorf("long form todos = %+v", got)
	}
	if got := m.Tables["users"]; got.Table != "" || got.Columns["password_hash"] != "pw" {
		t.Errorf("columns without a table = %+v", got)
	}
}

func TestManifestBasePathAndTablesErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"no leading slash", "run: ./s\nbasePath: api/v1\n", []string{`grader.yaml line 2: basePath "api/v1" does not start with /`}},
		{"trailing slash", "run: ./s\n\nbasePath: /api/\n", []string{`grader.yaml line 3: basePath "/api/" ends with /`}},
		{"query", "run: ./s\nbasePath: /api?v=1\n", []string{"line 2:", "has a query"}},
		{"root", "run: ./s\nbasePath: /\n", []string{"line 2:", "is the root"}},
		{"basePath a list", "run: ./s\nbasePath: [a]\n", []string{"line 2: basePath: expected a single value, got a list"}},
		{"unknown table", "run: ./s\ntables:\n  tasks: todos\n", []string{`grader.yaml line 3: tables: unknown table "tasks" (the grader looks for todos and users)`}},
		{"unknown column", "run: ./s\ntables:\n  todos:\n    table: tasks\n    columns:\n      creatd_at: inserted_at\n",
			[]string{`grader.yaml line 6: tables: todos.columns: unknown column "creatd_at"`, "created_at"}},
		{"bad column name", "run: ./s\ntables: {todos: {columns: {title: \"my title\"}}}\n", []string{"line 2:", `"my title" is not a column name`}},
		{"bad table name", "run: ./s\ntables:\n  todos: \"drop table\"\n", []string{"line 3:", `"drop table" is not a table name`}},
		{"unknown key in the long form", "run: ./s\ntables:\n  todos:\n    name: tasks\n", []string{`line 4: tables: todos: unknown key "name" (the keys are table and columns)`}},
		{"empty long form", "run: ./s\ntables:\n  todos: {}\n", []string{"line 3:", "name the table"}},
		{"tables a list", "run: ./s\ntables: [todos]\n", []string{"line 2: tables: expected a mapping"}},
		{"unknown url part", "run: ./s\nenv:\n  DB_HOST: ${DATABASE_URL.hostname}\n",
			[]string{`grader.yaml line 3: env DB_HOST: ${DATABASE_URL.hostname} takes no part "hostname"`, "host, port, user, password, database"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(project(t, map[string]string{"grader.yaml": c.yaml}))
			pe := projectError(t, err, "manifest")
			for _, w := range c.want {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message %q does not contain %q", pe.Message, w)
				}
			}
			if pe.Message != strings.ToLower(pe.Message[:1])+pe.Message[1:] || strings.Contains(pe.Message, "\n") {
				t.Errorf("message is not one lower-case line: %q", pe.Message)
			}
			if pe.Hint == "" {
				t.Errorf("no hint for %q", pe.Message)
			}
		})
	}
}

func TestServiceEnvURLParts(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL": "postgres://grader_r1:s%40cret@db.internal:6543/grader_r1?sslmode=disable",
		"REDIS_URL":    "redis://:rpass@127.0.0.1/7",
		"AMQP_URL":     "amqp://guest:guest@mq:5672/grader_vhost",
		"JWT_SECRET":   "not a url",
	}
	mapping := map[string]string{
		"PGHOST": "${DATABASE_URL.host}", "PGPORT": "${DATABASE_URL.port}", "PGUSER": "${DATABASE_URL.user}",
		"PGPASSWORD": "${DATABASE_URL.password}", "PGDATABASE": "${DATABASE_URL.database}",
		"REDIS_ADDR": "${REDIS_URL.host}:${REDIS_URL.port}", "REDIS_DB": "${REDIS_URL.database}",
		"REDIS_PASS": "${REDIS_URL.password}",
		"MQ_VHOST":   "${AMQP_URL.database}", "MQ_USER": "${AMQP_URL.user}",
		"BAD": "[${JWT_SECRET.host}]",
	}
	env, notes := serviceEnv(nil, vars, 8080, mapping)
	want := map[string]string{
		"PGHOST": "db.internal", "PGPORT": "6543", "PGUSER": "grader_r1", "PGPASSWORD": "s@cret", "PGDATABASE": "grader_r1",
		"REDIS_ADDR": "127.0.0.1:6379", "REDIS_DB": "7", "REDIS_PASS": "rpass",
		"MQ_VHOST": "grader_vhost", "MQ_USER": "guest", "BAD": "[]",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "BAD: ${JWT_SECRET.host} is empty: JWT_SECRET does not hold a URL") {
		t.Errorf("notes = %q", notes)
	}
}
