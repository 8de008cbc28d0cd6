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

func TestNamesQuotesAndCuts(t *testing.T) {
	keys := []string{"todo:1", "a\x1bb", strings.Repeat("k", 1000), "x", "y", "z", "w"}
	got := Names(keys, 5)
	if !strings.HasPrefix(got, `"todo:1", "a\x1bb", "kkk`) || !strings.HasSuffix(got, `"y" and 2 more`) || len(got) > 500 || strings.Contains(got, "\x1b") {
		t.Errorf("Names = %q", got)
	}
	if got := Names([]string{"a"}, 5); got != `"a"` {
		t.Errorf("Names(one) = %q", got)
	}
}

// TestKeysAndWithoutTTL uses the machine's Redis (127.0.0.1:6379, database
// 15) with keys of its own, removed afterwards.
func TestKeysAndWithoutTTL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: 15})
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
	h := harness.New(harness.Options{Redis: rc}).ForCheck("x")
	keys, err := Keys(ctx, h, prefix+"*")
	if err != nil || strings.Join(keys, ",") != a+","+b {
		t.Fatalf("Keys = %v, %v; want [%s %s]", keys, err, a, b)
	}
	forever, err := WithoutTTL(ctx, h, []string{a, b, prefix + "gone"})
	if err != nil || len(forever) != 1 || forever[0] != b {
		t.Fatalf("WithoutTTL = %v, %v; want [%s]", forever, err, b)
	}
	steps := h.Transcript()
	if len(steps) != 2 || steps[0].Command != "redis-cli -n 15 --scan --pattern '"+prefix+"*'" || !strings.HasSuffix(steps[1].Output, "3 keys, 1 without expiry (TTL -1)") {
		t.Errorf("transcript = %+v", steps)
	}
}
