package ratelimiting

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/jwt"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// judgeBurst checks that the first l.N responses passed (200) and the next
// one was refused (429). retry says the failure may come from a window
// that ended during the burst (the last request passed: a fresh user in a
// fresh window will tell).
func judgeBurst(resps []*harness.Response, l limits, what string) (err error, retry bool) {
	for i, r := range resps[:l.N] {
		if r.Status == http.StatusTooManyRequests {
			return grader.Failf("%s: request %d of %d was refused with 429, but %s allows %d per window", what, i+1, l.N+1, RequestsVar, l.N).
				WithHint("read the limit from %s; count the request first and refuse only when the count is above the limit (the N-th request still passes)", RequestsVar), false
		}
		if err := expect.Status(r, http.StatusOK); err != nil {
			return grader.Failf("%s: request %d of %d: %v", what, i+1, l.N+1, err), false
		}
	}
	last := resps[l.N]
	if last.Status != http.StatusTooManyRequests {
		if fam := family(last); fam != "" {
			if n, ok := header(last, fam, "Limit"); ok && n != int64(l.N) {
				return grader.Failf("%s: with %s the %d requests before it passed, so request %d should get 429 Too Many Requests; it got %s, and %s-Limit says %d: the service limits at a number of its own, not %s",
						what, l, l.N, l.N+1, expect.StatusText(last.Status), fam, n, RequestsVar).
						WithHint("read the limit from %s and the window from %s, which the grader varies from run to run", RequestsVar, WindowVar),
					false
			}
		}
		return grader.Failf("%s: with %s the %d requests before it passed, so request %d should get 429 Too Many Requests; it got %s", what, l, l.N, l.N+1, expect.StatusText(last.Status)).
				WithHint("count each user's requests per window in Redis (INCR, with an expiry of the window) and answer 429 once the count is above %s", RequestsVar),
			true
	}
	return nil, false
}

// limitEnforced: with limit N, N requests pass and request N+1 gets 429
// with a sane Retry-After and a JSON message.
//
// A 429 while registering its user on the run's main instance, whose
// limit the grader set far above anything the run sends, is this check's
// subject too: the service limits at a number of its own.
func limitEnforced(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	return ownLimit(h, withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		req := harness.Request{Path: ins[0].URL() + h.Path("/todos"), Token: u.Token}
		resps, err := sendAll(ctx, h, repeat(req, l.N+1))
		if err != nil {
			return err, false
		}
		if err, retry := judgeBurst(resps, l, "GET /todos as one user"); err != nil {
			return err, retry
		}
		last := resps[l.N]
		if _, err := retryAfter(last, l); err != nil {
			return err, false
		}
		if err := expect.Hint(expect.Message(last), `a 429 is an error like the others: {"message": "too many requests, retry after 3 seconds"}`); err != nil {
			return err, false
		}
		return retryAfterWithinReset(ctx, h, req, last, l), false
	}))
}

// ownLimit turns a setup blocked by a 429 of the main instance into the
// failure it is: the service answered 429 under a limit it cannot have
// reached.
func ownLimit(h *harness.H, err error) error {
	var p *grader.Precondition
	if !errors.As(err, &p) || p.By != harness.LimitCheck {
		return err
	}
	return grader.Failf("%s, although the grader started the service with %s=%s and %s=%s, far more than it had sent: the service limits at a number of its own, not %s (or ignores the window)",
		p.Reason, RequestsVar, h.Env[RequestsVar], WindowVar, h.Env[WindowVar], RequestsVar).
		WithHint("read the limit from %s and the window from %s, which the grader varies from run to run", RequestsVar, WindowVar)
}

// retryAfterWithinReset: a 429's Retry-After is no later than its reset
// header says the limit is restored (+1 s for rounding): once the window
// ends the client may try again, so waiting longer is not what the service
// means. A constant Retry-After of the whole window is told apart from the
// real time left only when less than the window is left: when the reset
// says the window just began, one more refused request 2 s later must say
// less. Without a reset header on the 429 this is not judged here
// (rate-limiting.remaining grades the headers).
func retryAfterWithinReset(ctx context.Context, h *harness.H, req harness.Request, resp *harness.Response, l limits) error {
	for again := true; ; again = false {
		ra, err := retryAfter(resp, l)
		if err != nil {
			return err
		}
		reset, ok := resetSeconds(resp)
		if !ok {
			return nil
		}
		if int64(ra) > reset+1 {
			return grader.Failf("the 429 says Retry-After: %d, but its reset header says the limit is restored in %d seconds: expected Retry-After <= %d", ra, reset, reset+1).
				WithHint("Retry-After is the time left until the client may try again (the end of its window), not the window's length: compute it from the window's end, like the reset header")
		}
		if !again || reset < int64(l.W)-1 {
			return nil
		}
		h.Record("note", "the window had just begun, so Retry-After and the reset header cannot be told apart yet: one more request 2 s later", "")
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		if resp, err = h.Do(ctx, req); err != nil {
			return err
		}
		if resp.Status != http.StatusTooManyRequests {
			return nil // a window ended after all; rate-limiting.window-resets grades what follows
		}
	}
}

// remainingCountsDown: every response carries the limit, the requests
// remaining (N-1 after the first, down to 0 after the N-th) and the reset.
func remainingCountsDown(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	return withFreshUser(ctx, h, func(u *harness.User) (error, bool) {
		resps, err := sendAll(ctx, h, repeat(harness.Request{Path: ins[0].URL() + h.Path("/todos"), Token: u.Token}, l.N))
		if err != nil {
			return err, false
		}
		for i, r := range resps {
			if err := countdownStep(r, i, l); err != nil {
				return err, rolledOver(resps)
			}
		}
		return nil, rolledOver(resps)
	})
}

const headersHint = "on every limited response send RateLimit-Limit (the limit), RateLimit-Remaining (requests left in this window, after this one) and RateLimit-Reset (seconds until the window ends)"

// countdownStep checks the headers of the (i+1)-th response of a burst.
func countdownStep(r *harness.Response, i int, l limits) error {
	nth := fmt.Sprintf("response %d of %d (%s)", i+1, l.N, l)
	if err := expect.Status(r, http.StatusOK); err != nil {
		return grader.Failf("%s: %v", nth, err)
	}
	fam := family(r)
	if fam == "" {
		return grader.Failf("%s has no RateLimit-Remaining / RateLimit-Limit headers (nor X-RateLimit-*)", nth).WithHint("%s", headersHint)
	}
	if n, ok := header(r, fam, "Limit"); !ok || n != int64(l.N) {
		return grader.Failf("%s: expected %s-Limit: %d, got %q", nth, fam, l.N, r.Header.Get(fam+"-Limit")).WithHint("%s", headersHint)
	}
	want := int64(l.N - 1 - i)
	if n, ok := header(r, fam, "Remaining"); !ok || n != want {
		return grader.Failf("%s: expected %s-Remaining: %d (the limit is %d and this is request %d of the window), got %q", nth, fam, want, l.N, i+1, r.Header.Get(fam+"-Remaining")).
			WithHint("Remaining is the limit minus the requests counted in the current window, this one included: N-1 after the first, 0 after the N-th")
	}
	reset, ok := header(r, fam, "Reset")
	if !ok {
		return grader.Failf("%s: expected %s-Reset with the seconds until the window ends, got %q", nth, fam, r.Header.Get(fam+"-Reset")).WithHint("%s", headersHint)
	}
	if fam == "X-RateLimit" && reset > 1e9 { // an epoch time is allowed here
		reset -= unixNow()
		if reset >= -1 && reset <= int64(l.W)+1 {
			return nil
		}
	}
	if reset <= 0 || reset > int64(l.W) {
		return grader.Failf("%s: %s-Reset is %q: expected the seconds until the window ends, 0 < x <= %d", nth, fam, r.Header.Get(fam+"-Reset"), l.W).WithHint("%s", headersHint)
	}
	return nil
}

// perUser: once one user is refused, another user on the same instance (and
// the same IP) still passes, and the refused user with a second token (one
// the grader signs with JWT_SECRET for the same sub) is still refused: the
// limit is the user's, not the token string's.
func perUser(ctx context.Context, h *harness.H) error {
	l := tight(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	a, err := freshUser(ctx, h)
	if err != nil {
		return err
	}
	b, err := freshUser(ctx, h)
	if err != nil {
		return err
	}
	url := ins[0].URL() + h.Path("/todos")
	refused, err := exhaust(ctx, h, harness.Request{Path: url, Token: a.Token}, l, "the limit could not be exhausted")
	if err != nil {
		return err
	}
	if left, ok := resetSeconds(refused); ok && left < 2 {
		// The window is about to end: exhaust the next one instead, so
		// that the second token below is sent well inside it.
		h.Record("note", fmt.Sprintf("the window ends in %d s: waiting for the next one", left), "")
		if err := sleep(ctx, time.Duration(left)*time.Second+500*time.Millisecond); err != nil {
			return err
		}
		if _, err := exhaust(ctx, h, harness.Request{Path: url, Token: a.Token}, l, "the limit could not be exhausted"); err != nil {
			return err
		}
	}
	resp, err := h.Do(ctx, harness.Request{Path: url, Token: b.Token})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return grader.Failf("after one user was refused with 429, another user's first GET /todos got %s: expected 200, each user has a limit of their own", expect.StatusText(resp.Status)).
			WithHint("key the /todos counter by the user id from the token, not by IP address or route: users behind one proxy or office NAT share an IP")
	}
	return secondTokenRefused(ctx, h, url, a)
}

// secondTokenRefused: the user refused a moment ago sends a token of their
// own that the grader signed with JWT_SECRET (same sub, another exp, as in
// auth.grader-token): it is still 429.
func secondTokenRefused(ctx context.Context, h *harness.H, url string, u *harness.User) error {
	secret := h.Env["JWT_SECRET"]
	_, claims, err := jwt.Parse(u.Token)
	if secret == "" || err != nil || claims["sub"] == nil {
		return nil // auth.token-claims grades the token's form
	}
	now := time.Now()
	exp := now.Add(time.Duration(20+h.Rand.IntN(30))*time.Minute + time.Duration(h.Rand.IntN(60))*time.Second)
	tok, err := jwt.Sign([]byte(secret), jwt.Claims{"sub": claims["sub"], "iat": now.Unix(), "exp": exp.Unix()})
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	h.Record("note", "a second token for the refused user: {sub, iat, exp}, HS256 with JWT_SECRET", tok)
	resp, err := h.Do(ctx, harness.Request{Path: url, Token: tok})
	if err != nil {
		return err
	}
	if resp.Status == http.StatusUnauthorized {
		return nil // auth.grader-token grades tokens the grader signs
	}
	if resp.Status != http.StatusTooManyRequests {
		return grader.Failf("the user refused with 429 a moment ago sent GET /todos with a second token of their own (same sub, signed with JWT_SECRET) and got %s: expected 429, the limit is the user's", expect.StatusText(resp.Status)).
			WithHint("key the /todos counter by the user id (the token's sub), not by the token string: a user who logs in again must not get a fresh limit")
	}
	return nil
}

// windowResets: a refused user waits what Retry-After says (plus half a
// second) and passes again.
func windowResets(ctx context.Context, h *harness.H) error {
	l := tightShort(h)
	ins, stop, err := instances(ctx, h, l, 1)
	defer stop()
	if err != nil {
		return err
	}
	u, err := freshUser(ctx, h)
	if err != nil {
		return err
	}
	req := harness.Request{Path: ins[0].URL() + h.Path("/todos"), Token: u.Token}
	refused, err := exhaust(ctx, h, req, l, "there was no window to wait out")
	if err != nil {
		return err
	}
	wait := time.Duration(l.W) * time.Second
	said := "no usable Retry-After, so the window"
	if ra, err := retryAfter(refused, l); err == nil {
		wait = time.Duration(ra) * time.Second
		said = fmt.Sprintf("Retry-After: %d", ra)
	}
	wait += 500 * time.Millisecond
	h.Record("note", fmt.Sprintf("wait %s (%s, plus 0.5 s)", wait, said), "")
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	resp, err := h.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return grader.Failf("the user was refused, waited %s (%s, plus 0.5 s) and was refused again: got %s, expected 200 in the new window", wait, said, expect.StatusText(resp.Status)).
			WithHint("give each counter an expiry of the window (SET/INCR then EXPIRE, or a key per window) so it starts again from zero, and make Retry-After the real time left")
	}
	return nil
}
