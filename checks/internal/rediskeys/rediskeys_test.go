package rediskeys

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/redis/go-redis/v9"
)

func TestListAndCLI(t *testing.T) {
	if got := List(nil); got != "(no keys)" {
		t.Errorf("List(nil) = %q", got)
	}
	keys := make([]string, 23)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	got := List(keys)
	if !strings.HasPrefix(got, "k00\nk01\n") || !strings.HasSuffix(got, "k19\n... (23 keys in all)") {
		t.Errorf("List(23 keys) = %q", got)
	}
	for db, want := range map[int]string{0: "redis-cli", 3: "redis-cli -n 3"} {
		h := harness.New(harness.Options{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DB: db})})
		if got := CLI(h); got != want {
			t.Errorf("CLI(db %d) = %q, want %q", db, got, want)
		}
	}
}

// TestScanAndTTLs uses the machine's Redis (127.0.0.1:6379) with keys of
// its own, removed afterwards.
func TestScanAndTTLs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	prefix := fmt.Sprintf("rediskeys-test-%d:", time.Now().UnixNano())
	a, b := prefix+"a", prefix+"b"
	defer rc.Del(context.Background(), a, b)
	if err := rc.Set(ctx, a, "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Set(ctx, b, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h := harness.New(harness.Options{Redis: rc})
	keys, err := Scan(ctx, h, prefix+"*", "redis-cli --scan")
	if err != nil || strings.Join(keys, ",") != a+","+b {
		t.Fatalf("Scan = %v, %v; want [%s %s]", keys, err, a, b)
	}
	cmds, err := TTLs(ctx, h, []string{a, b, prefix + "gone"}, "redis-cli TTL")
	if err != nil || len(cmds) != 3 {
		t.Fatalf("TTLs = %v, %v", cmds, err)
	}
	var got []time.Duration
	for _, c := range cmds {
		d, err := c.Result()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if got[0] <= 0 || got[0] > time.Minute || got[1] != -1 || got[2] != -2 {
		t.Errorf("TTLs = %v, want (0, 1m], -1 (no expiry), -2 (no such key)", got)
	}
}
