package grader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/harness"
)

// urlService is a harness.Service at a test server's URL.
type urlService struct{ url string }

func (s urlService) URL() string                   { return s.url }
func (s urlService) Restart(context.Context) error { return nil }
func (s urlService) Logs(int) []string             { return nil }
func (s urlService) Exited() error                 { return nil }
func (s urlService) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, errors.New("not supported")
}

func serve(t *testing.T, fn http.HandlerFunc) *harness.H {
	t.Helper()
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	return harness.New(harness.Options{Service: urlService{srv.URL}, Seed: 1,
		Env: map[string]string{"RATE_LIMIT_REQUESTS": "100000", "RATE_LIMIT_WINDOW_SECONDS": "60"}})
}

// outcomes runs stages and returns each check's "status blockedBy"; every
// blocked check's message must say cause.
func outcomes(t *testing.T, stages []Stage, h *harness.H, cause string) (RunResult, map[string]string) {
	t.Helper()
	run, err := (&Runner{}).Run(context.Background(), stages, h)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range run.Stages {
		for _, c := range st.Checks {
			got[c.ID] = string(c.Status) + " " + c.BlockedBy
			if c.Status == StatusBlocked && !strings.Contains(c.Message, cause) {
				t.Errorf("%s: message %q does not say %q", c.ID, c.Message, cause)
			}
		}
	}
	return run, got
}

// get is a check that GETs path and fails unless it gets want.
func get(id, path string, want int) Check {
	return check(id, 1, func(ctx context.Context, h *harness.H) error {
		r, err := h.Get(ctx, path)
		if err != nil {
			return err
		}
		if r.Status != want {
			return Failf("GET %s: expected %d, got %d", path, want, r.Status)
		}
		return nil
	})
}

// A check before the rate-limiting stage that met a 429 and did not pass
// is blocked by the check that grades the limit, and the run says why
// once; checks that passed, and the rate-limiting stage's own checks, keep
// their outcome.
func TestChecksThatMet429BeforeTheLimitStageAreBlocked(t *testing.T) {
	h := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	stages := []Stage{
		{ID: "rest", Checks: []Check{
			get("rest.a", "/limited", 400),
			get("rest.b", "/ok", 200),
			check("rest.c", 1, func(ctx context.Context, h *harness.H) error {
				if _, err := h.Get(ctx, "/limited"); err != nil {
					return err
				}
				return Blockedf("rest.create", "creating a todo failed")
			}),
			get("rest.d", "/ok", 404),
		}},
		{ID: limitStageID, Checks: []Check{get(harness.LimitCheck, "/limited", 200)}},
	}
	run, got := outcomes(t, stages, h, "429 Too Many Requests before the rate-limiting stage (GET /limited)")
	want := map[string]string{
		"rest.a": "blocked " + harness.LimitCheck, "rest.b": "pass ", "rest.c": "blocked " + harness.LimitCheck,
		"rest.d": "fail ", harness.LimitCheck: "fail ",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if len(run.Diagnoses) != 1 || run.Diagnoses[0].Kind != "throttled" || run.Diagnoses[0].Checks != 2 {
		t.Errorf("diagnoses: %+v, want one throttled for 2 checks", run.Diagnoses)
	}
}

// A check after the auth stage that did not pass and whose request with a
// token from the service's own register was answered 401 is blocked by
// the check that grades tokens; a check that sent its own bad token, and
// the auth stage's checks, keep their outcome; the run says why once.
func TestChecksWhoseLoginTokenMet401AreBlocked(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/register":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"token":%q}`, tok)
		case r.Method == http.MethodPost: // POST /todos refuses every token
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	h := harness.New(harness.Options{Service: urlService{srv.URL}, Seed: 1, Auth: true})
	post := func(id string, req harness.Request) Check {
		return check(id, 1, func(ctx context.Context, h *harness.H) error {
			req.Method = http.MethodPost
			r, err := h.Do(ctx, req)
			if err != nil {
				return err
			}
			if r.Status != http.StatusCreated {
				return Failf("POST /todos: expected 201, got %d", r.Status)
			}
			return nil
		})
	}
	stages := []Stage{
		{ID: authStageID, Checks: []Check{post("auth.x", harness.Request{Path: "/todos"})}},
		{ID: "caching", Checks: []Check{
			post("caching.a", harness.Request{Path: "/todos"}),
			get("caching.b", "/todos", 200),
			post("caching.c", harness.Request{Path: "/todos", Token: "not-a-login-token"}),
		}},
	}
	run, got := outcomes(t, stages, h, "401 Unauthorized to POST /todos with a token its own /register or /login gave")
	want := map[string]string{"auth.x": "fail ", "caching.a": "blocked " + harness.RegisterCheck, "caching.b": "pass ", "caching.c": "fail "}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if len(run.Diagnoses) != 1 || run.Diagnoses[0].Kind != "token-401" || run.Diagnoses[0].Checks != 1 {
		t.Errorf("diagnoses: %+v, want one token-401 for 1 check", run.Diagnoses)
	}
}

func TestEveryRoute404AndPublicRoute401AreDiagnosed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    []string
	}{
		{"prefix", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }, []string{"routes-404"}},
		{"auth in front of health", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		}, []string{"public-401"}},
		{"fine", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusNotFound)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := serve(t, tc.handler)
			var cs []Check
			for _, p := range []string{"/health", "/todos", "/todos/1", "/register", "/health", "/nope"} {
				cs = append(cs, get("http."+strings.ReplaceAll(p, "/", "-"), p, 200))
			}
			run, err := (&Runner{}).Run(context.Background(), []Stage{{ID: "http", Checks: cs}}, h)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, d := range run.Diagnoses {
				kinds = append(kinds, d.Kind)
				if d.Message == "" || d.Fix == "" {
					t.Errorf("%s: a diagnosis says what was seen and what to change: %+v", d.Kind, d)
				}
			}
			if d := cmp.Diff(tc.want, kinds); d != "" {
				t.Errorf("diagnoses (-want +got):\n%s", d)
			}
		})
	}
}
