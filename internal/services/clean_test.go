package services

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	goredis "github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/services/runlock"
	"github.com/backend-grader/grader/internal/services/service"
)

func TestBelongs(t *testing.T) {
	for _, c := range []struct {
		v, r string
		want bool
	}{
		{"0a1b2c3d4e5f", "0a1b2c3d4e5f", true},
		{"0a1b2c3d4e5fs12", "0a1b2c3d4e5f", true},
		{"0a1b2c3d4e5f9", "0a1b2c3d4e5f", false},
		{"0a1b2c3d4e5fsx", "0a1b2c3d4e5f", false},
		{"0a1b2c3d4e5f_s3_abcdef", "0a1b2c3d4e5f_", true},
		{"ffff", "0a1b2c3d4e5f", false},
	} {
		if got := belongs(c.v, c.r); got != c.want {
			t.Errorf("belongs(%q, %q) = %v, want %v", c.v, c.r, got, c.want)
		}
	}
}

// A live run's networks and volumes survive clean; a dead run's (and its
// batch submissions') go; --all takes the live run's too.
func TestCleanDockerKeepsLiveRuns(t *testing.T) {
	requireDocker(t)
	t.Setenv(runlock.DirEnv, t.TempDir())
	ctx := context.Background()
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live, dead := "test-live-"+randomHex(4), "test-dead-"+randomHex(4)
	release, err := runlock.Hold(live)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, label := range []string{live, dead, dead + "s3"} {
		if _, err := cli.NetworkCreate(ctx, "grader-"+label, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{LabelRun: label}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "grader-" + label, Labels: map[string]string{LabelRun: label}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = cleanLabel(ctx, cli, &strings.Builder{}, LabelRun+"="+live) })
	var b strings.Builder
	if err := cleanDocker(ctx, cli, CleanOptions{Runs: []string{live, dead}}, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"removed network grader-" + dead + "\n", "removed network grader-" + dead + "s3", "removed volume grader-" + dead, "kept 2: run " + live + " is live"} {
		if !strings.Contains(out, want+"") && !strings.Contains(out, strings.TrimSuffix(want, "\n")+" ") {
			t.Errorf("clean output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "grader-"+live) {
		t.Errorf("clean removed the live run's things:\n%s", out)
	}
	assertNothingLabelled(t, dead)
	assertNothingLabelled(t, dead+"s3")
	b.Reset()
	if err := cleanDocker(ctx, cli, CleanOptions{Runs: []string{live}, All: true}, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "removed network grader-"+live) {
		t.Errorf("clean --all kept the live run's network:\n%s", b.String())
	}
	assertNothingLabelled(t, live)
}

// On external servers clean drops a dead run's database and role, Redis
// claim, user and keys, and vhost and user, and keeps a live run's.
func TestCleanExternalKeepsLiveRuns(t *testing.T) {
	requireExternal(t)
	t.Setenv(runlock.DirEnv, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := Options{Mode: ModeExternal, AMQPManagementURL: "http://127.0.0.1:15672"}.withDefaults()
	live, dead := "testlive"+randomHex(3), "testdead"+randomHex(3)
	release, err := runlock.Hold(live)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	leases := map[string]map[string]*service.Lease{live: {}, dead: {}}
	for _, svc := range registry {
		inst, err := svc.Open(ctx, o.server(svc))
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close()
		for _, run := range []string{live, dead} {
			l, err := inst.Isolate(ctx, scopeName(run, run+"s1"))
			if err != nil {
				t.Fatal(err)
			}
			leases[run][string(svc.Name())] = l
		}
		// The live run's go at the end, as a run's Close would.
		defer leases[live][string(svc.Name())].Release(context.Background())
	}
	if err := leases[dead]["redis"].Handle.(*goredis.Client).Set(ctx, "left", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	deadDB := leases[dead]["redis"].Handle.(*goredis.Client).Options().DB
	var b strings.Builder
	if err := Clean(ctx, CleanOptions{Runs: []string{live, dead}, Services: Options{Mode: ModeExternal, AMQPManagementURL: "http://127.0.0.1:15672"}}, &b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	out := b.String()
	t.Log(out)
	for _, want := range []string{"removed postgres database and role grader_" + dead, "removed redis database", "removed redis user grader_" + dead,
		"removed rabbitmq vhost grader_" + dead, "removed rabbitmq user grader_" + dead, "run " + live + " is live"} {
		if !strings.Contains(out, want) {
			t.Errorf("clean output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "removed") && strings.Contains(line, "grader_"+live) {
			t.Errorf("clean removed the live run's: %s", line)
		}
	}
	// The dead run's database is gone, the live run's answers.
	if conn, err := pgx.Connect(ctx, leases[dead]["postgres"].URL); err == nil {
		conn.Close(ctx)
		t.Error("the dead run's role still connects to its database")
	}
	if err := lookupService(t, "postgres").Probe(ctx, leases[live]["postgres"].URL); err != nil {
		t.Errorf("the live run's database after clean: %v", err)
	}
	if err := lookupService(t, "rabbitmq").Probe(ctx, leases[dead]["rabbitmq"].URL); err == nil {
		t.Error("the dead run's broker user still connects")
	}
	if err := lookupService(t, "rabbitmq").Probe(ctx, leases[live]["rabbitmq"].URL); err != nil {
		t.Errorf("the live run's vhost after clean: %v", err)
	}
	if err := lookupService(t, "redis").Probe(ctx, leases[live]["redis"].URL); err != nil {
		t.Errorf("the live run's redis user after clean: %v", err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", DB: deadDB})
	defer admin.Close()
	if n, err := admin.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("the dead run's redis database %d holds %d keys after clean (%v)", deadDB, n, err)
	}
}

func lookupService(t *testing.T, name string) service.Service {
	t.Helper()
	s, ok := Lookup(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s
}
