package redis

import (
	"context"
	"maps"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/services/service"
	"github.com/backend-grader/grader/internal/services/servicetest"
)

func TestEnv(t *testing.T) {
	got := Service.Env("redis://127.0.0.1:49160/7")
	want := map[string]string{"REDIS_URL": "redis://127.0.0.1:49160/7", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "49160"}
	if !maps.Equal(got, want) {
		t.Errorf("Env = %v, want %v", got, want)
	}
	got = Service.Env("redis://:s3cret@redis/3")
	want = map[string]string{"REDIS_URL": "redis://:s3cret@redis/3", "REDIS_HOST": "redis", "REDIS_PORT": "6379", "REDIS_PASSWORD": "s3cret"}
	if !maps.Equal(got, want) {
		t.Errorf("Env with a password = %v, want %v", got, want)
	}
}

func TestContainerDisablesCommands(t *testing.T) {
	spec := Service.Container()
	for _, c := range Disabled {
		found := false
		for i := 0; i+2 < len(spec.Cmd); i++ {
			if spec.Cmd[i] == "--rename-command" && spec.Cmd[i+1] == c && spec.Cmd[i+2] == "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not renamed away in %q", c, spec.Cmd)
		}
	}
}

// openLocal opens an instance on the machine's Redis (external mode).
func openLocal(t *testing.T) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Service.Probe(ctx, DefaultURL); err != nil {
		servicetest.Unavailable(t, "redis at %s is not reachable: %v", DefaultURL, err)
	}
	inst, err := Service.Open(ctx, service.Server{URL: DefaultURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	return inst.(*instance)
}

// A database that holds data the grader did not write is never claimed,
// however many databases the grader has used before on this server.
func TestForeignDataIsLeftAlone(t *testing.T) {
	in := openLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Hold a database the way a run does, so that no other run touches it.
	n, c, err := in.claim(ctx, "test-foreign-"+service.RandomHex(3))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.give(context.WithoutCancel(ctx), n, c) }()
	// Make it look never used by the grader, with someone else's key in it.
	if err := in.meta.SRem(ctx, UsedSetKey, n).Err(); err != nil {
		t.Fatal(err)
	}
	defer in.meta.SAdd(context.WithoutCancel(ctx), UsedSetKey, n)
	db := in.dbClient(n)
	defer db.Close()
	if err := db.Set(ctx, "someone-elses-key", "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	usable, err := in.usable(ctx, n)
	if err != nil || usable {
		t.Errorf("usable(%d) with foreign data = %v, %v; want false", n, usable, err)
	}
	// A database the grader used before is usable whatever it holds.
	if err := in.meta.SAdd(ctx, UsedSetKey, n).Err(); err != nil {
		t.Fatal(err)
	}
	if usable, err := in.usable(ctx, n); err != nil || !usable {
		t.Errorf("usable(%d) of the grader's own database = %v, %v; want true", n, usable, err)
	}
}

// Isolate and Release on the machine's Redis: the lease's database is
// claimed while it lives, emptied and given back after.
func TestLease(t *testing.T) {
	in := openLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lease, err := in.Isolate(ctx, "grader_test_lease_"+service.RandomHex(3))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := lease.Handle.(*goredis.Client)
	if !ok {
		t.Fatalf("Handle is %T, want a *redis.Client", lease.Handle)
	}
	n := c.Options().DB
	if n == 0 || lease.URL != service.WithCredentials(DefaultURL, "", "", strconv.Itoa(n)) {
		t.Fatalf("lease on db %d with URL %q", n, lease.URL)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if owner, err := in.meta.Get(ctx, ClaimPrefix+strconv.Itoa(n)).Result(); err != nil || owner == "" {
		t.Errorf("no claim on db %d while the lease lives (%q, %v)", n, owner, err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	db := in.dbClient(n)
	defer db.Close()
	if size, err := db.DBSize(ctx).Result(); err != nil || size != 0 {
		t.Errorf("db %d holds %d keys after Release (%v)", n, size, err)
	}
	if k, err := in.meta.Exists(ctx, ClaimPrefix+strconv.Itoa(n)).Result(); err != nil || k != 0 {
		t.Errorf("the claim on db %d remains after Release (%v)", n, err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
}
