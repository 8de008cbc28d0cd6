package submission

import (
	"slices"
	"strings"
	"testing"
)

func TestServiceEnv(t *testing.T) {
	t.Setenv("GRADER_POSTGRES_URL", "postgres://grader-own")
	t.Setenv("DATABASE_URL", "postgres://inherited")
	t.Setenv("RATE_LIMIT_REQUESTS", "999")
	t.Setenv("JWT_SECRET", "inherited-secret")
	t.Setenv("PORT", "1")
	t.Setenv("SOME_TOOL_HOME", "/opt/tool")

	base := hostEnviron()
	for _, k := range []string{"GRADER_POSTGRES_URL", "DATABASE_URL", "RATE_LIMIT_REQUESTS", "JWT_SECRET", "PORT"} {
		if _, ok := base[k]; ok {
			t.Errorf("%s is inherited from the grader's environment", k)
		}
	}
	if base["SOME_TOOL_HOME"] != "/opt/tool" || base["PATH"] == "" {
		t.Errorf("PATH and other variables must be inherited: %v", base)
	}

	vars := map[string]string{"DATABASE_URL": "postgres://run", "REDIS_URL": "redis://run/3", "PORT": "9"}
	mapping := map[string]string{
		"DB_DSN":   "${DATABASE_URL}",
		"CACHE":    "cache=${REDIS_URL};db=${DATABASE_URL}",
		"LITERAL":  "$DATABASE_URL and ${not a ref}",
		"LISTEN":   ":${PORT}",
		"MISSING":  "x${AMQP_URL}y",
		"FROM_ENV": "${SOME_TOOL_HOME}/bin",
	}
	env, notes := serviceEnv(base, vars, 4321, mapping)
	want := map[string]string{
		"DATABASE_URL": "postgres://run", "REDIS_URL": "redis://run/3", "PORT": "4321",
		"DB_DSN": "postgres://run", "CACHE": "cache=redis://run/3;db=postgres://run",
		"LITERAL": "$DATABASE_URL and ${not a ref}", "LISTEN": ":4321", "MISSING": "xy",
		"FROM_ENV": "/opt/tool/bin",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["JWT_SECRET"]; ok {
		t.Error("JWT_SECRET from the grader's environment reached the service")
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "MISSING: ${AMQP_URL} is not set") {
		t.Errorf("notes = %q", notes)
	}

	// In a container nothing is inherited.
	env, _ = serviceEnv(nil, vars, 8080, nil)
	if len(env) != 3 || env["PORT"] != "8080" {
		t.Errorf("container env = %v", env)
	}
	lines := environ(env)
	if !slices.IsSorted(lines) || !slices.Contains(lines, "PORT=8080") {
		t.Errorf("environ = %q", lines)
	}
}

func TestExecScript(t *testing.T) {
	for in, want := range map[string]string{
		"./server":                 "exec ./server",
		"python3 main.py --port 1": "exec python3 main.py --port 1",
		"./server > log.txt":       "exec ./server > log.txt",
		"cd api && ./server":       "cd api && ./server",
		"MODE=prod ./server":       "MODE=prod ./server",
		"./migrate; ./server":      "./migrate; ./server",
		"exec ./server":            "exec ./server",
		"./server | tee log":       "./server | tee log",
	} {
		if got := execScript(in); got != want {
			t.Errorf("execScript(%q) = %q, want %q", in, got, want)
		}
	}
}
