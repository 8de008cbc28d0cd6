package e2e

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// mgmtURL is the RabbitMQ management API the events runs isolate their
// vhosts with (GRADER_AMQP_MANAGEMENT_URL, else the local default).
func mgmtURL() string {
	if u := os.Getenv("GRADER_AMQP_MANAGEMENT_URL"); u != "" {
		return u
	}
	return "http://guest:guest@127.0.0.1:15672"
}

// needBroker skips (in CI: fails) when RabbitMQ and its management API
// are not reachable on the machine.
func needBroker(t *testing.T) {
	t.Helper()
	needLocalServices(t)
	for _, addr := range []string{"127.0.0.1:5672", "127.0.0.1:15672"} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if inCI() {
				t.Fatalf("CI=true but RabbitMQ is not reachable at %s: %v", addr, err)
			}
			t.Skipf("RabbitMQ (and its management API) not reachable at %s: %v", addr, err)
		}
		c.Close()
	}
}

func eventsRun(t *testing.T, dir string, extra ...string) result {
	args := append([]string{"check", dir, "--stage", "events", "--only", "--services", "external",
		"--amqp-management-url", mgmtURL(), "--format", "json", "--seed", "1"}, extra...)
	return runGrader(t, 4*time.Minute, args...)
}

// TestEventsReferenceConcurrentRuns: two external-mode runs of the
// reference at --stage events against the same broker both pass: each has
// its own vhost, so the fixed names never collide.
func TestEventsReferenceConcurrentRuns(t *testing.T) {
	needBroker(t)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		dir := copyFixture(t, "tasks-api")
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = eventsRun(t, dir)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || r.report == nil || !r.report.Passed {
			t.Errorf("run %d: exit %d\n%s\nstderr:\n%s", i, r.code, reportSummary(r), tail(r.stderr, 30))
		}
	}
}

// TestEventsDockerMode: the reference passes --stage events with the
// grader's own containers (the grader owns the broker).
func TestEventsDockerMode(t *testing.T) {
	needDocker(t)
	dir := copyFixture(t, "tasks-api")
	r := runGrader(t, 6*time.Minute, "check", dir, "--stage", "events", "--only", "--services", "docker", "--format", "json", "--seed", "2")
	if r.code != 0 || r.report == nil || !r.report.Passed {
		t.Errorf("exit %d\n%s\nstderr:\n%s", r.code, reportSummary(r), tail(r.stderr, 30))
	}
	assertNoContainersLeft(t)
}
