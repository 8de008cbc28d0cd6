package ratelimiting

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// family returns the prefix of the rate-limit headers a response uses:
// "RateLimit" (IETF draft) or "X-RateLimit", "" when it has neither.
func family(resp *harness.Response) string {
	for _, f := range []string{"RateLimit", "X-RateLimit"} {
		if resp.Header.Get(f+"-Remaining") != "" || resp.Header.Get(f+"-Limit") != "" {
			return f
		}
	}
	return ""
}

// header returns resp's <family>-<name> as an integer.
func header(resp *harness.Response, fam, name string) (int64, bool) {
	v := strings.TrimSpace(resp.Header.Get(fam + "-" + name))
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// remaining is the response's Remaining count, of either family.
func remaining(resp *harness.Response) (int64, bool) {
	fam := family(resp)
	if fam == "" {
		return 0, false
	}
	return header(resp, fam, "Remaining")
}

// rolledOver reports whether Remaining went up between two consecutive
// responses: a fixed window ended during the burst.
func rolledOver(resps []*harness.Response) bool {
	prev := int64(-1)
	for _, r := range resps {
		n, ok := remaining(r)
		if !ok {
			continue
		}
		if prev >= 0 && n > prev {
			return true
		}
		prev = n
	}
	return false
}

// retryAfter reads a 429's Retry-After: an integer number of seconds with
// 0 < x <= the window.
func retryAfter(resp *harness.Response, l limits) (int, error) {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, grader.Failf("%s %s answered 429 without a Retry-After header", resp.Method, resp.Path).
			WithHint("tell the client when to come back: Retry-After with the whole seconds left in the window (rounded up)")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, grader.Failf("the 429's Retry-After is %q: expected a whole number of seconds", v).
			WithHint("send Retry-After as delta seconds (e.g. Retry-After: 3), not a date, a fraction or milliseconds")
	}
	if n <= 0 || n > l.W {
		return 0, grader.Failf("the 429's Retry-After is %d seconds: expected 0 < Retry-After <= %d (%s)", n, l.W, WindowVar).
			WithHint("Retry-After is the time left until the client's window ends, in seconds rounded up, so it is never more than RATE_LIMIT_WINDOW_SECONDS and never 0")
	}
	return n, nil
}

// sendAll sends reqs in order and returns the responses.
func sendAll(ctx context.Context, h *harness.H, reqs []harness.Request) ([]*harness.Response, error) {
	out := make([]*harness.Response, 0, len(reqs))
	for _, r := range reqs {
		resp, err := h.Do(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	return out, nil
}

// repeat is n copies of r.
func repeat(r harness.Request, n int) []harness.Request {
	out := make([]harness.Request, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// untilRefused sends r until a 429 comes back (at most max requests) and
// returns that response, or nil when none came.
func untilRefused(ctx context.Context, h *harness.H, r harness.Request, max int) (*harness.Response, int, error) {
	for i := 1; i <= max; i++ {
		resp, err := h.Do(ctx, r)
		if err != nil {
			return nil, i, err
		}
		if resp.Status == 429 {
			return resp, i, nil
		}
	}
	return nil, max, nil
}

// exhaust sends r until a 429 comes back (at most 2N+2 requests, see
// untilRefused) and returns that response; when none comes it fails,
// saying what could therefore not be tested (why, e.g. "the limit could not
// be exhausted").
func exhaust(ctx context.Context, h *harness.H, r harness.Request, l limits, why string) (*harness.Response, error) {
	refused, n, err := untilRefused(ctx, h, r, 2*l.N+2)
	if err != nil {
		return nil, err
	}
	if refused == nil {
		return nil, grader.Failf("with %s one user sent %d requests to GET /todos and none got 429, so %s (see rate-limiting.limit)", l, n, why).
			WithHint("count each user's requests per window and answer 429 above %s", RequestsVar)
	}
	return refused, nil
}

// withFreshUser runs try with a fresh user. When try says that a window may
// have ended during its burst (retry), it notes so in the transcript and
// runs try once more with another fresh user, whose verdict stands.
func withFreshUser(ctx context.Context, h *harness.H, try func(u *harness.User) (err error, retry bool)) error {
	for attempt := 0; ; attempt++ {
		u, err := freshUser(ctx, h)
		if err != nil {
			return err
		}
		err, retry := try(u)
		if retry && attempt == 0 {
			rolledNote(h)
			continue
		}
		return err
	}
}

// rolledNote records that a burst is retried in a new window.
func rolledNote(h *harness.H) {
	h.Record("note", "a fixed window may have ended during the burst: trying once more with a fresh user", "")
}

// unixNow is the time, for X-RateLimit-Reset given as an epoch.
var unixNow = func() int64 { return time.Now().Unix() }
