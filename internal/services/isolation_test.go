package services

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	goredis "github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/postgres"
	"github.com/backend-grader/grader/internal/services/service"
)

// adminCreds are the user names and passwords of the servers' own
// administrative URLs: none may reach a scope's environment.
func adminCreds(s *Servers) (users, passwords []string) {
	for _, raw := range s.admin {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			continue
		}
		users = append(users, u.User.Username())
		if p, ok := u.User.Password(); ok && p != "" {
			passwords = append(passwords, p)
		}
	}
	return users, passwords
}

// assertNoAdmin fails when an administrator's user or password is in an
// env value: as a URL's credentials, as a credential variable, or (a
// password) anywhere.
func assertNoAdmin(t *testing.T, s *Servers, sc *Scope) {
	t.Helper()
	users, passwords := adminCreds(s)
	if len(users) == 0 {
		t.Fatal("the servers have no administrative credentials to look for")
	}
	bad := func(v string) bool {
		return slices.Contains(users, v) || slices.Contains(passwords, v)
	}
	for _, env := range []map[string]string{sc.Env, sc.NetEnv} {
		for k, v := range env {
			if u, err := url.Parse(v); err == nil && u.User != nil {
				p, _ := u.User.Password()
				if bad(u.User.Username()) || bad(p) {
					t.Errorf("%s=%s carries an administrator's credentials", k, v)
				}
			}
			if (k == "PGUSER" || strings.HasSuffix(k, "PASSWORD")) && bad(v) {
				t.Errorf("%s=%q is an administrator's", k, v)
			}
			for _, p := range passwords {
				if len(p) >= 8 && strings.Contains(v, p) {
					t.Errorf("%s=%q carries an administrator's password", k, v)
				}
			}
		}
	}
}

// A batch in docker mode: each scope gets its own password-protected Redis
// server, its own Postgres role and RabbitMQ user, and nothing of the
// administrators' reaches its environment.
func TestDockerBatchIsolation(t *testing.T) {
	requireDocker(t)
	runID := "test-" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Mode: ModeDocker, Images: testImages(t), RunID: runID,
		Untrusted: true, ServerPerScope: true}, allServices)
	t.Cleanup(func() {
		if s != nil {
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		assertNothingLabelled(t, runID)
	})
	if err != nil {
		t.Fatalf("Start docker for untrusted code: %v (the grader's own Postgres must not trust host connections)", err)
	}
	a, err := s.Isolate(ctx, runID+"s1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Isolate(ctx, runID+"s2")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []*Scope{a, b} {
		assertNoAdmin(t, s, sc)
	}
	// Redis: a server each, with a password, reached by its own host name
	// from the network.
	if a.Env["REDIS_PORT"] == b.Env["REDIS_PORT"] || a.Env["REDIS_PASSWORD"] == "" {
		t.Fatalf("REDIS_URL %s and %s: want a server and a password each", redactURL(a.Env["REDIS_URL"]), redactURL(b.Env["REDIS_URL"]))
	}
	if h := a.NetEnv["REDIS_HOST"]; h == "redis" || h == b.NetEnv["REDIS_HOST"] {
		t.Errorf("NetEnv REDIS_HOST = %q (b: %q): want the scope's own server", h, b.NetEnv["REDIS_HOST"])
	}
	if err := a.Redis.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Redis.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("run B sees run A's key (%d, %v)", n, err)
	}
	opt, _ := goredis.ParseURL(a.Env["REDIS_URL"])
	opt.Password, opt.MaxRetries = "", -1
	anon := goredis.NewClient(opt)
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("run A's Redis without its password: %v; want NOAUTH", err)
	}
	anon.Close()
	rimg, _ := (Options{Images: testImages(t)}).withDefaults().image(grader.Redis)
	if out := runOnNetwork(t, s, rimg, nil, "redis-cli", "--no-auth-warning", "-u", a.NetEnv["REDIS_URL"], "GET", "k"); strings.TrimSpace(out) != "a" {
		t.Errorf("redis-cli on the network with run A's NetEnv printed %q, want %q", out, "a")
	}
	// Postgres: A's role cannot reach B's database.
	cross := service.WithCredentials(a.Env["DATABASE_URL"], a.Env["PGUSER"], a.Env["PGPASSWORD"], b.Env["PGDATABASE"])
	if conn, err := pgx.Connect(ctx, cross); err == nil {
		conn.Close(ctx)
		t.Error("run A's role connected to run B's database")
	}
	if trusting, err := postgres.Trusts(ctx, s.admin[grader.Postgres]); err != nil || trusting {
		t.Errorf("the grader's own Postgres trusts host connections (%v, %v)", trusting, err)
	}
	// RabbitMQ: a user each.
	if ua, ub := service.Split(a.AMQPURL, "5672").User, service.Split(b.AMQPURL, "5672").User; ua == "guest" || ua == ub {
		t.Errorf("AMQP users %q and %q: want one each, not guest", ua, ub)
	}
	// Release removes the scope's Redis server.
	port := a.Env["REDIS_PORT"]
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	d := s.docker
	ctrs, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", "io.grader.scope")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs.Items {
		if c.Labels["io.grader.scope"] == a.id {
			t.Errorf("run A's Redis container %v (port %s) remains after Release", c.Names, port)
		}
	}
}

// External mode, for a batch: each scope's Redis URL carries a user of its
// own, and no scope's environment carries an administrator's credentials.
func TestExternalBatchCredentials(t *testing.T) {
	requireExternal(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Mode: ModeExternal, RunID: "test-creds-" + randomHex(3), Untrusted: true, AllowTrustingPostgres: true,
		AMQPManagementURL: "http://127.0.0.1:15672"}, allServices)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	sc, err := s.Isolate(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	assertNoAdmin(t, s, sc)
	if !strings.HasPrefix(service.Split(sc.Env["REDIS_URL"], "6379").User, "grader_") {
		t.Errorf("REDIS_URL %s: want the scope's own user", redactURL(sc.Env["REDIS_URL"]))
	}
	found := false
	for _, n := range sc.Notes {
		found = found || strings.Contains(n, "SELECT")
	}
	if !found {
		t.Errorf("notes %q do not say what a shared Redis cannot isolate", sc.Notes)
	}
	// Without the flag, this machine's trusting Postgres is refused.
	if trusting, _ := postgres.Trusts(ctx, s.admin[grader.Postgres]); trusting {
		_, err := Start(ctx, Options{Mode: ModeExternal, Untrusted: true, AMQPManagementURL: "http://127.0.0.1:15672"}, allServices)
		if err == nil || !strings.Contains(err.Error(), "--allow-trusting-servers") {
			t.Errorf("Start for untrusted code on a trusting Postgres = %v", err)
		}
	}
}
