package grading

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// fakeService is a learner's service served in-process: a correct
// implementation of the http stage.
type fakeService struct {
	srv     *httptest.Server
	stopped bool
}

func newFakeService() *fakeService {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodGet {
				_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
			}
		default:
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "Method Not Allowed"})
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "Not Found"})
	})
	return &fakeService{srv: httptest.NewServer(mux)}
}

func (s *fakeService) URL() string                   { return s.srv.URL }
func (s *fakeService) Restart(context.Context) error { return nil }
func (s *fakeService) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, errors.New("the fake service starts no second instance")
}
func (s *fakeService) Logs(int) []string { return nil }
func (s *fakeService) Exited() error     { return nil }
func (s *fakeService) Command() string   { return "fake-server" }
func (s *fakeService) Stop(context.Context) error {
	s.stopped = true
	s.srv.Close()
	return nil
}

// fakeLauncher records what it was asked and starts a fakeService.
type fakeLauncher struct {
	buildErr, startErr error
	launch             Launch
	svc                *fakeService
	box                *fakeBox
	boxErr             error
}

func (l *fakeLauncher) Load(dir string) (*Project, error) {
	return &Project{Dir: dir, Found: true, Run: "./server"}, nil
}

func (l *fakeLauncher) Build(_ context.Context, c Launch) error {
	l.launch = c
	return l.buildErr
}

func (l *fakeLauncher) Start(_ context.Context, c Launch) (Service, error) {
	if l.startErr != nil {
		return nil, l.startErr
	}
	l.svc = newFakeService()
	return l.svc, nil
}

func (l *fakeLauncher) OpenBox(_ context.Context, r BoxRequest) (Box, error) {
	if l.boxErr != nil {
		return nil, l.boxErr
	}
	l.box = &fakeBox{sandboxed: r.Sandbox != nil}
	return l.box, nil
}

// fakeBox is a box on loopback that records its Close.
type fakeBox struct{ sandboxed, closed bool }

func (b *fakeBox) Host() string                { return "127.0.0.1" }
func (b *fakeBox) Describe() string            { return "graded in a fake box" }
func (b *fakeBox) Close(context.Context) error { b.closed = true; return nil }

// fakeServers hands out a scope and records its release.
type fakeServers struct {
	mu       sync.Mutex
	isolated []string
	released int
}

func (f *fakeServers) Network() string { return "" }

func (f *fakeServers) Isolate(_ context.Context, id string) (*Scope, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isolated = append(f.isolated, id)
	return &Scope{
		Env:    map[string]string{"DATABASE_URL": "postgres://fake/" + id},
		NetEnv: map[string]string{"DATABASE_URL": "postgres://postgres:5432/" + id},
		Notes:  []string{"fake servers"},
		Release: func(context.Context) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.released++
			return nil
		},
	}, nil
}

func plan(t *testing.T, sel Selection, m *Project) *Plan {
	t.Helper()
	sel.SeedSet = true
	p, err := NewPlan(sel, m)
	if err != nil {
		t.Fatal(err)
	}
	p.ScopeID = "t1"
	return p
}

func statuses(rep *grader.Report) map[string]grader.Status {
	out := map[string]grader.Status{}
	for _, s := range rep.Stages {
		for _, c := range s.Checks {
			out[c.ID] = c.Status
		}
	}
	return out
}

// A correct service passes the http stage, and the service is stopped.
func TestGradePassesACorrectService(t *testing.T) {
	l := &fakeLauncher{}
	p := plan(t, Selection{Stage: "http", Seed: 7}, &Project{Dir: "/p", Run: "./server"})
	rep, err := Grade(context.Background(), p, Deps{Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.Score != rep.MaxScore || rep.MaxScore == 0 {
		t.Errorf("passed %v, %d/%d; want every check of the http stage passed: %v", rep.Passed, rep.Score, rep.MaxScore, statuses(rep))
	}
	if len(statuses(rep)) != len(p.Stages[0].Checks) {
		t.Errorf("%d checks ran, want the stage's %d", len(statuses(rep)), len(p.Stages[0].Checks))
	}
	if rep.Submission.Run != "fake-server" || rep.Seed != 7 || rep.Stage != "http" {
		t.Errorf("report says run %q, seed %d, stage %q", rep.Submission.Run, rep.Seed, rep.Stage)
	}
	if !l.svc.stopped {
		t.Error("the service was not stopped after the checks")
	}
	if l.launch.Labels["io.grader.run"] != "t1" {
		t.Errorf("labels %v, want io.grader.run=t1", l.launch.Labels)
	}
}

// The run's share of the servers reaches the service, --env comes last,
// the share is released, and a stage that declares a session makes the
// run act as a logged-in user.
func TestGradeIsolatesAndReleasesItsScope(t *testing.T) {
	l := &fakeLauncher{}
	srv := &fakeServers{}
	p := plan(t, Selection{Stage: "auth", Checks: []string{"http.health"}, Env: []string{"DATABASE_URL=postgres://mine"}}, &Project{})
	if !p.Session || !slices.Contains(p.Need, grader.Postgres) {
		t.Fatalf("plan at auth: session %v, needs %v; want a session and postgres", p.Session, p.Need)
	}
	rep, err := Grade(context.Background(), p, Deps{Launcher: l, Servers: srv})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); len(got) != 1 || got["http.health"] != grader.StatusPass {
		t.Errorf("statuses %v, want http.health alone, passed", got)
	}
	if got := l.launch.Env["DATABASE_URL"]; got != "postgres://mine" {
		t.Errorf("DATABASE_URL = %q, want the --env override", got)
	}
	if l.launch.Env["JWT_SECRET"] == "" {
		t.Errorf("no JWT_SECRET in the service's environment: %v", l.launch.Env)
	}
	if len(srv.isolated) != 1 || srv.isolated[0] != "t1" || srv.released != 1 {
		t.Errorf("isolated %v, released %d; want t1 isolated and released once", srv.isolated, srv.released)
	}
	if !slices.Contains(rep.Notes, "fake servers") {
		t.Errorf("notes %v lack the scope's", rep.Notes)
	}
}

// A build that fails is the learner's problem: in the report, not an error.
func TestGradeBuildFailureIsInTheReport(t *testing.T) {
	l := &fakeLauncher{buildErr: &ProjectError{Kind: "build", Message: "go build failed", Hint: "run it yourself"}}
	p := plan(t, Selection{Stage: "http"}, &Project{Run: "./server"})
	rep, err := Grade(context.Background(), p, Deps{Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Problem == nil || rep.Problem.Kind != "build" || rep.Score != 0 || rep.MaxScore == 0 {
		t.Fatalf("problem %+v, %d/%d; want a build problem scoring 0 of the stage", rep.Problem, rep.Score, rep.MaxScore)
	}
	for id, st := range statuses(rep) {
		if st != grader.StatusError {
			t.Errorf("%s: %s, want not run", id, st)
		}
	}
}

// The environment failing is an error, never a score.
func TestGradeEnvironmentFailureIsAnError(t *testing.T) {
	l := &fakeLauncher{startErr: &EnvError{Message: "docker is not running", Fix: "start it"}}
	p := plan(t, Selection{Stage: "http"}, &Project{Run: "./server"})
	rep, err := Grade(context.Background(), p, Deps{Launcher: l})
	var ee *EnvError
	if !errors.As(err, &ee) || rep != nil {
		t.Errorf("got %v, %v; want the *EnvError and no report", rep, err)
	}
}

// Session is the stages' declaration, whatever their ids: the manifest's
// later stage brings it too.
func TestPlanSessionComesFromTheStage(t *testing.T) {
	for _, tc := range []struct {
		asked, manifest string
		want            bool
	}{
		{"http", "", false},
		{"persistence", "", false},
		{"auth", "", true},
		{"caching", "", true},
		{"http", "caching", true},
	} {
		p := plan(t, Selection{Stage: tc.asked}, &Project{Stage: tc.manifest})
		if p.Session != tc.want {
			t.Errorf("asked %s, manifest %q: session %v, want %v", tc.asked, tc.manifest, p.Session, tc.want)
		}
	}
}

// Check loads, plans and grades with the System it is given.
func TestCheckUsesTheSystem(t *testing.T) {
	l := &fakeLauncher{}
	rep, err := Check(context.Background(), CheckRequest{Dir: t.TempDir(), Selection: Selection{Stage: "http"},
		Services: ServiceOptions{Mode: "auto"}, Version: "v9.9.9"}, System{Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.Grader.Version != "v9.9.9" {
		t.Errorf("passed %v, version %q", rep.Passed, rep.Grader.Version)
	}
	_, err = Check(context.Background(), CheckRequest{Dir: t.TempDir(), Selection: Selection{Stage: "http"},
		Services: ServiceOptions{Mode: "cloud"}}, System{Launcher: l})
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Errorf("--services cloud: got %v, want a usage error", err)
	}
}

// A sandboxed plan runs in a box that is closed afterwards, and the report
// says so; a docker: true project whose engine cannot share a network with
// the grader runs without one, reaching its services directly; a sandbox
// that cannot be had is the environment's failure.
func TestGradeBoxes(t *testing.T) {
	l := &fakeLauncher{}
	p := plan(t, Selection{Stage: "http", Seed: 7}, &Project{Dir: "/p", Run: "./server"})
	p.Sandbox = &Sandbox{}
	rep, err := Grade(context.Background(), p, Deps{Launcher: l})
	if err != nil {
		t.Fatal(err)
	}
	if l.launch.Box == nil || !l.box.sandboxed || !l.box.closed || !slices.Contains(rep.Notes, "graded in a fake box") {
		t.Errorf("launch box %v, box %+v, notes %q", l.launch.Box, l.box, rep.Notes)
	}

	l = &fakeLauncher{boxErr: fmt.Errorf("%w: gateway 192.168.65.1", ErrRemoteEngine)}
	p = plan(t, Selection{Stage: "http", Seed: 7}, &Project{Dir: "/p", Docker: true})
	p.Need = []grader.Service{grader.Postgres}
	if _, err := Grade(context.Background(), p, Deps{Launcher: l, Servers: &fakeServers{}}); err != nil {
		t.Fatal(err)
	}
	if l.launch.Box != nil || l.launch.Env["DATABASE_URL"] != "postgres://postgres:5432/t1" {
		t.Errorf("docker: true on a remote engine: box %v, DATABASE_URL %q, want none and the services' network address", l.launch.Box, l.launch.Env["DATABASE_URL"])
	}

	l = &fakeLauncher{boxErr: &EnvError{Message: "no Docker engine answers"}}
	p = plan(t, Selection{Stage: "http", Seed: 7}, &Project{Dir: "/p", Run: "./server"})
	p.Sandbox = &Sandbox{}
	var ee *EnvError
	if _, err := Grade(context.Background(), p, Deps{Launcher: l}); !errors.As(err, &ee) {
		t.Errorf("sandbox without Docker: %v, want the EnvError", err)
	}
}
