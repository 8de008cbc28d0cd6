package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// TestResilienceLeavesSharedServersRunning: the reference passes the
// resilience stage in external mode, and all the while another client of
// the machine's own Postgres and Redis is served: the grader's faults act
// on its proxy, never on a server other runs share.
func TestResilienceLeavesSharedServersRunning(t *testing.T) {
	needLocalServices(t)
	needBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu            sync.Mutex
		served        int
		failures      []string
		wg            sync.WaitGroup
		pgURL         = "postgres://postgres@127.0.0.1:5432/postgres?connect_timeout=2"
		redisAddr     = "127.0.0.1:6379"
		probeInterval = 100 * time.Millisecond
	)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DialTimeout: 2 * time.Second})
	defer rdb.Close()
	wg.Add(1)
	go func() { // another client, one query to each server every probeInterval
		defer wg.Done()
		for ctx.Err() == nil {
			qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
			conn, err := pgx.Connect(qctx, pgURL)
			if err == nil {
				var one int
				err = conn.QueryRow(qctx, "SELECT 1").Scan(&one)
				conn.Close(qctx)
			}
			rerr := rdb.Ping(qctx).Err()
			qcancel()
			mu.Lock()
			switch {
			case ctx.Err() != nil:
			case err != nil:
				failures = append(failures, "postgres: "+err.Error())
			case rerr != nil:
				failures = append(failures, "redis: "+rerr.Error())
			default:
				served++
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(probeInterval):
			}
		}
	}()

	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 6*time.Minute, "check", dir, "--stage", "resilience", "--only", "--services", "external",
		"--amqp-management-url", mgmtURL(), "--format", "json", "--seed", "3")
	cancel()
	wg.Wait()
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Errorf("the reference did not pass the resilience stage: exit %d\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	for id, st := range statuses(r.report) {
		if st == "skip" {
			t.Errorf("%s was skipped in external mode", id)
		}
	}
	if len(failures) > 0 {
		t.Errorf("another client of the machine's servers failed %d times during the run, first: %s", len(failures), failures[0])
	}
	if served < 10 {
		t.Errorf("the other client was served %d times; the probe did not run", served)
	}
	assertNothingLeft(t, dir)
}

// TestResilienceDockerMode: the reference passes the resilience stage with
// the grader's own containers.
func TestResilienceDockerMode(t *testing.T) {
	needDocker(t)
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 6*time.Minute, "check", dir, "--stage", "resilience", "--only", "--services", "docker", "--format", "json", "--seed", "4")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Errorf("exit %d\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	for id, st := range statuses(r.report) {
		if st == "skip" {
			t.Errorf("%s was skipped", id)
		}
	}
	assertNoContainersLeft(t)
}
