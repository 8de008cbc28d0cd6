package http

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const (
	burst       = 20              // requests sent at once
	burstWithin = 5 * time.Second // all of them must be answered within this
)

type outcome struct {
	status int
	err    error
	took   time.Duration
}

// concurrent: 20 GET /health at once, each on its own connection (kept open
// afterwards, as browsers do), all answered 200 within burstWithin.
//
// What it cannot tell: only /health exists at this stage, so a service that
// answers /health concurrently and serialises its other routes passes here
// (rate-limiting.global's concurrent burst on /todos catches a limiter
// that is not safe under concurrency, not a global lock).
func concurrent(ctx context.Context, h *harness.H) error {
	tr := &http.Transport{MaxIdleConnsPerHost: burst, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, burstWithin)
	defer cancel()

	url := h.URL("/health")
	results := make([]outcome, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				results[i] = outcome{err: err}
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				results[i] = outcome{err: err, took: time.Since(t0)}
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			results[i] = outcome{status: resp.StatusCode, took: time.Since(t0)}
		}()
	}
	close(start)
	wg.Wait()

	for _, r := range results {
		if r.err == nil {
			h.Answered(http.MethodGet, "/health", r.status, false)
		}
	}
	summary, ok := summarize(results)
	h.Record("http", fmt.Sprintf("%d x %s, all at once", burst, harness.Curl(http.MethodGet, url, nil, nil)), summary)
	if ok {
		return nil
	}
	f := grader.Failf("expected %d concurrent GET /health to be answered 200 within %s, got: %s", burst, burstWithin, summary)
	if ctx.Err() != nil {
		return f.WithHint("requests waited for each other: the service handles one request (or one connection) at a time, or a handler holds a global lock while it works; serve each connection concurrently and keep locks short")
	}
	if h := expect.TransportHint(summary); h != "" {
		return f.WithHint("%s", h)
	}
	if st, same := sameStatus(results); same {
		// Every request got the same wrong answer: not a concurrency
		// problem, GET /health itself answers that (http.health says more).
		return f.WithHint("every request got %s, so the burst is not the problem: GET /health itself does not answer 200 (see http.health)", expect.StatusText(st))
	}
	return f.WithHint("under concurrent load some requests failed: look for shared state without a lock (a map written by several handlers) or a connection limit that is too low")
}

// sameStatus reports whether every request was answered, all with the
// same status, and which.
func sameStatus(rs []outcome) (int, bool) {
	for _, r := range rs {
		if r.err != nil || r.status != rs[0].status {
			return 0, false
		}
	}
	return rs[0].status, len(rs) > 0
}

// summarize counts outcomes ("18 x 200, 2 x no answer (timed out)") and
// reports whether all were 200.
func summarize(rs []outcome) (string, bool) {
	counts := map[string]int{}
	var slowest time.Duration
	ok := true
	for _, r := range rs {
		key := fmt.Sprintf("%d", r.status)
		if r.err != nil {
			key = "no answer (" + shortErr(r.err) + ")"
		}
		if r.err != nil || r.status != http.StatusOK {
			ok = false
		}
		counts[key]++
		slowest = max(slowest, r.took)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d x %s", counts[k], k)
	}
	return fmt.Sprintf("%s; slowest %s", strings.Join(parts, ", "), slowest.Round(time.Millisecond)), ok
}

func shortErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "deadline exceeded") || strings.Contains(s, "Client.Timeout"):
		return "timed out"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "reset") || strings.Contains(s, "EOF"):
		return "connection closed"
	}
	return harness.Shorten(s, 80)
}
