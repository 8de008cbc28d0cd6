package ratelimiting

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/rediskeys"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// globalLimit: one user alternates between two instances that share Redis;
// together they allow N requests, not N per instance; then a concurrent
// burst across both (concurrentBurst).
func globalLimit(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 2)
	defer stop()
	if err != nil {
		return err
	}
	err = withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		reqs := make([]harness.Request, l.N+1)
		for i := range reqs {
			reqs[i] = harness.Request{Path: ins[i%2].URL() + h.Path("/todos"), Token: u.Token}
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
	if err != nil {
		return err
	}
	return concurrentBurst(ctx, h, ins, l)
}

// burstSize is how many requests the concurrent burst sends at once.
const burstSize = 40

// concurrentBurst: a fresh user sends one request to read how long the
// window has left; when at least half of it (the fine print), 40 requests
// go at once, alternating between the two instances, and at most N-1 of
// them (one is spent) may pass. A limiter that reads the counter and then
// writes it back (GET then SET) lets many through. When less than half the
// window is left the check waits for the next window, once.
func concurrentBurst(ctx context.Context, h *harness.H, ins []harness.Instance, l limits) error {
	u, err := freshUser(ctx, h)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 2; attempt++ {
		first, err := h.Do(ctx, harness.Request{Path: ins[0].URL() + h.Path("/todos"), Token: u.Token})
		if err != nil {
			return err
		}
		left, ok := resetSeconds(first)
		if !ok || first.Status == http.StatusTooManyRequests {
			h.Record("note", "no concurrent burst", "the window's reset could not be read from the answer (rate-limiting.remaining grades the headers)")
			return nil
		}
		if left*2 < int64(l.W) {
			if attempt == 0 {
				h.Record("note", fmt.Sprintf("%d of the window's %d seconds left: waiting for the next window before the concurrent burst", left, l.W), "")
				if err := sleep(ctx, time.Duration(left)*time.Second+200*time.Millisecond); err != nil {
					return err
				}
			}
			continue
		}
		resps := make([]*harness.Response, burstSize)
		errs := make([]error, burstSize)
		var wg sync.WaitGroup
		for i := range burstSize {
			wg.Go(func() {
				resps[i], errs[i] = h.Do(ctx, harness.Request{Path: ins[i%2].URL() + h.Path("/todos"), Token: u.Token})
			})
		}
		wg.Wait()
		passed := 0
		for i, r := range resps {
			if errs[i] != nil {
				return errs[i]
			}
			if r.Status >= 200 && r.Status < 300 {
				passed++
			}
		}
		if passed > l.N-1 {
			return grader.Failf("one user sent %d requests at once, alternating between two instances (%s, same Redis), after 1 request in the same window: %d passed, expected at most %d", burstSize, l, passed, l.N-1).
				WithHint("count with one atomic Redis operation (INCR, then EXPIRE in the same MULTI or a Lua script): reading the counter and writing it back lets concurrent requests all see the same count")
		}
		return nil
	}
	h.Record("note", "no concurrent burst", "the window never had half its length left")
	return nil
}

// resetSeconds reads the seconds left in the window from a response's
// reset header (RateLimit-Reset, or X-RateLimit-Reset as seconds or an
// epoch time).
func resetSeconds(resp *harness.Response) (int64, bool) {
	fam := family(resp)
	if fam == "" {
		return 0, false
	}
	v, ok := header(resp, fam, "Reset")
	if !ok {
		return 0, false
	}
	if v > 1_000_000_000 {
		v -= unixNow()
	}
	return v, v >= 0
}

// loginLimited: N wrong passwords for one email are answered 401; the
// next attempt is refused with 429 even with the right password. Every
// attempt carries another X-Forwarded-For and X-Real-IP: no proxy stands in
// front of the service, so the client address is the connection's peer and
// those headers are the client's own words.
func loginLimited(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	url := ins[0].URL() + h.Path("/login")
	return withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		reqs := make([]harness.Request, l.N+1)
		for i := range reqs {
			pw := fmt.Sprintf("wrong-password-%d-%s", i, u.Password)
			if i == l.N {
				pw = u.Password
			}
			addr := fmt.Sprintf("203.0.113.%d", 1+(i*37+h.Rand.IntN(200))%254)
			reqs[i] = harness.Request{Method: http.MethodPost, Path: url, NoAuth: true,
				JSON:   map[string]string{"email": u.Email, "password": pw},
				Header: http.Header{"X-Forwarded-For": {addr}, "X-Real-IP": {addr}}}
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
				WithHint("count every /login attempt per client IP (the connection's peer address: X-Forwarded-For is whatever the client says, and every attempt here said another) and email before checking the password, and refuse with 429 once the count is above the limit, right password or not"), true
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
	if _, err := sendAll(ctx, h, repeat(harness.Request{Path: ins[0].URL() + h.Path("/todos"), Token: u.Token}, l.N+1)); err != nil {
		return err
	}
	if _, err := sendAll(ctx, h, repeat(harness.Request{Method: http.MethodPost, Path: ins[0].URL() + h.Path("/login"), NoAuth: true,
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
	// No trace, no pass: a limiter that never writes to Redis has no key
	// that could live forever; whether it shares Redis is graded by
	// rate-limiting.global.
	if len(candidates) == 0 {
		return grader.Blockedf("rate-limiting.global", "after %d requests to GET /todos and 2 failed logins no new key appeared in the service's Redis database, so there is no limiter key whose expiry could be judged", l.N+1).
			WithHint("keep the limiter's counters in Redis (REDIS_URL): see rate-limiting.global")
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
