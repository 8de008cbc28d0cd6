package services

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// isolatePostgres creates a role with a random password and a database
// owned by it that nobody else may connect to (superusers aside).
func (s *Servers) isolatePostgres(ctx context.Context, sc *Scope) error {
	name := sc.id
	ident := pgx.Identifier{name}.Sanitize()
	password := randomHex(16)
	if _, err := s.pgAdmin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", ident, password)); err != nil {
		return pgErr("create role "+name, err)
	}
	sc.pgName = name
	for _, q := range []string{
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", ident, ident),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", ident),
	} {
		if _, err := s.pgAdmin.Exec(ctx, q); err != nil {
			return pgErr("create database "+name, err)
		}
	}
	url := withCredentials(s.pgAdminURL, name, password, name)
	sc.Env["DATABASE_URL"] = url
	sc.NetEnv["DATABASE_URL"] = s.netURL(url, "postgres", "5432")
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres url: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return pgErr("connect to "+name, err)
	}
	sc.PG = pool
	if err := pool.Ping(ctx); err != nil {
		return pgErr("connect to "+name+" as its role", err)
	}
	return nil
}

// releasePostgres ends the scope's connections and drops its database and role.
func (s *Servers) releasePostgres(ctx context.Context, sc *Scope) error {
	if sc.PG != nil {
		sc.PG.Close()
	}
	if sc.pgName == "" || s.pgAdmin == nil {
		return nil
	}
	ident := pgx.Identifier{sc.pgName}.Sanitize()
	_, _ = s.pgAdmin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE (datname = $1 OR usename = $1) AND pid <> pg_backend_pid()`, sc.pgName)
	_, err := s.pgAdmin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", ident))
	if isSQLState(err, "42601") { // before PostgreSQL 13: no FORCE
		_, err = s.pgAdmin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s", ident))
	}
	if err != nil {
		return pgErr("drop database "+sc.pgName, err)
	}
	_, err = s.pgAdmin.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", ident))
	if isSQLState(err, "2BP01") { // it owns objects elsewhere (e.g. in the maintenance database)
		_, _ = s.pgAdmin.Exec(ctx, fmt.Sprintf("DROP OWNED BY %s", ident))
		_, err = s.pgAdmin.Exec(ctx, fmt.Sprintf("DROP ROLE IF EXISTS %s", ident))
	}
	if err != nil {
		return pgErr("drop role "+sc.pgName, err)
	}
	return nil
}

func isSQLState(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func pgErr(what string, err error) error {
	return fmt.Errorf("postgres: %s: %s", what, strings.TrimPrefix(oneLine(err), "ERROR: "))
}
