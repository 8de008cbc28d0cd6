package ratelimiting

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// globalLimit: one user alternates between two instances that share Redis;
// together they allow N requests, not N per instance.
func globalLimit(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 2)
	defer stop()
	if err != nil {
		return err
	}
	return withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		reqs := make([]harness.Request, l.N+1)
		for i := range reqs {
			reqs[i] = harness.Request{Path: ins[i%2].URL() + "/todos", Token: u.Token}
		}
		resps, err := sendAll(ctx, h, reqs)
		if err != nil {
			return err, false
		}
		err, retry := judgeBurst(resps, l, "GET /todos as one user, alternating between two instances")
		if err != nil && resps[l.N].Status == http.StatusOK {
			return grader.Failf("one user alternated between two instances of the service (%s each, same Redis): all %d requests passed, expected request %d to get 429: each instance seems to count on its own", l, l.N+1, l.N+1).
				WithHint("keep the counters in Redis (REDIS_URL), not in the process's memory, so that every instance behind a load balancer sees the same count"), retry
		}
		return err, retry
	})
}

// loginLimited: N wrong passwords for one email are answered 401; the
// next attempt is refused with 429 even with the right password.
func loginLimited(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	url := ins[0].URL() + "/login"
	return withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		reqs := make([]harness.Request, l.N+1)
		for i := range reqs {
			pw := fmt.Sprintf("wrong-password-%d-%s", i, u.Password)
			if i == l.N {
				pw = u.Password
			}
			reqs[i] = harness.Request{Method: http.MethodPost, Path: url, NoAuth: true,
				JSON: map[string]string{"email": u.Email, "password": pw}}
		}
		resps, err := sendAll(ctx, h, reqs)
		if err != nil {
			return err, false
		}
		for i, r := range resps[:l.N] {
			if r.Status == http.StatusTooManyRequests {
				return grader.Failf("POST /login with a wrong password: attempt %d of %d was refused with 429, but %s allows %d per window", i+1, l.N+1, RequestsVar, l.N).
					WithHint("/login uses the same limit and window as /todos, counted per client IP and email"), false
			}
			if err := expect.Status(r, http.StatusUnauthorized); err != nil {
				return grader.Failf("POST /login with a wrong password, attempt %d: %v", i+1, err), false
			}
		}
		last := resps[l.N]
		// Not refused: a window may have ended during the burst, so once
		// more with a fresh user before these failures stand.
		switch last.Status {
		case http.StatusTooManyRequests:
			return nil, false
		case http.StatusOK:
			return grader.Failf("after %d wrong passwords for one email within the window (%s), attempt %d with the right password logged in (200): expected 429, or an attacker can keep guessing until a guess is right", l.N, l, l.N+1).
				WithHint("count every /login attempt per client IP and email before checking the password, and refuse with 429 once the count is above the limit, right password or not"), true
		}
		return grader.Failf("after %d wrong passwords for one email within the window (%s), attempt %d got %s: expected 429 Too Many Requests", l.N, l, l.N+1, expect.StatusText(last.Status)).
			WithHint("count every /login attempt per client IP and email before checking the password, and refuse with 429 once the count is above the limit"), true
	})
}

// limiterKeyName guesses, from its name, that a key belongs to a limiter.
var limiterKeyName = regexp.MustCompile(`(?i)rate|limit|throttl|login|attempt|bucket|quota`)

// limiterKeysExpire: drive the limiter (requests past the limit on
// /todos, failed logins), then every Redis key that appeared meanwhile, and
// any key named like a limiter's, must have an expiry.
func limiterKeysExpire(ctx context.Context, h *harness.H) error {
	if h.Redis == nil {
		return grader.Errorf("this run has no Redis to inspect (a grader bug: the caching stage declares it)")
	}
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	before, err := allKeys(ctx, h)
	if err != nil {
		return err
	}
	u, err := freshUser(ctx, h)
	if err != nil {
		return err
	}
	if _, err := sendAll(ctx, h, repeat(harness.Request{Path: ins[0].URL() + "/todos", Token: u.Token}, l.N+1)); err != nil {
		return err
	}
	if _, err := sendAll(ctx, h, repeat(harness.Request{Method: http.MethodPost, Path: ins[0].URL() + "/login", NoAuth: true,
		JSON: map[string]string{"email": u.Email, "password": "wrong-" + u.Password}}, 2)); err != nil {
		return err
	}
	after, err := allKeys(ctx, h)
	if err != nil {
		return err
	}
	var candidates []string
	for _, k := range after {
		if !slices.Contains(before, k) || limiterKeyName.MatchString(k) {
			candidates = append(candidates, k)
		}
	}
	forever, err := withoutTTL(ctx, h, candidates)
	if err != nil {
		return err
	}
	if len(forever) == 0 {
		return nil
	}
	return grader.Failf("%d Redis key(s) written by the limiter never expire (TTL -1): %s", len(forever), rediskeys.Names(forever, 5)).
		WithHint("give every counter an expiry of about one window (INCR then EXPIRE in one MULTI or script, or SET ... EX): keys without one pile up with every user and every window")
}
