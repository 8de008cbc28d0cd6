package ratelimiting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// limits are the tight limits one check's instances run with.
type limits struct {
	N int // requests per window
	W int // window in seconds
}

func (l limits) env() map[string]string {
	return map[string]string{RequestsVar: strconv.Itoa(l.N), WindowVar: strconv.Itoa(l.W)}
}

func (l limits) String() string {
	return fmt.Sprintf("%s=%d %s=%d", RequestsVar, l.N, WindowVar, l.W)
}

// tight draws a small limit and a window of 30 to 60 seconds from the
// check's random source, so that hard-coded values fail. Checks that never
// wait for a window to end use it: a long window makes it unlikely that a
// fixed window ends in the middle of a burst.
func tight(h *harness.H) limits {
	return limits{N: 5 + h.Rand.IntN(5), W: 30 + h.Rand.IntN(31)}
}

// tightShort is tight with a window of 2 to 4 seconds, for the check that
// waits one out.
func tightShort(h *harness.H) limits {
	l := tight(h)
	l.W = 2 + h.Rand.IntN(3)
	return l
}

// instances starts n extra instances of the service with limits l (they
// share the run's Postgres and Redis). The returned stop function stops
// them all; call it even when err is not nil.
func instances(ctx context.Context, h *harness.H, l limits, n int) ([]harness.Instance, func(), error) {
	if !h.Auth {
		return nil, func() {}, grader.Skipf("per-user limits need users: this run does not include the auth stage")
	}
	var started []harness.Instance
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, in := range started {
			_ = in.Stop(sctx)
		}
	}
	for i := range n {
		in, err := h.Service.StartInstance(ctx, l.env())
		if err != nil {
			h.Record("note", "start another instance of the service with "+l.String(), "failed: "+err.Error())
			return nil, stop, grader.Failf("starting instance %d of your service with %s (same Postgres and Redis): %v", i+2, l, err).
				WithHint("the service must start from the environment alone, on the PORT it is given, while another instance is running")
		}
		started = append(started, in)
		h.Record("note", fmt.Sprintf("started another instance of the service at %s with %s", in.URL(), l), "listening")
	}
	return started, stop, nil
}

// freshUser registers a user (through the main instance: users live in the
// shared database, so the token works on every instance).
func freshUser(ctx context.Context, h *harness.H) (*harness.User, error) {
	u, err := h.NewUser(ctx)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
