package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/postgres"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	"github.com/backend-grader/grader/internal/services/service"
)

// startDocker starts the services in docker mode and registers a cleanup
// that closes them and then verifies nothing labelled with the run remains.
func startDocker(t *testing.T, need []grader.Service) (*Servers, string) {
	t.Helper()
	requireDocker(t)
	runID := "test-" + randomHex(4)
	rec := &logRecorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	s, err := Start(ctx, Options{Mode: ModeDocker, Images: testImages(t), RunID: runID, Logf: rec.logf}, need)
	t.Cleanup(func() {
		if s != nil {
			t0 := time.Now()
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
			t.Logf("Close took %s", time.Since(t0).Round(time.Millisecond))
		}
		assertNothingLabelled(t, runID)
	})
	if err != nil {
		t.Fatalf("Start docker: %v", err)
	}
	t.Logf("docker start of %v took %s: %s", need, time.Since(t0).Round(time.Millisecond), strings.Join(rec.all(), " | "))
	return s, runID
}

// assertNothingLabelled fails when a container or network of the run remains.
func assertNothingLabelled(t *testing.T, runID string) {
	t.Helper()
	cli, err := dockerClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := client.Filters{}.Add("label", LabelRun+"="+runID)
	ctrs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs.Items {
		t.Errorf("container %v (%s) of run %s remains", c.Names, c.State, runID)
	}
	nets, err := cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets.Items {
		t.Errorf("network %s of run %s remains", n.Name, runID)
	}
}

// vhostOf is the vhost of an AMQP URL ("" for the default one).
func vhostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// noManagement is a broker container whose management API cannot be reached,
// as with an image without the plugin.
type noManagement struct{ *svcContainer }

func (n noManagement) Addr(port string) string {
	if port == rabbitmq.ManagementPort {
		return "127.0.0.1:1"
	}
	return n.svcContainer.Addr(port)
}

func TestDockerServices(t *testing.T) {
	s, runID := startDocker(t, allServices)
	if s.Mode() != ModeDocker || s.Network() != "grader-"+runID {
		t.Fatalf("mode %q network %q", s.Mode(), s.Network())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	a, b := isolatePair(t, s)
	t.Logf("two concurrent Isolate calls took %s", time.Since(t0).Round(time.Millisecond))

	t.Run("environment", func(t *testing.T) {
		pg, err := pgx.ParseConfig(a.Env["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		assertEnvPieces(t, a.Env, pg.Host, pg.Host)
	})

	t.Run("isolation", func(t *testing.T) {
		if _, err := a.PG.Exec(ctx, "CREATE TABLE todos (id int primary key, title text); INSERT INTO todos VALUES (1, 'from a')"); err != nil {
			t.Fatalf("create table in scope a: %v", err)
		}
		var reg *string
		if err := b.PG.QueryRow(ctx, "SELECT to_regclass('todos')::text").Scan(&reg); err != nil || reg != nil {
			t.Errorf("scope b sees table todos (%v, %v)", reg, err)
		}
		if err := a.Redis.Set(ctx, "todo:1", "a", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := b.Redis.Exists(ctx, "todo:1").Result(); err != nil || n != 0 {
			t.Errorf("scope b sees scope a's key (%d, %v)", n, err)
		}
		if a.AMQPURL == b.AMQPURL || vhostOf(a.AMQPURL) == "" || vhostOf(a.AMQPURL) == vhostOf(b.AMQPURL) {
			t.Fatalf("AMQP URLs %q and %q: want one vhost each", a.AMQPURL, b.AMQPURL)
		}
		ca, err := amqp.Dial(a.Env["AMQP_URL"])
		if err != nil {
			t.Fatalf("dial scope a's vhost: %v", err)
		}
		defer ca.Close()
		ch, _ := ca.Channel()
		if _, err := ch.QueueDeclare("tasks", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		cb, err := amqp.Dial(b.Env["AMQP_URL"])
		if err != nil {
			t.Fatalf("dial scope b's vhost: %v", err)
		}
		defer cb.Close()
		chb, _ := cb.Channel()
		if _, err := chb.QueueDeclarePassive("tasks", true, false, false, false, nil); err == nil {
			t.Error("scope b sees scope a's queue")
		}
		if hasNote(a.Notes, "broker state is shared") {
			t.Errorf("docker mode notes say broker state is shared: %q", a.Notes)
		}
	})

	t.Run("server settings", func(t *testing.T) {
		for _, cmd := range []string{"FLUSHALL", "FLUSHDB", "CONFIG"} {
			err := a.Redis.Do(ctx, cmd).Err()
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown command") {
				t.Errorf("redis %s = %v, want it refused", cmd, err)
			}
		}
		var mc string
		if err := a.PG.QueryRow(ctx, "SHOW max_connections").Scan(&mc); err != nil || mc != "500" {
			t.Errorf("max_connections = %q, %v; want 500", mc, err)
		}
	})

	t.Run("container network", func(t *testing.T) {
		if want := "@postgres:5432/"; !strings.Contains(a.NetEnv["DATABASE_URL"], want) {
			t.Fatalf("NetEnv DATABASE_URL = %q, want host postgres:5432", a.NetEnv["DATABASE_URL"])
		}
		assertEnvPieces(t, a.NetEnv, "postgres", "redis")
		if a.NetEnv["PGPORT"] != "5432" || a.NetEnv["REDIS_PORT"] != "6379" {
			t.Errorf("NetEnv PGPORT %q REDIS_PORT %q: want the container ports", a.NetEnv["PGPORT"], a.NetEnv["REDIS_PORT"])
		}
		img, _ := (Options{Images: testImages(t)}).withDefaults().image(grader.Postgres)
		out := runOnNetwork(t, s, img, nil, "psql", a.NetEnv["DATABASE_URL"], "-Atc", "SELECT title FROM todos WHERE id = 1")
		if strings.TrimSpace(out) != "from a" {
			t.Errorf("psql from a container on the network printed %q, want %q", out, "from a")
		}
		// libpq's variables alone reach the same database.
		pgVars := map[string]string{}
		for _, k := range []string{"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"} {
			pgVars[k] = a.NetEnv[k]
		}
		out = runOnNetwork(t, s, img, pgVars, "psql", "-Atc", "SELECT title FROM todos WHERE id = 1")
		if strings.TrimSpace(out) != "from a" {
			t.Errorf("psql with only PG* variables printed %q, want %q", out, "from a")
		}
		rimg, _ := (Options{Images: testImages(t)}).withDefaults().image(grader.Redis)
		out = runOnNetwork(t, s, rimg, nil, "redis-cli", "--no-auth-warning", "-u", a.NetEnv["REDIS_URL"], "GET", "todo:1")
		if strings.TrimSpace(out) != "a" {
			t.Errorf("redis-cli from a container on the network printed %q, want %q", out, "a")
		}
	})

	t.Run("faults", func(t *testing.T) {
		t0 := time.Now()
		if err := a.Faults.Pause(ctx, "redis"); err != nil {
			t.Fatal(err)
		}
		t.Logf("redis: pause %s", time.Since(t0).Round(time.Millisecond))
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err := a.Redis.Ping(pctx).Err()
		pcancel()
		if err == nil {
			t.Error("redis answered while paused")
		}
		paused := time.Since(t0)
		if err := a.Faults.Unpause(ctx, "redis"); err != nil {
			t.Fatal(err)
		}
		unpaused := time.Since(t0)
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			t.Errorf("redis after unpause: %v", err)
		}
		t.Logf("redis: pause + 1s probe %s, unpause %s, ping %s", paused.Round(time.Millisecond),
			(unpaused - paused).Round(time.Millisecond), (time.Since(t0) - unpaused).Round(time.Millisecond))

		t0 = time.Now()
		if err := a.Faults.Stop(ctx, "postgres"); err != nil {
			t.Fatal(err)
		}
		pctx, pcancel = context.WithTimeout(ctx, 2*time.Second)
		err = a.PG.Ping(pctx)
		pcancel()
		if err == nil {
			t.Error("postgres answered while stopped")
		}
		stopped := time.Since(t0)
		if err := a.Faults.Start(ctx, "postgres"); err != nil {
			t.Fatal(err)
		}
		t.Logf("stop postgres took %s, start again (until it answers) %s", stopped.Round(time.Millisecond), (time.Since(t0) - stopped).Round(time.Millisecond))
		// Same URL as before: the data is there and the learner's URL still works.
		if err := postgres.Service.Probe(ctx, a.Env["DATABASE_URL"]); err != nil {
			t.Errorf("DATABASE_URL after a restart of postgres: %v", err)
		}
		var title string
		if err := a.PG.QueryRow(ctx, "SELECT title FROM todos WHERE id = 1").Scan(&title); err != nil || title != "from a" {
			t.Errorf("row after a restart of postgres = %q, %v", title, err)
		}
		t0 = time.Now()
		if err := a.Faults.Stop(ctx, "rabbitmq"); err != nil {
			t.Fatal(err)
		}
		if err := rabbitmq.Service.Probe(ctx, a.AMQPURL); err == nil {
			t.Error("rabbitmq accepted a connection while stopped")
		}
		if err := a.Faults.Start(ctx, "rabbitmq"); err != nil {
			t.Fatal(err)
		}
		if err := rabbitmq.Service.Probe(ctx, a.Env["AMQP_URL"]); err != nil {
			t.Errorf("the scope's vhost after a restart of rabbitmq: %v", err)
		}
		t.Logf("stop + start rabbitmq took %s", time.Since(t0).Round(time.Millisecond))
		// What a scope leaves broken, its Release repairs.
		c, err := s.Isolate(ctx, "careless")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Faults.Pause(ctx, "redis"); err != nil {
			t.Fatal(err)
		}
		if err := c.Release(ctx); err != nil {
			t.Fatalf("Release of a scope that left redis paused: %v", err)
		}
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			t.Errorf("redis after the careless scope's release: %v", err)
		}
		if err := a.Faults.Stop(ctx, "kafka"); err == nil || !strings.Contains(err.Error(), "no kafka container") {
			t.Errorf("Faults.Stop(kafka) = %v, want an error naming it", err)
		}
	})

	t.Run("external with management API", func(t *testing.T) {
		// The broker of this run stands in for someone's RabbitMQ with the
		// management plugin: external mode then gives each scope a vhost.
		c := s.docker.container(grader.RabbitMQ)
		mgmt := "http://" + c.Addr(rabbitmq.ManagementPort)
		ext, err := Start(ctx, Options{Mode: ModeExternal, AMQPURL: s.admin[grader.RabbitMQ], AMQPManagementURL: mgmt, Getenv: envOf(nil)}, []grader.Service{grader.RabbitMQ})
		if err != nil {
			t.Fatal(err)
		}
		defer ext.Close(ctx)
		sc, err := ext.Isolate(ctx, "mgmt")
		if err != nil {
			t.Fatal(err)
		}
		if vhostOf(sc.AMQPURL) == "" || hasNote(sc.Notes, "broker state is shared") {
			t.Fatalf("external scope with a management API: AMQP_URL %q, notes %q", sc.AMQPURL, sc.Notes)
		}
		if err := rabbitmq.Service.Probe(ctx, sc.AMQPURL); err != nil {
			t.Fatalf("dial the scope's vhost: %v", err)
		}
		if err := sc.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rabbitmq.Service.Probe(ctx, sc.AMQPURL); err == nil {
			t.Error("the released vhost still accepts connections")
		}
	})

	t.Run("vhosts through rabbitmqctl", func(t *testing.T) {
		// Images without the management plugin: vhosts through docker exec.
		if rabbitmq.ManagementURL(s.insts[grader.RabbitMQ]) == "" {
			t.Fatal("the run's broker has no management API: the default and local images have one")
		}
		c := s.docker.container(grader.RabbitMQ)
		inst, err := rabbitmq.Service.Open(ctx, service.Server{URL: s.admin[grader.RabbitMQ], Container: noManagement{c}})
		if err != nil {
			t.Fatal(err)
		}
		if m := rabbitmq.ManagementURL(inst); m != "" {
			t.Fatalf("the instance uses the management API %s that does not answer", m)
		}
		t0 := time.Now()
		lease, err := inst.Isolate(ctx, scopeName(runID, "exec"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Isolate with rabbitmqctl took %s", time.Since(t0).Round(time.Millisecond))
		if vhostOf(lease.URL) == "" {
			t.Fatalf("no vhost in %q", lease.URL)
		}
		if err := rabbitmq.Service.Probe(ctx, lease.URL); err != nil {
			t.Fatalf("dial the scope's vhost: %v", err)
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rabbitmq.Service.Probe(ctx, lease.URL); err == nil {
			t.Error("the released vhost still accepts connections")
		}
	})

	t.Run("labels", func(t *testing.T) {
		// Something else started for the run with its Labels (a learner's
		// container) is left running here: Close must remove it (the
		// cleanup of startDocker checks that nothing labelled remains).
		img, _ := (Options{Images: testImages(t)}).withDefaults().image(grader.Redis)
		c, err := testcontainers.Run(ctx, img, testcontainers.WithCmd("redis-server"), testcontainers.WithLabels(s.Labels()))
		if err != nil {
			if c != nil {
				_ = c.Terminate(context.Background())
			}
			t.Fatal(err)
		}
		if got := s.Labels()[LabelRun]; got != runID {
			t.Errorf("Labels()[%s] = %q, want the run id %q", LabelRun, got, runID)
		}
	})

	t.Run("release", func(t *testing.T) {
		url, name := a.AMQPURL, a.Env["PGDATABASE"]
		t0 := time.Now()
		if err := a.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		t.Logf("Release took %s", time.Since(t0).Round(time.Millisecond))
		if err := rabbitmq.Service.Probe(ctx, url); err == nil {
			t.Error("the released scope's vhost still accepts connections")
		}
		if n := pgCount(t, s, "SELECT count(*) FROM pg_database WHERE datname = $1", name); n != 0 {
			t.Errorf("database %s remains after Release (%d)", name, n)
		}
	})
}

// runOnNetwork runs a one-off container on the run's network and returns its output.
func runOnNetwork(t *testing.T, s *Servers, image string, env map[string]string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(env),
		testcontainers.WithLabels(s.Labels()),
		tcnetwork.WithNetworkName(nil, s.Network()),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(30*time.Second)),
	)
	if c != nil {
		defer func() { _ = c.Terminate(context.Background()) }()
	}
	if err != nil {
		t.Fatalf("run %v: %v", cmd, err)
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestDockerMissingImage(t *testing.T) {
	requireDocker(t)
	runID := "test-" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	images := testImages(t)
	images[grader.Postgres] = "grader/no-such-image:never"
	s, err := Start(ctx, Options{Mode: ModeDocker, Images: images, RunID: runID}, []grader.Service{grader.Postgres, grader.Redis})
	if s != nil {
		_ = s.Close(ctx)
		t.Fatal("Start returned servers with a missing image")
	}
	var ee *EnvError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an *EnvError", err)
	}
	if !strings.Contains(ee.Message, "grader/no-such-image:never") || !strings.Contains(ee.Fix, "scripts/build-images.sh") {
		t.Errorf("error %q does not name the image and the recipe", ee.Error())
	}
	// The redis container that did start is gone too.
	assertNothingLabelled(t, runID)
}

func TestCleanLabel(t *testing.T) {
	requireDocker(t)
	ctx := context.Background()
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runID := "test-clean-" + randomHex(4)
	if _, err := cli.NetworkCreate(ctx, "grader-"+runID, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{LabelRun: runID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "grader-" + runID, Labels: map[string]string{LabelRun: runID}}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cleanLabel(ctx, cli, &b, LabelRun+"="+runID); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"removed network grader-" + runID, "removed volume grader-" + runID} {
		if !strings.Contains(out, want) {
			t.Errorf("clean output lacks %q:\n%s", want, out)
		}
	}
	assertNothingLabelled(t, runID)
	b.Reset()
	if err := cleanLabel(ctx, cli, &b, LabelRun+"="+runID); err != nil || !strings.Contains(b.String(), "nothing to clean") {
		t.Errorf("second clean = %v, %q; want nothing to clean", err, b.String())
	}
}

func TestAutoChoosesDocker(t *testing.T) {
	requireDocker(t)
	m, err := resolveMode(context.Background(), Options{Mode: ModeAuto, Getenv: envOf(nil)}.withDefaults())
	if err != nil || m != ModeDocker {
		t.Fatalf("auto with Docker and no URLs = %q, %v; want docker", m, err)
	}
}

func TestDoctorDocker(t *testing.T) {
	requireDocker(t)
	images := requireImages(t)
	var b strings.Builder
	ok := Doctor(context.Background(), Options{Mode: ModeDocker, Images: images, Getenv: envOf(nil)}, &b)
	t.Log("\n" + b.String())
	if !ok {
		t.Errorf("Doctor = false with Docker and an image for every service:\n%s", b.String())
	}
	for _, svc := range Names() {
		if want := "ok    image " + string(svc) + ": " + images[svc] + " (--image) is on this machine"; !strings.Contains(b.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, b.String())
		}
	}
	// Nothing named: the default images, else (no registry) the local ones,
	// as a run would use them.
	b.Reset()
	if !Doctor(context.Background(), Options{Mode: ModeDocker, Getenv: envOf(nil)}, &b) {
		t.Errorf("Doctor with the default images = false although a run would pull them or use the local ones:\n%s", b.String())
	}
	for _, svc := range Names() {
		if images[svc] == LocalImage(svc) && strings.Contains(b.String(), "image "+string(svc)+": "+DefaultImages[svc]+" (default) is not here") {
			t.Errorf("doctor says %s's default image is missing although %s is here:\n%s", svc, LocalImage(svc), b.String())
		}
	}
	// An image that is not here, from a registry that cannot resolve: a FAIL with the recipe.
	b.Reset()
	images = map[grader.Service]string{grader.Postgres: "registry.invalid/grader/postgres:none"}
	ok = Doctor(context.Background(), Options{Mode: ModeDocker, Images: images, Getenv: envOf(nil)}, &b)
	if ok || !strings.Contains(b.String(), "FAIL  image postgres: registry.invalid/grader/postgres:none") || !strings.Contains(b.String(), "scripts/build-images.sh") {
		t.Errorf("Doctor with an unreachable image = %v:\n%s", ok, b.String())
	}
}

// An interrupted Start leaves nothing behind.
func TestDockerStartInterrupted(t *testing.T) {
	requireDocker(t)
	images := requireImages(t)
	runID := "test-" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Interrupt once the broker's container runs: RabbitMQ takes seconds to
	// answer, so Start is then waiting for it, with containers to remove.
	var once sync.Once
	logf := func(format string, args ...any) {
		if strings.HasPrefix(fmt.Sprintf(format, args...), "starting rabbitmq") {
			once.Do(func() { time.AfterFunc(300*time.Millisecond, cancel) })
		}
	}
	s, err := Start(ctx, Options{Mode: ModeDocker, Images: images, RunID: runID, Logf: logf}, allServices)
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("Start succeeded although it was interrupted while RabbitMQ was starting")
	}
	if s != nil {
		t.Errorf("Start returned servers with an error")
	}
	assertNothingLabelled(t, runID)
}
