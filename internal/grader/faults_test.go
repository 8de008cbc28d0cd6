package grader_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/faults"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

type noService struct{}

func (noService) URL() string                   { return "http://127.0.0.1:1" }
func (noService) Restart(context.Context) error { return nil }
func (noService) Logs(int) []string             { return nil }
func (noService) Exited() error                 { return nil }
func (noService) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, errors.New("not supported")
}

// A check that fails (or overruns) while a fault is active leaves none
// behind: the next check reaches a real Redis through the same proxy.
func TestFaultIsUndoneWhateverTheCheck(t *testing.T) {
	url := os.Getenv("GRADER_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	ping := func(ctx context.Context, rdb *redis.Client) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	}
	direct := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if opts, err := redis.ParseURL(url); err == nil {
		direct = redis.NewClient(opts)
	}
	defer direct.Close()
	if err := ping(context.Background(), direct); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s: %v (CI=true: this must run in CI)", url, err)
		}
		t.Skipf("redis at %s is not reachable: %v", url, err)
	}
	set := faults.NewSet("127.0.0.1")
	defer set.Close()
	if _, err := set.AddURL("redis", url); err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(set.RewriteURL("redis", url))
	opts.MaxRetries = -1
	service := redis.NewClient(opts) // the learner's service's view
	defer service.Close()

	var healthy []string
	healthyCheck := func(id string) grader.Check {
		return grader.Check{ID: id, Title: id, Points: 1, Run: func(ctx context.Context, h *harness.H) error {
			if err := ping(ctx, service); err != nil {
				return grader.Failf("redis through the proxy: %v", err)
			}
			healthy = append(healthy, id)
			return nil
		}}
	}
	downAndFail := func(ctx context.Context, h *harness.H) error {
		if err := h.Fault("redis").Down(ctx); err != nil {
			return err
		}
		if err := ping(ctx, service); err == nil {
			return errors.New("the proxy is down, yet redis answered through it")
		}
		return grader.Failf("the service did not cope")
	}
	stage := grader.Stage{ID: "s", Checks: []grader.Check{
		{ID: "s.down-fails", Title: "x", Points: 1, Run: downAndFail},
		healthyCheck("s.after-fail"),
		{ID: "s.slow-overruns", Title: "x", Points: 1, Timeout: 200 * time.Millisecond, Run: func(ctx context.Context, h *harness.H) error {
			if err := h.Fault("redis").Slow(ctx, 5*time.Second); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}},
		healthyCheck("s.after-overrun"),
		{ID: "s.missing", Title: "x", Points: 1, Run: func(ctx context.Context, h *harness.H) error {
			return h.Fault("rabbitmq").Down(ctx)
		}},
	}}
	h := harness.New(harness.Options{Service: noService{}, Seed: 1, Proxies: set})
	run, err := (&grader.Runner{}).Run(context.Background(), []grader.Stage{stage}, h)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]grader.Status{}
	for _, c := range run.Stages[0].Checks {
		got[c.ID] = c.Status
	}
	want := map[string]grader.Status{
		"s.down-fails": grader.StatusFail, "s.after-fail": grader.StatusPass,
		"s.slow-overruns": grader.StatusError, "s.after-overrun": grader.StatusPass,
		"s.missing": grader.StatusSkip,
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s: %s, want %s", id, got[id], st)
		}
	}
	if len(healthy) != 2 {
		t.Errorf("healthy checks %v, want both", healthy)
	}
}
