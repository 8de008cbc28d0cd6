package harness

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisDB is a high database number on the machine's Redis; the tests
// only ever delete the keys they wrote (never FLUSHDB: the server is shared).
const testRedisDB = 15

// machineRedis connects to the machine's Redis and returns a unique key
// prefix; every key under it is deleted when the test ends.
func machineRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		rc.Close()
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	prefix := fmt.Sprintf("grader-harness-test:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := rc.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				break
			}
			if len(keys) > 0 {
				rc.Del(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		rc.Close()
	})
	return rc, prefix
}

func lastStep(t *testing.T, h *H) Step {
	t.Helper()
	steps := h.Transcript()
	if len(steps) == 0 {
		t.Fatal("nothing was recorded")
	}
	return steps[len(steps)-1]
}

func TestRedisHookRecordsCommandsAndReplies(t *testing.T) {
	rc, prefix := machineRedis(t)
	ctx := context.Background()
	h := New(Options{Redis: rc}).ForCheck("caching.ttl")
	key := prefix + "todo:1"

	if err := h.Redis.Set(ctx, key, "it's \"x\"\n", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := h.Redis.Get(ctx, prefix+"missing").Err(); err != redis.Nil {
		t.Fatalf("GET missing: %v", err)
	}
	if err := h.Redis.TTL(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	// A command Redis refuses.
	if err := h.Redis.Do(ctx, "incr", key).Err(); err == nil {
		t.Fatal("INCR on a non-number succeeded")
	}
	steps := h.Transcript()
	if len(steps) != 4 {
		t.Fatalf("recorded %d steps, want 4 (no connection handshake): %+v", len(steps), steps)
	}
	want := []Step{
		{Kind: "redis", Command: "redis-cli -n 15 SET " + key + ` $'it\'s "x"\n' ex 60`, Output: "OK"},
		{Kind: "redis", Command: "redis-cli -n 15 GET " + prefix + "missing", Output: "(nil)"},
		{Kind: "redis", Command: "redis-cli -n 15 TTL " + key, Output: "(integer) 60"},
		{Kind: "redis", Command: "redis-cli -n 15 INCR " + key, Output: "(error) ERR value is not an integer or out of range"},
	}
	for i, w := range want {
		got := steps[i]
		if got.Kind != w.Kind || got.Command != w.Command {
			t.Errorf("step %d = %q, want %q", i, got.Command, w.Command)
		}
		if i == 2 {
			// The TTL may have ticked.
			if got.Output != "(integer) 60" && got.Output != "(integer) 59" {
				t.Errorf("TTL reply = %q", got.Output)
			}
			continue
		}
		if got.Output != w.Output {
			t.Errorf("step %d reply = %q, want %q", i, got.Output, w.Output)
		}
	}

	// The line pastes: bash (or zsh) hands redis-cli the same arguments.
	if _, err := exec.LookPath("bash"); err == nil {
		out, err := exec.Command("bash", "-c", "redis-cli() { for a in \"$@\"; do printf '[%s]' \"$a\"; done; }; "+steps[0].Command).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(out), "[-n][15][SET]["+key+"][it's \"x\"\n][ex][60]"; got != want {
			t.Errorf("the shell got %q, want %q", got, want)
		}
	}
}

func TestRedisHookPipelineAndEachCheckItsOwnTranscript(t *testing.T) {
	rc, prefix := machineRedis(t)
	ctx := context.Background()
	run := New(Options{Redis: rc})
	a, b := run.ForCheck("a"), run.ForCheck("b")
	pipe := a.Redis.Pipeline()
	pipe.Set(ctx, prefix+"p1", "1", 0)
	pipe.Incr(ctx, prefix+"p1")
	pipe.LPush(ctx, prefix+"l", "x", "y")
	pipe.LRange(ctx, prefix+"l", 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s := lastStep(t, a)
	if want := "redis-cli -n 15 SET " + prefix + "p1 1\nredis-cli -n 15 INCR " + prefix + "p1\nredis-cli -n 15 LPUSH " + prefix + "l x y\nredis-cli -n 15 LRANGE " + prefix + "l 0 -1"; s.Command != want {
		t.Errorf("pipeline command =\n%s\nwant\n%s", s.Command, want)
	}
	if want := "1) OK\n2) (integer) 2\n3) (integer) 2\n4) 1) \"y\"\n   2) \"x\""; s.Output != want {
		t.Errorf("pipeline reply =\n%s\nwant\n%s", s.Output, want)
	}
	if len(b.Transcript()) != 0 || len(run.Transcript()) != 0 {
		t.Errorf("check a's commands reached other transcripts: b %v, run %v", b.Transcript(), run.Transcript())
	}

	// A check that overruns keeps writing to its own transcript while the
	// runner reads it (go test -race).
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			a.Redis.Incr(ctx, fmt.Sprintf("%sn%d", prefix, i))
		}
	}()
	for range 20 {
		_ = a.Transcript()
	}
	wg.Wait()
	if len(b.Transcript()) != 0 {
		t.Errorf("an overrunning check wrote to another check's transcript")
	}
}

func TestRedisBoundsHugeValuesManyKeysAndOddNames(t *testing.T) {
	rc, prefix := machineRedis(t)
	ctx := context.Background()
	h := New(Options{Redis: rc}).ForCheck("x")

	// A value of 1 MiB: the transcript shows a few hundred bytes; a
	// bounded read takes at most MaxRedisValue of it.
	big := prefix + "big"
	if err := rc.Set(ctx, big, strings.Repeat("v", 1<<20), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	v, err := h.RedisReadValue(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	if v.Type != "string" || v.Len != 1<<20 || len(v.Value) != MaxRedisValue || v.Complete {
		t.Errorf("RedisReadValue = type %s len %d value %d bytes complete %v", v.Type, v.Len, len(v.Value), v.Complete)
	}
	for _, s := range h.Transcript() {
		if len(s.Output) > shownRedisOutput+100 || len(s.Command) > 1000 {
			t.Errorf("a step is not bounded: %d bytes of command, %d of output", len(s.Command), len(s.Output))
		}
	}
	if s := lastStep(t, h); !strings.HasPrefix(s.Command, "redis-cli -n 15 GETRANGE "+big+" 0 65535") || !strings.Contains(s.Output, "(65536 bytes in all)") {
		t.Errorf("GETRANGE step = %q -> %.80q", s.Command, s.Output)
	}
	h.Redis.Get(ctx, big)
	if s := lastStep(t, h); len(s.Output) > shownRedisValue+40 || !strings.Contains(s.Output, "(1048576 bytes in all)") {
		t.Errorf("GET of 1 MiB shows %d bytes: %.80q", len(s.Output), s.Output)
	}

	// A key name of 10 KiB with control characters and bytes that are not UTF-8.
	odd := prefix + "\x1b[31m\xff" + strings.Repeat("k", 10<<10)
	if err := rc.Set(ctx, odd, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.Redis.TTL(ctx, odd)
	s := lastStep(t, h)
	if strings.ContainsAny(s.Command, "\x1b\xff") || len(s.Command) > 400 || !strings.Contains(s.Command, `$'`) || !strings.Contains(s.Command, `\x1b[31m\xff`) {
		t.Errorf("odd key name shown as %q", s.Command)
	}

	// Many keys: the listing is cut in the transcript, every key is returned.
	pipe := rc.Pipeline()
	for i := range 250 {
		pipe.Set(ctx, fmt.Sprintf("%smany:%03d", prefix, i), "1", time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keys, complete, err := h.RedisKeys(ctx, prefix+"many:*")
	if err != nil || !complete || len(keys) != 250 || keys[0] != prefix+"many:000" {
		t.Fatalf("RedisKeys = %d keys, complete %v, %v", len(keys), complete, err)
	}
	s = lastStep(t, h)
	if s.Command != "redis-cli -n 15 --scan --pattern '"+prefix+"many:*'" || !strings.HasSuffix(s.Output, "... and 230 more (250 keys in all)") || strings.Count(s.Output, "\n") != shownRedisItems {
		t.Errorf("RedisKeys step = %q ->\n%s", s.Command, s.Output)
	}

	// TTLs of many keys in pipelines: one step, the keys without expiry first.
	ttls, err := h.RedisTTLs(ctx, append(keys, odd, prefix+"gone"))
	if err != nil || len(ttls) != 252 {
		t.Fatalf("RedisTTLs = %d, %v", len(ttls), err)
	}
	if ttls[0] <= 0 || ttls[0] > 60 || ttls[250] != -1 || ttls[251] != -2 {
		t.Errorf("TTLs = %d, %d, %d; want (0, 60], -1, -2", ttls[0], ttls[250], ttls[251])
	}
	s = lastStep(t, h)
	lines := strings.Split(s.Output, "\n")
	if !strings.HasPrefix(s.Command, "for k in "+prefix+"many:000 ") || !strings.Contains(s.Command, "...(232 more keys)") ||
		!strings.HasPrefix(lines[0], "$'") || !strings.HasSuffix(lines[0], "(integer) -1") ||
		lines[len(lines)-1] != "252 keys, 1 without expiry (TTL -1)" || len(lines) != shownRedisItems+2 {
		t.Errorf("RedisTTLs step = %q ->\n%s", s.Command, s.Output)
	}
}

func TestRedisKeysStopsAtItsCap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes MaxRedisKeys keys")
	}
	rc, prefix := machineRedis(t)
	ctx := context.Background()
	for start := 0; start < MaxRedisKeys+500; start += 1000 {
		pipe := rc.Pipeline()
		for i := start; i < start+1000 && i < MaxRedisKeys+500; i++ {
			pipe.Set(ctx, fmt.Sprintf("%s%06d", prefix, i), "1", time.Minute)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{Redis: rc}).ForCheck("x")
	keys, complete, err := h.RedisKeys(ctx, prefix+"*")
	if err != nil || complete || len(keys) != MaxRedisKeys {
		t.Fatalf("RedisKeys = %d keys, complete %v, %v; want %d, false", len(keys), complete, err, MaxRedisKeys)
	}
	if s := lastStep(t, h); !strings.Contains(s.Output, "stopped reading after 10000 keys") {
		t.Errorf("the step does not say the listing is cut: %q", s.Output)
	}
}

func TestRedisErrorsAndCLI(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DB: 3, MaxRetries: -1, DialTimeout: time.Second})
	defer rc.Close()
	h := New(Options{Redis: rc}).ForCheck("x")
	if err := h.Redis.Get(context.Background(), "k").Err(); err == nil {
		t.Fatal("GET on a closed port succeeded")
	}
	s := lastStep(t, h)
	if s.Command != "redis-cli -p 1 -n 3 GET k" || !strings.HasPrefix(s.Output, "(no reply: ") {
		t.Errorf("step = %q -> %q", s.Command, s.Output)
	}
	if _, _, err := h.RedisKeys(context.Background(), "*"); err == nil || !strings.HasPrefix(lastStep(t, h).Output, "(error) ") {
		t.Errorf("RedisKeys on a closed port: %v, %q", err, lastStep(t, h).Output)
	}
	for o, want := range map[*redis.Options]string{
		{Addr: "127.0.0.1:6379"}:                            "redis-cli",
		{Addr: "redis.example:6380", DB: 2, Password: "s3"}: "redis-cli -h redis.example -p 6380 --askpass -n 2",
		{Network: "unix", Addr: "/tmp/r.sock"}:              "redis-cli -s /tmp/r.sock",
	} {
		if got := RedisCLI(o); got != want {
			t.Errorf("RedisCLI(%s) = %q, want %q", o.Addr, got, want)
		}
	}
	if _, _, err := New(Options{}).RedisKeys(context.Background(), "*"); err != ErrNoRedis {
		t.Errorf("RedisKeys without Redis = %v", err)
	}
}
