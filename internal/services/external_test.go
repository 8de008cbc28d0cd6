package services

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	redisgr "github.com/backend-grader/grader/internal/services/redis"
	"github.com/backend-grader/grader/internal/services/service"
)

var allServices = []grader.Service{grader.Postgres, grader.Redis, grader.RabbitMQ}

func startExternalAll(t *testing.T) *Servers {
	t.Helper()
	requireExternal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Mode: ModeExternal, RunID: "test-external"}, allServices)
	if err != nil {
		t.Fatalf("Start external: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// isolatePair isolates two scopes at once, from two goroutines.
func isolatePair(t *testing.T, s *Servers) (*Scope, *Scope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var scopes [2]*Scope
	var errs [2]error
	var wg sync.WaitGroup
	for i := range scopes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scopes[i], errs[i] = s.Isolate(ctx, "pair")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Isolate %d: %v", i, err)
		}
		sc := scopes[i]
		t.Cleanup(func() { _ = sc.Release(context.Background()) })
	}
	return scopes[0], scopes[1]
}

func TestExternalIsolation(t *testing.T) {
	s := startExternalAll(t)
	if s.Mode() != ModeExternal || s.Network() != "" {
		t.Fatalf("mode %q network %q, want external and no network", s.Mode(), s.Network())
	}
	a, b := isolatePair(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "AMQP_URL"} {
		if a.Env[k] == "" || b.Env[k] == "" {
			t.Fatalf("%s missing: a=%q b=%q", k, a.Env[k], b.Env[k])
		}
	}
	if a.Env["DATABASE_URL"] == b.Env["DATABASE_URL"] || a.Env["REDIS_URL"] == b.Env["REDIS_URL"] {
		t.Fatalf("two scopes share a database: %v and %v", a.Env, b.Env)
	}
	if !strings.Contains(a.NetEnv["DATABASE_URL"], "@host.docker.internal:") {
		t.Errorf("NetEnv DATABASE_URL = %q, want the host reached as host.docker.internal", a.NetEnv["DATABASE_URL"])
	}
	assertEnvPieces(t, a.Env, "127.0.0.1", "127.0.0.1")
	assertEnvPieces(t, a.NetEnv, "host.docker.internal", "host.docker.internal")
	pgName := a.Env["PGDATABASE"]

	// Postgres: a's table is invisible in b, b's role cannot even connect to a's database.
	if _, err := a.PG.Exec(ctx, "CREATE TABLE todos (id int primary key, title text); INSERT INTO todos VALUES (1, 'from a')"); err != nil {
		t.Fatalf("create table in scope a: %v", err)
	}
	var reg *string
	if err := b.PG.QueryRow(ctx, "SELECT to_regclass('todos')::text").Scan(&reg); err != nil || reg != nil {
		t.Errorf("scope b sees table todos (%v, %v)", reg, err)
	}
	cross := service.WithCredentials(a.Env["DATABASE_URL"], b.Env["PGUSER"], b.Env["PGPASSWORD"], a.Env["PGDATABASE"])
	if conn, err := pgx.Connect(ctx, cross); err == nil {
		conn.Close(ctx)
		t.Errorf("scope b's role connected to scope a's database")
	}
	// The learner's URL works as given.
	conn, err := pgx.Connect(ctx, a.Env["DATABASE_URL"])
	if err != nil {
		t.Fatalf("connect with DATABASE_URL: %v", err)
	}
	var title string
	if err := conn.QueryRow(ctx, "SELECT title FROM todos WHERE id = 1").Scan(&title); err != nil || title != "from a" {
		t.Errorf("row via DATABASE_URL = %q, %v", title, err)
	}
	conn.Close(ctx)

	// Redis: keys do not cross.
	if err := a.Redis.Set(ctx, "todo:1", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Redis.Exists(ctx, "todo:1").Result(); err != nil || n != 0 {
		t.Errorf("scope b sees scope a's key (exists=%d, %v)", n, err)
	}
	ropt, err := redis.ParseURL(a.Env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(ropt)
	if v, err := rc.Get(ctx, "todo:1").Result(); err != nil || v != "a" {
		t.Errorf("key via REDIS_URL = %q, %v", v, err)
	}
	rc.Close()

	// RabbitMQ without a management API: the default vhost, said in the notes.
	if !hasNote(a.Notes, "broker state is shared") {
		t.Errorf("notes %q do not say that broker state is shared", a.Notes)
	}
	if err := rabbitmq.Service.Probe(ctx, a.AMQPURL); err != nil {
		t.Errorf("dial AMQP_URL: %v", err)
	}
	if err := a.Faults.Pause(ctx, "redis"); !errors.Is(err, harness.ErrNoFaults) {
		t.Errorf("Faults.Pause in external mode = %v, want ErrNoFaults", err)
	}

	// Release drops the database and the role, and empties and frees the Redis db.
	ropt, err = redis.ParseURL(a.Env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	db := ropt.DB
	ropt.Username, ropt.Password = "", "" // the scope's user goes with it: look as the administrator
	if err := a.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if left := pgCount(t, s, "SELECT (SELECT count(*) FROM pg_database WHERE datname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $1)", pgName); left != 0 {
		t.Errorf("after Release, %d of database/role %s remain", left, pgName)
	}
	dbc := redis.NewClient(ropt)
	if n, err := dbc.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("after Release redis db %d holds %d keys (%v)", db, n, err)
	}
	dbc.Close()
	ropt.DB = 0
	meta := redis.NewClient(ropt)
	if n, err := meta.Exists(ctx, redisgr.ClaimPrefix+strconv.Itoa(db)).Result(); err != nil || n != 0 {
		t.Errorf("after Release the claim on redis db %d remains (%v)", db, err)
	}
	meta.Close()
	if err := a.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	// b is untouched by a's release.
	if err := b.PG.Ping(ctx); err != nil {
		t.Errorf("scope b after a's release: %v", err)
	}
}

// Several runs on the machine's Redis (16 databases) at once each get their own.
func TestExternalConcurrentRuns(t *testing.T) {
	requireExternal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const runs = 4
	dbs := make([]string, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Start(ctx, Options{Mode: ModeExternal, RunID: "test-concurrent"}, []grader.Service{grader.Redis, grader.Postgres})
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close(context.WithoutCancel(ctx))
			sc, err := s.Isolate(ctx, "concurrent")
			if err != nil {
				errs[i] = err
				return
			}
			dbs[i] = sc.Env["REDIS_URL"] + " " + sc.Env["DATABASE_URL"]
			// Hold the scope until every run has one.
			time.Sleep(300 * time.Millisecond)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range runs {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		for _, u := range strings.Fields(dbs[i]) {
			if seen[u] {
				t.Errorf("two concurrent runs got %s", u)
			}
			seen[u] = true
		}
	}
}

func TestExternalUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{Mode: ModeExternal, PostgresURL: "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"}, []grader.Service{grader.Postgres})
	var ee *EnvError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an *EnvError", err)
	}
	if !strings.Contains(ee.Message, "127.0.0.1:1") || !strings.Contains(ee.Fix, "--services docker") {
		t.Errorf("error %q does not name the address and the fix", ee.Error())
	}
}

func TestExternalDefaultAddressNote(t *testing.T) {
	requireExternal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Mode: ModeExternal, Getenv: envOf(nil)}, []grader.Service{grader.Redis})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if !hasNote(s.Notes(), "redis: the standard local address 127.0.0.1:6379") {
		t.Errorf("notes %q do not say the standard address was used", s.Notes())
	}
}

func TestDoctorExternal(t *testing.T) {
	requireExternal(t)
	var b strings.Builder
	ok := Doctor(context.Background(), Options{Mode: ModeExternal, Getenv: envOf(nil)}, &b)
	out := b.String()
	t.Log("\n" + out)
	if !ok {
		t.Fatalf("Doctor = false with the local services up:\n%s", out)
	}
	for _, want := range []string{"ok    postgres (external) at 127.0.0.1:5432", "ok    redis (external)", "logical databases", "every run shares the default vhost"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	ok = Doctor(context.Background(), Options{Mode: ModeExternal, RedisURL: "redis://127.0.0.1:1/0", Getenv: envOf(nil)}, &b)
	if ok || !strings.Contains(b.String(), "FAIL  redis (external) at 127.0.0.1:1") || !strings.Contains(b.String(), "fix: ") {
		t.Errorf("Doctor with a dead redis = %v:\n%s", ok, b.String())
	}
}

func TestAMQPDialRejectsBadVhost(t *testing.T) {
	requireExternal(t)
	// Sanity check of what the docker-mode test relies on: a vhost that does
	// not exist is refused by the broker.
	_, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/grader_no_such_vhost")
	if err == nil {
		t.Fatal("dial to a missing vhost succeeded")
	}
}

func hasNote(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// pgCount runs a count query on the run's Postgres as the administrator.
func pgCount(t *testing.T, s *Servers, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.admin[grader.Postgres])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertEnvPieces checks the conventional variables beside the URLs
// (DESIGN.md §2.2): they name the same server, credentials and database.
func assertEnvPieces(t *testing.T, env map[string]string, pgHost, redisHost string) {
	t.Helper()
	db, err := pgx.ParseConfig(env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PGHOST": pgHost, "PGPORT": strconv.Itoa(int(db.Port)), "PGUSER": db.User,
		"PGPASSWORD": db.Password, "PGDATABASE": db.Database,
	}
	ropt, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	want["REDIS_HOST"], want["REDIS_PORT"], _ = strings.Cut(ropt.Addr, ":")
	if want["REDIS_HOST"] != redisHost {
		t.Errorf("REDIS_URL %q: want host %s", env["REDIS_URL"], redisHost)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q (env %v)", k, env[k], v, env)
		}
	}
	if db.Host != pgHost || db.Password == "" || db.User == "postgres" {
		t.Errorf("DATABASE_URL %q: want host %s and the scope's own role with a password", env["DATABASE_URL"], pgHost)
	}
}

// With the machine's RabbitMQ management API (rabbitmq-plugins enable
// rabbitmq_management), external mode gives each scope a vhost of its own.
func TestExternalVhosts(t *testing.T) {
	requireExternal(t)
	const mgmt = "http://127.0.0.1:15672"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := envOf(map[string]string{"GRADER_AMQP_MANAGEMENT_URL": mgmt})
	var b strings.Builder
	if !Doctor(ctx, Options{Mode: ModeExternal, Getenv: env}, &b) || !strings.Contains(b.String(), "each run gets its own vhost") {
		unavailable(t, "the RabbitMQ management API at %s does not answer (rabbitmq-plugins enable rabbitmq_management):\n%s", mgmt, b.String())
	}
	s, err := Start(ctx, Options{Mode: ModeExternal, Getenv: env}, []grader.Service{grader.RabbitMQ})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	a, c := isolatePair(t, s)
	if vhostOf(a.AMQPURL) == "" || vhostOf(a.AMQPURL) == vhostOf(c.AMQPURL) || hasNote(a.Notes, "broker state is shared") {
		t.Fatalf("AMQP URLs %q and %q, notes %q: want one vhost each", a.AMQPURL, c.AMQPURL, a.Notes)
	}
	if a.Env["AMQP_URL"] != a.AMQPURL || !strings.Contains(a.NetEnv["AMQP_URL"], "@host.docker.internal:5672/"+vhostOf(a.AMQPURL)) {
		t.Errorf("Env AMQP_URL %q, NetEnv AMQP_URL %q", a.Env["AMQP_URL"], a.NetEnv["AMQP_URL"])
	}
	if err := rabbitmq.Service.Probe(ctx, a.AMQPURL); err != nil {
		t.Fatalf("dial the scope's vhost: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.Service.Probe(ctx, a.AMQPURL); err == nil {
		t.Error("the released vhost still accepts connections")
	}
}
