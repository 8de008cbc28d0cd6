package redis

import (
	"context"
	"maps"
	"strconv"
	"strings"
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
	if n == 0 || lease.URL != service.WithCredentials(DefaultURL, c.Options().Username, c.Options().Password, strconv.Itoa(n)) {
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

// On a shared server with ACLs each run gets a user of its own that may
// not wipe, reconfigure or stop the server; the user goes with the lease.
func TestUserPerRun(t *testing.T) {
	in := openLocal(t)
	if !in.acl {
		servicetest.Unavailable(t, "redis at %s has no ACLs the grader may manage", DefaultURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	suffix := service.RandomHex(3)
	a, err := in.Isolate(ctx, "grader_testa_"+suffix)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(context.Background())
	b, err := in.Isolate(ctx, "grader_testb_"+suffix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(context.Background())
	pa, pb := service.Split(a.URL, "6379"), service.Split(b.URL, "6379")
	if pa.User != "grader_testa_"+suffix || pa.Password == "" || pa.Password == pb.Password {
		t.Fatalf("scope URLs %s and %s: want a user and a password each", service.Redact(a.URL), service.Redact(b.URL))
	}
	ca := a.Handle.(*goredis.Client)
	if err := ca.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("the scope's user on its own database: %v", err)
	}
	if keys, err := ca.Keys(ctx, "*").Result(); err != nil || len(keys) != 1 {
		t.Fatalf("KEYS on its own database = %v, %v", keys, err)
	}
	for _, cmd := range [][]any{{"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "databases"}, {"ACL", "LIST"}, {"MOVE", "k", "0"}, {"SWAPDB", "0", "1"}} {
		err := ca.Do(ctx, cmd...).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%v as the scope's user: %v; want NOPERM", cmd, err)
		}
	}
	// The known limit (NoteSharedServer): SELECT cannot be scoped, so the
	// user reaches another database. If this fails, Redis learned to scope
	// SELECT: say so in the note.
	conn := ca.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, dbOf(t, pb.Path)).Err(); err != nil {
		t.Logf("SELECT of another database is refused: %v (update NoteSharedServer)", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	opt, _ := goredis.ParseURL(a.URL)
	opt.MaxRetries = -1
	gone := goredis.NewClient(opt)
	defer gone.Close()
	if err := gone.Ping(ctx).Err(); err == nil {
		t.Fatal("a released run's user still authenticates")
	}
}

func dbOf(t *testing.T, path string) int {
	t.Helper()
	n, err := strconv.Atoi(path)
	if err != nil {
		t.Fatalf("no database number in %q", path)
	}
	return n
}
