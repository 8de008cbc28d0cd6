package services

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/servicetest"
)

// unavailable skips the test, or fails it in CI (CI=true), where every
// service the tests need must be there (DESIGN.md §4). It is the only way a
// test of these packages skips (TestNoBareSkips).
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	servicetest.Unavailable(t, format, args...)
}

// requireExternal needs the machine's own Postgres, Redis and RabbitMQ on
// their standard local ports (or GRADER_*_URL).
func requireExternal(t *testing.T) {
	t.Helper()
	o := Options{}.withDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, svc := range registry {
		url, _ := o.url(svc)
		if err := svc.Probe(ctx, url); err != nil {
			unavailable(t, "%s at %s is not reachable: %v", svc.Name(), hostPort(url), err)
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
	for _, svc := range Names() {
		if ref := os.Getenv(ImageEnv(svc)); ref != "" {
			out[svc] = ref
			continue
		}
		if _, err := cli.ImageInspect(ctx, LocalImage(svc)); err == nil {
			out[svc] = LocalImage(svc)
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

// requireImages needs an image on this machine for every service (named by
// GRADER_*_IMAGE, or the local ones of scripts/build-images.sh): the
// default images cannot be pulled where no registry answers.
func requireImages(t *testing.T) map[grader.Service]string {
	t.Helper()
	images := testImages(t)
	cli, err := dockerClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range Names() {
		ref := images[svc]
		if ref == "" {
			ref, _ = (Options{Getenv: envOf(nil)}).withDefaults().image(svc)
			if _, err := cli.ImageInspect(context.Background(), ref); err != nil {
				unavailable(t, "no %s image on this machine (%s is not here either): build the local ones with scripts/build-images.sh", svc, ref)
			}
			images[svc] = ref
		}
	}
	return images
}
