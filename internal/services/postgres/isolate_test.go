package postgres

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backend-grader/grader/internal/services/service"
	"github.com/backend-grader/grader/internal/services/servicetest"
)

// localURL is the machine's Postgres (GRADER_POSTGRES_URL, else the standard one).
func localURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GRADER_POSTGRES_URL")
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Service.Probe(ctx, u); err != nil {
		servicetest.Unavailable(t, "postgres at %s is not reachable: %v", service.HostPort(u), err)
	}
	return u
}

func isolate(t *testing.T, inst service.Instance, name string) *service.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := inst.Isolate(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Release(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return l
}

// Each run's role reaches only its own database, and holds at most its
// connection limit: one run taking every connection it can leaves the
// others theirs.
func TestRolePerRun(t *testing.T) {
	admin := localURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst, err := Service.Open(ctx, service.Server{URL: admin, Isolation: service.Isolation{ConnLimit: 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() }) // after the leases' releases
	suffix := service.RandomHex(3)
	a := isolate(t, inst, "grader_testa_"+suffix)
	b := isolate(t, inst, "grader_testb_"+suffix)

	pa, pb := service.Split(a.URL, "5432"), service.Split(b.URL, "5432")
	if pa.User == "postgres" || pa.User == pb.User || pa.Password == "" || pa.Password == pb.Password {
		t.Fatalf("scopes' credentials %s:%s and %s:%s: want a role and a password each, not the admin's", pa.User, pa.Password, pb.User, pb.Password)
	}

	// A's role on B's database.
	cross := service.WithCredentials(a.URL, pa.User, pa.Password, pb.Path)
	if conn, err := pgx.Connect(ctx, cross); err == nil {
		conn.Close(ctx)
		t.Fatal("run A's role connected to run B's database")
	} else if !isCode(err, "42501") {
		t.Fatalf("A's role on B's database: %v; want permission denied (42501)", err)
	}
	// Nor to the admin's database may it create anything of B's: it owns
	// only its own database.
	if conn, err := pgx.Connect(ctx, a.URL); err != nil {
		t.Fatal(err)
	} else {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{"grader_testc_" + suffix}.Sanitize())
		conn.Close(ctx)
		if err == nil {
			t.Fatal("a run's role created a database")
		}
	}

	// A takes every connection it can: it stops at its limit (the grader's
	// own handle holds some of them), and B still connects.
	var held []*pgx.Conn
	defer func() {
		for _, c := range held {
			c.Close(context.Background())
		}
	}()
	var limitErr error
	for i := 0; i < 100; i++ {
		c, err := pgx.Connect(ctx, a.URL)
		if err != nil {
			limitErr = err
			break
		}
		held = append(held, c)
	}
	if limitErr == nil {
		t.Fatalf("run A held 100 connections; want at most its limit of 20")
	}
	if !isCode(limitErr, "53300") || len(held) > 20 {
		t.Fatalf("after %d connections A got %v; want too_many_connections (53300) by 20", len(held), limitErr)
	}
	var one int
	if err := b.Handle.(*pgxpool.Pool).QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("run B after A reached its limit: %v", err)
	}
	if c, err := pgx.Connect(ctx, b.URL); err != nil {
		t.Fatalf("a new connection of run B after A reached its limit: %v", err)
	} else {
		c.Close(ctx)
	}
}

// This machine's Postgres trusts loopback; a batch of untrusted code
// refuses it unless told otherwise.
func TestTrustRefused(t *testing.T) {
	admin := localURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trusting, err := Trusts(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Service.Open(ctx, service.Server{URL: admin, Isolation: service.Isolation{Untrusted: true}})
	if !trusting {
		if err != nil {
			t.Fatalf("a server that checks passwords was refused: %v", err)
		}
		return
	}
	var ee *service.EnvError
	if !errors.As(err, &ee) || !strings.Contains(ee.Fix, "scram") || !strings.Contains(ee.Fix, "--services docker") || !strings.Contains(ee.Fix, "--allow-trusting-servers") {
		t.Fatalf("Open of a trusting server for untrusted code = %v; want an EnvError with the fix", err)
	}
	inst, err := Service.Open(ctx, service.Server{URL: admin, Isolation: service.Isolation{Untrusted: true, AllowTrust: true}})
	if err != nil {
		t.Fatalf("with AllowTrust: %v", err)
	}
	inst.Close()
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
