package postgres

import (
	"maps"
	"testing"
)

func TestEnv(t *testing.T) {
	got := Service.Env("postgres://grader_run_abc:s3cr%40t@127.0.0.1:49153/grader_run_abc?sslmode=disable")
	want := map[string]string{
		"DATABASE_URL": "postgres://grader_run_abc:s3cr%40t@127.0.0.1:49153/grader_run_abc?sslmode=disable",
		"PGHOST":       "127.0.0.1", "PGPORT": "49153", "PGUSER": "grader_run_abc", "PGPASSWORD": "s3cr@t",
		"PGDATABASE": "grader_run_abc", "PGSSLMODE": "disable",
	}
	if !maps.Equal(got, want) {
		t.Errorf("Env = %v,\nwant %v", got, want)
	}
	// No port: libpq's default; no password, no sslmode: not set.
	got = Service.Env("postgres://app@postgres/app")
	if got["PGPORT"] != "5432" || got["PGHOST"] != "postgres" {
		t.Errorf("Env without a port = %v", got)
	}
	if _, ok := got["PGPASSWORD"]; ok {
		t.Errorf("PGPASSWORD set for a URL without one: %v", got)
	}
	if _, ok := got["PGSSLMODE"]; ok {
		t.Errorf("PGSSLMODE set for a URL without sslmode: %v", got)
	}
}

func TestContainerSecrets(t *testing.T) {
	a, b := Service.Container(), Service.Container()
	if a.Env["POSTGRES_PASSWORD"] == "" || a.Env["POSTGRES_PASSWORD"] == b.Env["POSTGRES_PASSWORD"] {
		t.Errorf("superuser passwords %q and %q: want a fresh one per container", a.Env["POSTGRES_PASSWORD"], b.Env["POSTGRES_PASSWORD"])
	}
	addr := func(port string) string { return "127.0.0.1:40000" }
	if got, want := a.AdminURL(addr), "postgres://postgres:"+a.Env["POSTGRES_PASSWORD"]+"@127.0.0.1:40000/postgres?sslmode=disable"; got != want {
		t.Errorf("AdminURL = %q, want %q", got, want)
	}
}
