package services

import (
	"context"
	"fmt"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

// redisDatabases is how many logical databases the grader's Redis has: one
// per concurrent run (db 0 holds the claims).
const redisDatabases = 1024

// redisDisabled are the commands the grader's Redis refuses, so that one
// submission cannot wipe, reconfigure or stop the server other runs share
// (DESIGN.md §6). The grader itself clears a database with SCAN + DEL.
var redisDisabled = []string{"FLUSHALL", "FLUSHDB", "CONFIG", "SWAPDB", "SHUTDOWN", "DEBUG"}

// serviceSpec is how one service's container is run and probed. Readiness
// is the grader's own probe (SQL ping, PING, AMQP dial), never an
// image-specific log line, so that any image honouring the official
// contract works (e.g. the Debian-based ones of scripts/build-images.sh).
type serviceSpec struct {
	svc          grader.Service
	image        string
	imageSource  string
	ports        []string // container ports, "5432/tcp"; the first is the service's
	env          map[string]string
	cmd          []string
	shmSize      int64
	readyTimeout time.Duration
	probe        func(ctx context.Context, d *dockerServers, c *svcContainer) error
}

func (d *dockerServers) spec(svc grader.Service, ref, source string) serviceSpec {
	sp := serviceSpec{svc: svc, image: ref, imageSource: source}
	switch svc {
	case grader.Postgres:
		sp.ports = []string{"5432/tcp"}
		sp.env = map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": d.pgPassword, "POSTGRES_DB": "postgres"}
		// Enough connections for batch parallelism; durability is not needed
		// for throw-away data (a clean Stop still keeps it).
		sp.cmd = []string{"postgres", "-c", "max_connections=500", "-c", "fsync=off",
			"-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
		sp.shmSize = 256 << 20
		sp.readyTimeout = 90 * time.Second
		sp.probe = func(ctx context.Context, d *dockerServers, c *svcContainer) error {
			return pingPostgres(ctx, fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", d.pgPassword, d.addr(c, "5432/tcp")))
		}
	case grader.Redis:
		sp.ports = []string{"6379/tcp"}
		sp.cmd = []string{"redis-server", "--databases", fmt.Sprint(redisDatabases),
			"--save", "", "--appendonly", "no", "--protected-mode", "no"}
		for _, c := range redisDisabled {
			sp.cmd = append(sp.cmd, "--rename-command", c, "")
		}
		sp.readyTimeout = 60 * time.Second
		sp.probe = func(ctx context.Context, d *dockerServers, c *svcContainer) error {
			return pingRedis(ctx, "redis://"+d.addr(c, "6379/tcp")+"/0")
		}
	case grader.RabbitMQ:
		sp.ports = []string{"5672/tcp", "15672/tcp"}
		sp.readyTimeout = 120 * time.Second
		sp.probe = func(ctx context.Context, d *dockerServers, c *svcContainer) error {
			return dialAMQP(ctx, "amqp://guest:guest@"+d.addr(c, "5672/tcp")+"/")
		}
	}
	return sp
}
