package services

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

// unavailable skips the test, or fails it in CI (CI=true), where every
// service the tests need must be there.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: this must run in CI)", msg)
	}
	t.Skip(msg)
}

// requireExternal needs the machine's own Postgres, Redis and RabbitMQ on
// their standard local ports (or GRADER_*_URL).
func requireExternal(t *testing.T) {
	t.Helper()
	o := Options{}.withDefaults()
	u := o.external()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for svc, url := range map[grader.Service]string{grader.Postgres: u.postgres, grader.Redis: u.redis, grader.RabbitMQ: u.amqp} {
		if err := probeExternal(ctx, svc, url); err != nil {
			unavailable(t, "%s at %s is not reachable: %v", svc, hostPort(url), err)
		}
	}
}

// requireDocker needs a Docker engine.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dockerVersion(ctx); err != nil {
		unavailable(t, "docker is not reachable (%v): start it with scripts/docker-up.sh", err)
	}
}

// testImages are the images docker-mode tests use: GRADER_*_IMAGE, else the
// images of scripts/build-images.sh when present, else the defaults.
func testImages(t *testing.T) map[grader.Service]string {
	t.Helper()
	ctx := context.Background()
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[grader.Service]string{}
	for _, svc := range serviceOrder {
		if ref := os.Getenv(imageEnv(svc)); ref != "" {
			out[svc] = ref
			continue
		}
		local := "grader/" + string(svc) + ":local"
		if _, err := cli.ImageInspect(ctx, local); err == nil {
			out[svc] = local
		}
	}
	return out
}

// logRecorder collects Logf lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *logRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}
