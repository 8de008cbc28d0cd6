package submission

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Docker-mode tests need a Docker engine; they skip without one, except in
// CI (CI=true), where a missing engine is a failure. No registry is needed:
// the images are FROM scratch with a static binary built here.

func needDocker(t *testing.T) *client.Client {
	t.Helper()
	cli, err := dockerClient(context.Background())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker engine: %v", err)
		}
		t.Skipf("no Docker engine here: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var (
	staticOnce sync.Map // source dir -> *staticBin
)

type staticBin struct {
	once sync.Once
	path string
	err  error
}

// staticBinary builds the Go program in src (relative to this package) as a
// static binary, once per test binary.
func staticBinary(t *testing.T, src string) string {
	t.Helper()
	v, _ := staticOnce.LoadOrStore(src, &staticBin{})
	b := v.(*staticBin)
	b.once.Do(func() {
		b.path = filepath.Join(tmpRoot, "static-"+filepath.Base(src))
		cmd := exec.Command("go", "build", "-o", b.path, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = err
			t.Logf("%s", out)
		}
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", src, b.err)
	}
	return b.path
}

// dockerProject makes a docker: true project: the binary built from src,
// a Dockerfile FROM scratch and a grader.yaml with extra lines.
func dockerProject(t *testing.T, src, manifestExtra, dockerfile string) *Manifest {
	t.Helper()
	bin, err := os.ReadFile(staticBinary(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if dockerfile == "" {
		dockerfile = "FROM scratch\nCOPY server /server\nCMD [\"/server\"]\n"
	}
	dir := project(t, map[string]string{
		"grader.yaml":   "stage: http\ndocker: true\nstartupTimeout: 5s\n" + manifestExtra,
		"Dockerfile":    dockerfile,
		".dockerignore": "grader.yaml\n",
	})
	if err := os.WriteFile(filepath.Join(dir, "server"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveImage(context.Background(), m); err != nil {
			t.Error(err)
		}
	})
	return m
}

// testRun labels what these tests create: the e2e tests, which run at the
// same time under `go test ./...`, ignore run ids "test-…".
const testRun = "test-submission"

var testLabels = map[string]string{runLabel: testRun}

func containerGone(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	if _, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{}); err == nil {
		t.Errorf("container %.12s still exists", id)
	}
}

func TestDockerGoodService(t *testing.T) {
	cli := needDocker(t)
	t.Setenv("SUBMISSION_TEST_MARK", "host only")
	m := dockerProject(t, "testdata/good", "env:\n  GREETING: hello ${NAME}!\n", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The services' network, as internal/services makes it.
	netName := "grader-submission-test-" + filepath.Base(m.Dir)
	if _, err := cli.NetworkCreate(ctx, netName, client.NetworkCreateOptions{Labels: testLabels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.NetworkRemove(context.Background(), netName, client.NetworkRemoveOptions{}) })
	var out syncBuffer
	cfg := Config{Manifest: m, Output: &out, Env: map[string]string{"NAME": "docker", "DATABASE_URL": "postgres://db:5432/x"},
		Network: netName, Labels: testLabels}
	if err := Build(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	for name, want := range map[string]string{"PORT": "8080", "GREETING": "hello docker!", "DATABASE_URL": "postgres://db:5432/x"} {
		if _, got := get(t, p.URL()+"/env?name="+name); got != want {
			t.Errorf("container env %s = %q, want %q", name, got, want)
		}
	}
	if code, _ := get(t, p.URL()+"/env?name=SUBMISSION_TEST_MARK"); code != 404 {
		t.Errorf("the grader's own environment leaked into the container (%d)", code)
	}
	first := p.main.(*containerRunner).id
	ins, err := cli.ContainerInspect(ctx, first, client.ContainerInspectOptions{})
	if err != nil || ins.Container.Config.Labels[runLabel] != testRun {
		t.Errorf("container labels: %v, %v", err, ins.Container.Config.Labels)
	} else if _, ok := ins.Container.NetworkSettings.Networks[netName]; !ok {
		t.Errorf("container is not on %s: %v", netName, ins.Container.NetworkSettings.Networks)
	}
	if !strings.Contains(strings.Join(p.Logs(0), "\n"), "listening on :8080") || !strings.Contains(out.String(), "[your_service] ") {
		t.Errorf("logs %q / echo %q", p.Logs(0), out.String())
	}

	url := p.URL()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.URL() != url || p.main.(*containerRunner).id == first {
		t.Errorf("restart: URL %s -> %s, same container: %v", url, p.URL(), p.main.(*containerRunner).id == first)
	}
	containerGone(t, cli, first)
	if code, _ := get(t, url+"/health"); code != 200 {
		t.Errorf("GET /health after restart = %d", code)
	}
	inst, err := p.StartInstance(ctx, map[string]string{"NAME": "two"})
	if err != nil {
		t.Fatal(err)
	}
	if _, got := get(t, inst.URL()+"/env?name=GREETING"); got != "hello two!" {
		t.Errorf("instance GREETING = %q", got)
	}
	ids := []string{p.main.(*containerRunner).id, inst.(*Instance).r.(*containerRunner).id}
	if err := p.Stop(ctx); err != nil {
		t.Error(err)
	}
	for _, id := range ids {
		containerGone(t, cli, id)
	}
	if p.Exited() == nil || inst.Exited() == nil {
		t.Error("Exited() is nil after Stop")
	}
}

func TestDockerStartFailures(t *testing.T) {
	needDocker(t)
	cases := []struct {
		name, src, extra string
		want             string
	}{
		{"loopback only", "testdata/good", "env:\n  LISTEN_HOST: 127.0.0.1\n",
			`^your service listens on 127\.0\.0\.1:8080 inside its container, which cannot be reached from outside the container: listen on 0\.0\.0\.0 \(all interfaces\)$`},
		{"wrong port", "../../fixtures/broken/wrong-port", "",
			`^your service listens on port \d+, not on \$PORT \(=8080\): read the port from the PORT environment variable$`},
		{"exits", "testdata/good", "env:\n  EXIT_CODE: \"4\"\n",
			`^your service exited with code 4 before it listened on \$PORT \(PORT=8080\)$`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := dockerProject(t, c.src, c.extra, "")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := Build(ctx, Config{Manifest: m, Labels: testLabels}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := Start(ctx, Config{Manifest: m, Labels: testLabels})
			pe := projectError(t, err, "start")
			if !regexp.MustCompile(c.want).MatchString(pe.Message) {
				t.Errorf("message = %q\nlog: %s", pe.Message, pe.Log)
			}
			if d := time.Since(start); d > 9*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestDockerBuildFailure(t *testing.T) {
	needDocker(t)
	m := dockerProject(t, "testdata/good", "", "FROM scratch\nCOPY no-such-file /x\n")
	err := Build(context.Background(), Config{Manifest: m, Labels: testLabels})
	pe := projectError(t, err, "build")
	if !strings.HasPrefix(pe.Message, "the project did not build: `docker build .` ") || !strings.Contains(pe.Message+pe.Log, "no-such-file") {
		t.Errorf("message %q, log %q", pe.Message, pe.Log)
	}
}
