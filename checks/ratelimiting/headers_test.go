package ratelimiting

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"

	"github.com/backend-grader/grader/internal/harness"
)

func rl(status int, kv ...string) *harness.Response {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &harness.Response{Status: status, Header: h, Method: "GET", Path: "/todos"}
}

func TestRolledOver(t *testing.T) {
	down := []*harness.Response{rl(200, "RateLimit-Remaining", "2"), rl(200, "RateLimit-Remaining", "1"), rl(200, "RateLimit-Remaining", "0")}
	if rolledOver(down) {
		t.Error("a countdown is not a rollover")
	}
	up := []*harness.Response{rl(200, "X-RateLimit-Remaining", "1"), rl(200, "X-RateLimit-Remaining", "0"), rl(200, "X-RateLimit-Remaining", "4")}
	if !rolledOver(up) {
		t.Error("Remaining going up is a rollover")
	}
}

func TestCountdownStep(t *testing.T) {
	l := limits{N: 5, W: 3}
	good := rl(200, "RateLimit-Limit", "5", "RateLimit-Remaining", "3", "RateLimit-Reset", "2")
	if err := countdownStep(good, 1, l); err != nil {
		t.Errorf("second response with Remaining 3: %v", err)
	}
	epoch := rl(200, "X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "4", "X-RateLimit-Reset", strconv.FormatInt(unixNow()+2, 10))
	if err := countdownStep(epoch, 0, l); err != nil {
		t.Errorf("X-RateLimit-Reset as an epoch: %v", err)
	}
	for name, r := range map[string]*harness.Response{
		"static remaining": rl(200, "RateLimit-Limit", "5", "RateLimit-Remaining", "5", "RateLimit-Reset", "2"),
		"reset too long":   rl(200, "RateLimit-Limit", "5", "RateLimit-Remaining", "4", "RateLimit-Reset", "60"),
		"wrong limit":      rl(200, "RateLimit-Limit", "100", "RateLimit-Remaining", "4", "RateLimit-Reset", "2"),
		"no headers":       rl(200),
	} {
		if countdownStep(r, 0, l) == nil {
			t.Errorf("%s: want a failure", name)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	l := limits{N: 5, W: 3}
	if n, err := retryAfter(rl(429, "Retry-After", "3"), l); err != nil || n != 3 {
		t.Errorf("Retry-After 3: %d %v", n, err)
	}
	for _, v := range []string{"", "0", "4", "3000", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT"} {
		if _, err := retryAfter(rl(429, "Retry-After", v), l); err == nil {
			t.Errorf("Retry-After %q with W=3: want a failure", v)
		}
	}
}

func TestLimits(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		env := Stage.Env(r)
		if n, _ := strconv.Atoi(env[RequestsVar]); n < 100000 {
			t.Fatalf("the main instance's limit %d is not generous", n)
		}
		l := tight(&harness.H{Rand: r})
		if l.N < 5 || l.N > 9 || l.W < 30 || l.W > 60 {
			t.Fatalf("tight limits %+v", l)
		}
		if s := tightShort(&harness.H{Rand: r}); s.W < 2 || s.W > 4 {
			t.Fatalf("short limits %+v", s)
		}
	}
}
