// Package postgres is the PostgreSQL backing service: its image and
// container, readiness, a database and a role per run, and the environment
// a learner's service receives (DATABASE_URL and libpq's PG* variables).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/service"
)

// DefaultURL is the standard local address used in external mode.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Port is the container port.
const Port = "5432/tcp"

// Service is PostgreSQL, as the registry lists it.
var Service service.Service = pg{}

type pg struct{}

func (pg) Name() grader.Service { return grader.Postgres }

func (pg) DefaultImage() string { return "postgres:16-alpine" }

func (pg) External() service.External {
	return service.External{
		DefaultURL: DefaultURL, URLEnv: "GRADER_POSTGRES_URL", URLFlag: "--postgres-url",
		Schemes: []string{"postgres", "postgresql"},
	}
}

// Container runs the official image's contract (POSTGRES_USER,
// POSTGRES_PASSWORD, POSTGRES_DB) with a fresh superuser password, enough
// connections for batch parallelism, and no durability (throw-away data; a
// clean Stop still keeps it for Start).
func (pg) Container() service.ContainerSpec {
	password := service.RandomHex(12)
	return service.ContainerSpec{
		Ports: []string{Port},
		Env:   map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "postgres"},
		Cmd: []string{"postgres", "-c", "max_connections=500", "-c", "fsync=off",
			"-c", "synchronous_commit=off", "-c", "full_page_writes=off"},
		ShmSize:      256 << 20,
		ReadyTimeout: 90 * time.Second,
		AdminURL: func(addr func(string) string) string {
			return fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", password, addr(Port))
		},
	}
}

// Probe connects to url and runs a query.
func (pg) Probe(ctx context.Context, rawURL string) error {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return fmt.Errorf("bad postgres url: %w", err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Env is DATABASE_URL and libpq's variables (read by node-postgres, lib/pq,
// pgx and psycopg by themselves): PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGDATABASE, and PGSSLMODE when the URL sets sslmode.
func (pg) Env(rawURL string) map[string]string {
	env := map[string]string{"DATABASE_URL": rawURL}
	p := service.Split(rawURL, "5432")
	if !p.OK {
		return env
	}
	env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"] = p.Host, p.Port, p.User, p.Path
	if p.HasPassword {
		env["PGPASSWORD"] = p.Password
	}
	if m := p.Query.Get("sslmode"); m != "" {
		env["PGSSLMODE"] = m
	}
	return env
}

// Doctor says the server's version and whether the user may create roles
// and databases.
func (pg) Doctor(ctx context.Context, srv service.Server) (string, error) {
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version string
	var ok bool
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), rolsuper OR (rolcreaterole AND rolcreatedb)
		FROM pg_roles WHERE rolname = current_user`).Scan(&version, &ok)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &service.EnvError{
			Message: fmt.Sprintf("PostgreSQL %s answers, but this user may not create roles and databases", version),
			Fix:     "give --postgres-url a superuser, or a user WITH CREATEROLE CREATEDB",
		}
	}
	return "PostgreSQL " + version + " answers; the user may create roles and databases", nil
}

// Open connects a small administrative pool and checks that its user may
// create roles and databases.
func (pg) Open(ctx context.Context, srv service.Server) (service.Instance, error) {
	cfg, err := pgxpool.ParseConfig(srv.URL)
	if err != nil {
		return nil, &service.EnvError{Message: "bad postgres url: " + service.OneLine(err), Fix: "give it as " + DefaultURL}
	}
	cfg.MaxConns = 4
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &service.EnvError{Message: "postgres: " + service.OneLine(err)}
	}
	var user string
	var ok bool
	err = pool.QueryRow(ctx, `SELECT current_user::text, rolsuper OR (rolcreaterole AND rolcreatedb)
		FROM pg_roles WHERE rolname = current_user`).Scan(&user, &ok)
	if err != nil {
		pool.Close()
		return nil, &service.EnvError{Message: fmt.Sprintf("postgres at %s: %s", service.HostPort(srv.URL), service.Friendly(err)),
			Fix: "check the URL and that the server accepts connections"}
	}
	if !ok {
		pool.Close()
		return nil, &service.EnvError{
			Message: fmt.Sprintf("postgres user %q may not create roles and databases, which the grader needs to give each run its own", user),
			Fix:     "give --postgres-url a superuser, or a user WITH CREATEROLE CREATEDB",
		}
	}
	if srv.Isolation.Untrusted && !srv.Isolation.AllowTrust {
		if err := refuseTrust(ctx, srv.URL); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if srv.Container != nil {
		// The grader's own server: the shared databases are nobody's to
		// connect to but the administrator's, so that a run's role sees
		// its own database alone.
		if _, err := pool.Exec(ctx, "REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC"); err != nil {
			pool.Close()
			return nil, &service.EnvError{Message: "postgres: cannot revoke CONNECT on the shared databases: " + service.OneLine(err)}
		}
	}
	return &instance{url: srv.URL, admin: pool, connLimit: srv.Isolation.Limit()}, nil
}

// refuseTrust returns an *EnvError when the server lets anybody in as any
// role without a password (pg_hba.conf "trust" for host connections): a
// submission could then connect as the administrator or another run's role
// and read or drop everything.
func refuseTrust(ctx context.Context, rawURL string) error {
	trusting, err := Trusts(ctx, rawURL)
	if err != nil {
		return &service.EnvError{Message: "postgres: could not tell whether the server trusts every connection: " + service.OneLine(err)}
	}
	if trusting {
		return &service.EnvError{
			Message: fmt.Sprintf("postgres at %s accepts any role without a password (trust authentication): a submission could connect as the administrator or as another submission's role", service.HostPort(rawURL)),
			Fix:     "configure md5 or scram-sha-256 for host connections in pg_hba.conf, or use --services docker; to grade trusted code anyway, pass --allow-trusting-servers",
		}
	}
	return nil
}

// Trusts reports whether the server at rawURL lets a role in without a
// password: it connects as a random role that does not exist, without one.
// A server that checks passwords asks for one (and then fails without
// saying whether the role exists); a trusting one goes straight to the
// role and says it does not exist.
func Trusts(ctx context.Context, rawURL string) (bool, error) {
	probe := "grader_trust_probe_" + service.RandomHex(4)
	cfg, err := pgx.ParseConfig(service.WithCredentials(rawURL, probe, "", "postgres"))
	if err != nil {
		return false, err
	}
	cfg.User, cfg.Password = probe, ""
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return true, nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 28000 invalid_authorization_specification: "role ... does not
		// exist" (trust), but also "no pg_hba.conf entry" and peer failures.
		return pe.Code == "28000" && strings.Contains(pe.Message, "does not exist"), nil
	}
	if strings.Contains(err.Error(), "does not exist") && strings.Contains(err.Error(), probe) {
		return true, nil
	}
	// A password was asked for (pgx fails before sending an empty one), or
	// another refusal: not trust.
	return false, nil
}

type instance struct {
	url       string
	admin     *pgxpool.Pool
	connLimit int
}

func (in *instance) Notes() []string { return nil }

// Leftovers are the grader_* databases and roles, one per scope name.
func (in *instance) Leftovers(ctx context.Context) ([]service.Leftover, error) {
	rows, err := in.admin.Query(ctx, `SELECT datname::text, 'database' FROM pg_database WHERE starts_with(datname, $1)
		UNION SELECT rolname::text, 'role' FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1, 2`, service.ScopePrefix)
	if err != nil {
		return nil, pgErr("list the grader's databases and roles", err)
	}
	kinds := map[string][]string{}
	var names []string
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			rows.Close()
			return nil, pgErr("list the grader's databases and roles", err)
		}
		if kinds[name] == nil {
			names = append(names, name)
		}
		kinds[name] = append(kinds[name], kind)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pgErr("list the grader's databases and roles", err)
	}
	var out []service.Leftover
	for _, name := range names {
		out = append(out, service.Leftover{Scope: name,
			What: fmt.Sprintf("postgres %s %s", strings.Join(kinds[name], " and "), name),
			Drop: func(ctx context.Context) error { return in.drop(ctx, name) }})
	}
	return out, nil
}

func (in *instance) Close() error {
	in.admin.Close()
	return nil
}

// Isolate creates a role with a random password and a connection limit, and
// a database owned by it that nobody else may connect to (superusers
// aside: CONNECT is revoked from PUBLIC), and connects the grader's handle
// as that role. The role may create nothing outside its database.
func (in *instance) Isolate(ctx context.Context, name string) (*service.Lease, error) {
	ident := pgx.Identifier{name}.Sanitize()
	password := service.RandomHex(16)
	limit := in.connLimit
	if limit <= 0 {
		limit = service.DefaultConnLimit
	}
	if _, err := in.admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT %d NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
		ident, password, limit)); err != nil {
		return nil, pgErr("create role "+name, err)
	}
	var pool *pgxpool.Pool
	var once sync.Once
	var relErr error
	release := func(ctx context.Context) error {
		once.Do(func() {
			if pool != nil {
				pool.Close()
			}
			relErr = in.drop(ctx, name)
		})
		return relErr
	}
	fail := func(err error) (*service.Lease, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		_ = release(rctx)
		return nil, err
	}
	for _, q := range []string{
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", ident, ident),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", ident),
	} {
		if _, err := in.admin.Exec(ctx, q); err != nil {
			return fail(pgErr("create database "+name, err))
		}
	}
	url := service.WithCredentials(in.url, name, password, name)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fail(fmt.Errorf("postgres url: %w", err))
	}
	cfg.MaxConns = int32(min(4, max(1, limit/4))) // the grader's own connections count against the limit
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fail(pgErr("connect to "+name, err))
	}
	if err := pool.Ping(ctx); err != nil {
		return fail(pgErr("connect to "+name+" as its role", err))
	}
	return &service.Lease{URL: url, Handle: pool, Release: release}, nil
}

// drop ends the role's connections and drops its database and the role.
func (in *instance) drop(ctx context.Context, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	_, _ = in.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE (datname = $1 OR usename = $1) AND pid <> pg_backend_pid()`, name)
	_, err := in.admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", ident))
	if isSQLState(err, "42601") { // before PostgreSQL 13: no FORCE
		_, err = in.admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s", ident))
	}
	if err != nil {
		return pgErr("drop database "+name, err)
	}
	_, err = in.admin.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", ident))
	if isSQLState(err, "2BP01") { // it owns objects elsewhere (e.g. in the maintenance database)
		_, _ = in.admin.Exec(ctx, fmt.Sprintf("DROP OWNED BY %s", ident))
		_, err = in.admin.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", ident))
	}
	if err != nil {
		return pgErr("drop role "+name, err)
	}
	return nil
}

func isSQLState(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func pgErr(what string, err error) error {
	return fmt.Errorf("postgres: %s: %s", what, strings.TrimPrefix(service.OneLine(err), "ERROR: "))
}
