package grading

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/backend-grader/grader/internal/faults"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// Deps are what grading one submission needs from outside.
type Deps struct {
	// Servers are the running servers (nil: the plan needs none).
	Servers  Provisioner
	Launcher Launcher
	// Echo receives the service's output, prefixed (nil: not shown live).
	Echo io.Writer
	Logf func(format string, args ...any)
	// OnStart / OnResult report progress per check (optional).
	OnStart  func(grader.Stage, grader.Check)
	OnResult func(grader.Stage, grader.CheckResult)
}

// Grade builds, starts and checks the plan's project and returns its
// report. A learner's problem (no build, no start, a crash) is in the
// report, not in the error; the error is for the environment (an
// *EnvError, exit 3) or an interrupt (ErrInterrupted, with the report so
// far).
func Grade(ctx context.Context, p *Plan, d Deps) (*grader.Report, error) {
	start := time.Now()
	if d.Logf == nil {
		d.Logf = func(string, ...any) {}
	}
	if d.Launcher == nil {
		return nil, errors.New("grading needs a launcher (a grader bug: Deps.Launcher is nil)")
	}
	m := p.Project
	rep := EmptyReport(p)
	if !m.Found && m.Detected != "" {
		rep.Notes = append(rep.Notes, "no grader.yaml: "+m.Detected)
	}
	if p.Effective.ID != p.Stage.ID {
		rep.Notes = append(rep.Notes, fmt.Sprintf("grader.yaml says stage %s: the service gets what that stage needs", p.Effective.ID))
	}
	defer func() {
		rep.Timings.TotalMs = time.Since(start).Milliseconds()
	}()

	labels := map[string]string{"io.grader.run": p.ScopeID}
	// A project run in containers gets a network of its own; the grader's
	// listeners for it (proxies, webhook receiver) listen on its gateway.
	var box Box
	serviceHost := "127.0.0.1"
	if p.Sandbox != nil || m.Docker {
		b, err := d.Launcher.OpenBox(ctx, BoxRequest{Labels: labels, Sandbox: p.Sandbox, Logf: d.Logf})
		switch {
		case err == nil:
			box, serviceHost = b, b.Host()
			defer func() {
				if err := b.Close(context.WithoutCancel(ctx)); err != nil {
					d.Logf("%v", err)
				}
			}()
			if p.Sandbox != nil {
				rep.Notes = append(rep.Notes, b.Describe())
			}
		case p.Sandbox != nil || !errors.Is(err, ErrRemoteEngine):
			return nil, err
		default:
			// docker: true on an engine the grader cannot share a network
			// with (Docker Desktop): the container joins the services'
			// network and reaches them directly, without fault proxies.
			d.Logf("%v: your container reaches its services directly, so the checks that inject faults or receive webhooks cannot reach it", err)
			rep.Notes = append(rep.Notes, "docker: true on a Docker engine whose networks are not on this machine: faults and webhooks could not reach the container")
		}
	}

	// Isolation: a database, a Redis database and a vhost of its own.
	var scope *Scope
	var proxies *faults.Set
	urls := map[string]string{}
	if d.Servers != nil && len(p.Need) > 0 {
		t := time.Now()
		var err error
		scope, err = d.Servers.Isolate(ctx, p.ScopeID)
		if err != nil {
			return nil, err
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			if err := scope.Release(rctx); err != nil {
				d.Logf("could not remove this run's databases: %v", err)
			}
		}()
		rep.Timings.ProvisionMs += time.Since(t).Milliseconds()
		rep.Notes = append(rep.Notes, scope.Notes...)
		if m.Docker && box == nil {
			urls = scope.NetEnv
		} else {
			// The service reaches its dependencies through the grader's
			// fault proxy (DESIGN §6); the grader's own clients stay direct.
			set, env, err := startProxies(serviceHost, scope.Env)
			if err != nil {
				return nil, &EnvError{Message: err.Error()}
			}
			proxies, urls = set, env
			// Registered before the service's Stop, so it runs after it.
			defer func() { _ = set.Close() }()
		}
	}
	cfg := Launch{
		Project: m,
		Env:     p.ServiceEnv(urls, serviceHost),
		Output:  d.Echo,
		Logf:    d.Logf,
		Labels:  labels,
		Limits:  p.Limits,
		Box:     box,
	}
	if d.Servers != nil {
		cfg.Network = d.Servers.Network()
	}

	notRun := func(err error) (*grader.Report, error) {
		var pe *ProjectError
		if !errors.As(err, &pe) {
			return nil, err
		}
		rep.Problem = &grader.Problem{Kind: pe.Kind, Message: pe.Message, Hint: pe.Hint, Log: pe.Log}
		rep.Stages = NotRunResults(p, pe.Message)
		rep.Tally()
		return rep, nil
	}

	t := time.Now()
	err := d.Launcher.Build(ctx, cfg)
	rep.Timings.BuildMs = time.Since(t).Milliseconds()
	if ctx.Err() != nil {
		return rep, ErrInterrupted
	}
	if err != nil {
		return notRun(err)
	}

	t = time.Now()
	proc, err := d.Launcher.Start(ctx, cfg)
	rep.Timings.StartMs = time.Since(t).Milliseconds()
	if proc != nil {
		rep.Submission.Run = proc.Command()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			_ = proc.Stop(sctx)
		}()
	}
	if ctx.Err() != nil {
		return rep, ErrInterrupted
	}
	if err != nil {
		return notRun(err)
	}

	hopts := harness.Options{
		Env:     cfg.Env,
		Seed:    p.Seed,
		Service: proc,
		Auth:    p.Session,
		Logf:    d.Logf,
		// Where the service reaches the grader's own listeners.
		ServiceHost: serviceHost,
	}
	hopts.BasePath, hopts.Tables = m.BasePath, m.Tables // grader.yaml: where the routes and the data live
	if scope != nil {
		hopts.PG, hopts.Redis, hopts.AMQPURL, hopts.Faults = scope.PG, scope.Redis, scope.AMQPURL, scope.Faults
		hopts.AMQPManagementURL, hopts.Proxies = scope.AMQPManagementURL, proxies
	}
	h := harness.New(hopts)
	runner := &grader.Runner{OnStart: d.OnStart, OnResult: d.OnResult}
	if p.Selected != nil {
		runner.Select = func(c grader.Check) bool { return p.Selected[c.ID] }
	}
	t = time.Now()
	res, err := runner.Run(ctx, p.Stages, h)
	rep.Timings.ChecksMs = time.Since(t).Milliseconds()
	if err != nil {
		// The grader's environment failed: exit 3, no score (DESIGN.md §2.4).
		return nil, &EnvError{Message: err.Error()}
	}
	rep.Apply(res)
	if ctx.Err() != nil {
		return rep, ErrInterrupted
	}
	return rep, nil
}

// NotRunResults lists every selected check as not run, so the report still
// shows what there was to earn.
func NotRunResults(p *Plan, why string) []grader.StageResult {
	var out []grader.StageResult
	for _, s := range p.Stages {
		sr := grader.StageResult{ID: s.ID, Title: s.Title, Checks: []grader.CheckResult{}}
		for _, c := range s.Checks {
			if p.Selected != nil && !p.Selected[c.ID] {
				continue
			}
			sr.Checks = append(sr.Checks, grader.NotRunResult(c, why))
		}
		if len(sr.Checks) > 0 {
			out = append(out, sr)
		}
	}
	return out
}

func describeRun(m *Project) string {
	switch {
	case m.Docker:
		return "docker: build ./Dockerfile and run the image"
	case m.Build != "":
		return m.Build + " && " + m.Run
	default:
		return m.Run
	}
}
