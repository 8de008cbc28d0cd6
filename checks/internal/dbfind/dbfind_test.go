package dbfind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testDB makes a database of its own on the local Postgres (trust auth),
// or skips without one (fails in CI).
func testDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no Postgres on 127.0.0.1:5432")
		}
		t.Skip("no Postgres on 127.0.0.1:5432")
	}
	c.Close()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("dbfind_test_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Skipf("cannot create a test database: %v", err)
	}
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/"+name+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	return pool
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

type nopService struct{}

func (nopService) URL() string                   { return "http://127.0.0.1:1" }
func (nopService) Restart(context.Context) error { return nil }
func (nopService) Logs(int) []string             { return nil }
func (nopService) Exited() error                 { return nil }
func (nopService) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, nil
}

const owner = "6f1c1e2a-5b7d-4c3e-9a8f-0d2b4c6e8a10"

// seed makes a project's own schema: todos in tasks(name, state,
// inserted_at, user_id), an outbox holding JSON copies, and the users.
func seed(t *testing.T, pool *pgxpool.Pool, at time.Time) {
	exec(t, pool, `CREATE TABLE tasks (id bigserial PRIMARY KEY, name text NOT NULL, description text NOT NULL DEFAULT '',
		state text NOT NULL, inserted_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, user_id uuid)`)
	exec(t, pool, `CREATE TABLE outbox (id serial PRIMARY KEY, payload jsonb, body text)`)
	exec(t, pool, `CREATE TABLE accounts (uid uuid PRIMARY KEY, mail text, pw text)`)
	exec(t, pool, `INSERT INTO tasks (name, description, state, inserted_at, updated_at, user_id) VALUES ('Buy milk 7', 'two litres', 'done', $1, $1, $2)`, at, owner)
	exec(t, pool, `INSERT INTO outbox (payload, body) VALUES ('{"title": "Buy milk 7"}', '{"title":"Buy milk 7"}')`)
	exec(t, pool, `INSERT INTO accounts VALUES ($1, 'Ann@Example.com', '$2a$10$abcdefghijklmnopqrstuv')`, owner)
}

func TestTodosFoundByTheirValues(t *testing.T) {
	pool := testDB(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	seed(t, pool, at)
	h := harness.New(harness.Options{Service: nopService{}, PG: pool}).ForCheck("x.y")
	probes := 0
	probe := func(context.Context) (Todo, error) {
		probes++
		return Todo{ID: "1", Title: "Buy milk 7", Description: "two litres", Status: "done",
			CreatedAt: at.Add(300 * time.Millisecond), UpdatedAt: at, OwnerID: owner}, nil
	}
	tab, err := Todos(context.Background(), h, probe)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "id", "title": "name", "description": "description", "status": "state",
		"created_at": "inserted_at", "updated_at": "updated_at", "owner_id": "user_id"}
	for logical, name := range want {
		if c, ok := tab.Column(logical); !ok || c.Name != name {
			t.Errorf("%s = %q (%v), want %q", logical, c.Name, ok, name)
		}
	}
	if tab.Shown != "tasks" || tab.Ident() != `"public"."tasks"` {
		t.Errorf("table = %s / %s", tab.Shown, tab.Ident())
	}
	t.Logf("found %s", tab.Describe())
	// Found once per run, whatever copy of h asks.
	if _, err := Todos(context.Background(), h.ForCheck("z.w"), probe); err != nil || probes != 1 {
		t.Errorf("second lookup: %v, probes = %d (want the run's table, no new probe)", err, probes)
	}

	users, err := Users(context.Background(), h, func(context.Context) (User, error) {
		return User{Email: "ann@example.com"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for logical, name := range map[string]string{"id": "uid", "email": "mail", "password_hash": "pw"} {
		if c, _ := users.Column(logical); c.Name != name {
			t.Errorf("users %s = %q, want %q", logical, c.Name, name)
		}
	}
}

func TestTodosNotFoundOrAmbiguous(t *testing.T) {
	pool := testDB(t)
	at := time.Now().UTC()
	seed(t, pool, at)
	ctx := context.Background()
	h := harness.New(harness.Options{Service: nopService{}, PG: pool})
	_, err := Todos(ctx, h.ForCheck("a.b"), func(context.Context) (Todo, error) {
		return Todo{ID: "9", Title: "kept in memory"}, nil
	})
	var nf *NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("a title in no table: %v, want a *NotFound", err)
	}
	if got := As(err, "persistence.create-is-row", false).Error(); got == "" {
		t.Error("blocked error without a message")
	}

	exec(t, pool, `CREATE TABLE todo_copies (title text)`)
	exec(t, pool, `INSERT INTO todo_copies VALUES ('Buy milk 7')`)
	probe := func(context.Context) (Todo, error) {
		return Todo{ID: "1", Title: "Buy milk 7", Description: "two litres", Status: "done", CreatedAt: at, UpdatedAt: at}, nil
	}
	if _, err := Todos(ctx, h.ForCheck("c.d"), probe); !errors.As(err, &nf) {
		t.Fatalf("the title in two tables: %v, want a *NotFound naming both", err)
	}
	// grader.yaml's tables: settles it.
	named := harness.New(harness.Options{Service: nopService{}, PG: pool, Tables: harness.Tables{
		"todos": {Table: "tasks", Columns: map[string]string{"created_at": "inserted_at"}},
	}})
	tab, err := Todos(ctx, named.ForCheck("e.f"), probe)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := tab.Column("created_at"); c.Name != "inserted_at" || tab.Shown != "tasks" {
		t.Errorf("named: %s, created_at = %s", tab.Shown, c.Name)
	}
}
