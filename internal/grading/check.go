package grading

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/runlock"
)

// CheckRequest is one `grader check`: a project, what to run, and where
// the services come from.
type CheckRequest struct {
	Dir       string
	Selection Selection
	Services  ServiceOptions // RunID and Logf are set by Check
	Version   string
	// Log receives the [grader] progress lines (nil: none).
	Log io.Writer
	// Echo receives the service's output live (nil: not shown).
	Echo io.Writer
	// OnStart / OnResult report progress per check (optional).
	OnStart  func(grader.Stage, grader.Check)
	OnResult func(grader.Stage, grader.CheckResult)
}

// Check grades one project where it is: it loads the manifest, makes the
// plan, starts the servers the plan needs, grades, and stops them. The
// report comes back whenever there is one (also with ErrInterrupted); the
// caller writes it. The caller's mistakes are *UsageError, before the
// project's.
func Check(ctx context.Context, r CheckRequest, sys System) (*grader.Report, error) {
	dir, err := filepath.Abs(r.Dir)
	if err != nil {
		return nil, Usagef("project directory %q: %v", r.Dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, Usagef("project directory %q does not exist or is not a directory", r.Dir)
	}
	// The caller's mistakes first (exit 2), before the project's (exit 1).
	if err := r.Selection.Validate(); err != nil {
		return nil, err
	}
	if err := validMode(r.Services.Mode); err != nil {
		return nil, err
	}
	logf := func(string, ...any) {}
	if r.Log != nil {
		logf = Logger(r.Log)
	}
	runID := NewRunID()
	unlock, err := holdRun(runID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sopts := r.Services
	sopts.RunID, sopts.Logf = runID, logf

	m, err := sys.Launcher.Load(dir)
	if err != nil {
		return nil, err
	}
	p, err := NewPlan(r.Selection, m)
	if err != nil {
		return nil, err
	}
	p.ScopeID, p.Version = runID, r.Version
	logf("grading %s: %s", dir, p.Describe())

	var servers Servers
	var provisionMs int64
	if len(p.Need) > 0 {
		t := time.Now()
		var stop func()
		servers, stop, err = StartServers(ctx, sys.Services, sopts, p.Need, logf)
		defer stop()
		if err != nil {
			return nil, err
		}
		provisionMs = time.Since(t).Milliseconds()
	}
	d := Deps{Launcher: sys.Launcher, Echo: r.Echo, Logf: logf, OnStart: r.OnStart, OnResult: r.OnResult}
	if servers != nil {
		d.Servers = servers
	}
	rep, err := Grade(ctx, p, d)
	if rep != nil {
		rep.Timings.ProvisionMs += provisionMs
		rep.Timings.TotalMs += provisionMs
	}
	return rep, err
}

func validMode(mode string) error {
	if !slices.Contains(Modes, mode) {
		return Usagef("--services %q: use docker, external or auto", mode)
	}
	return nil
}

// NewRunID is a random id for a run's labels and scopes.
func NewRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// holdRun marks the run live while the process lives (runlock), before it
// creates anything, so that 'grader clean' leaves its containers alone.
func holdRun(runID string) (func(), error) {
	release, err := runlock.Hold(runID)
	if err != nil {
		return nil, &EnvError{Message: "cannot mark this run as live for 'grader clean': " + err.Error(),
			Fix: "make " + runlock.Dir() + " writable, or set " + runlock.DirEnv + " to a writable directory"}
	}
	return release, nil
}

// StartServers starts the servers of need. stop closes them (never nil:
// call it even on an error, a failed start may leave some behind).
func StartServers(ctx context.Context, svc Services, opts ServiceOptions, need []grader.Service, logf func(string, ...any)) (Servers, func(), error) {
	if svc == nil {
		return nil, func() {}, &EnvError{Message: "this grader has no way to start services (a grader bug: System.Services is nil)"}
	}
	servers, err := svc.Start(ctx, opts, need)
	stop := func() {
		if servers == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := servers.Close(cctx); err != nil {
			logf("cleanup: %v (run 'grader clean' to remove what is left)", err)
		}
	}
	if ctx.Err() != nil {
		return servers, stop, ErrInterrupted
	}
	return servers, stop, err
}
