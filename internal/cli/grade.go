package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/submission"
)

// gradeInput is one submission to grade on servers that are already up.
type gradeInput struct {
	dir      string
	manifest *submission.Manifest
	plan     *plan
	servers  *services.Servers
	scopeID  string
	// echo receives the service's output, prefixed (nil: not shown live).
	echo io.Writer
	logf func(format string, args ...any)
	// onStart / onResult report progress per check (optional).
	onStart  func(grader.Stage, grader.Check)
	onResult func(grader.Stage, grader.CheckResult)
	// provisionMs is the time already spent starting the servers.
	provisionMs int64
	// limits are the build's and the service's resource limits (zero: none).
	limits submission.Limits
}

// grade builds, starts and checks one submission and returns its report.
// A learner's problem (no build, no start, a crash) is in the report, not
// in the error; the error is for the environment (exit 3) or an interrupt.
func grade(ctx context.Context, in gradeInput) (*grader.Report, error) {
	start := time.Now()
	m, p := in.manifest, in.plan
	rep := emptyReport(in.dir, m, p)
	rep.Timings.ProvisionMs = in.provisionMs
	if !m.Found && m.Detected != "" {
		rep.Notes = append(rep.Notes, "no grader.yaml: "+m.Detected)
	}
	if p.effective.ID != p.stage.ID {
		rep.Notes = append(rep.Notes, fmt.Sprintf("grader.yaml says stage %s: the service gets what that stage needs", p.effective.ID))
	}
	defer func() {
		rep.Timings.TotalMs = time.Since(start).Milliseconds() + in.provisionMs
	}()

	// Isolation: a database, a Redis database and a vhost of its own.
	var scope *services.Scope
	urls := map[string]string{}
	if in.servers != nil && len(p.need) > 0 {
		t := time.Now()
		var err error
		scope, err = in.servers.Isolate(ctx, in.scopeID)
		if err != nil {
			return nil, err
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			if err := scope.Release(rctx); err != nil {
				in.logf("could not remove this run's databases: %v", err)
			}
		}()
		rep.Timings.ProvisionMs += time.Since(t).Milliseconds()
		rep.Notes = append(rep.Notes, scope.Notes...)
		urls = scope.Env
		if m.Docker {
			urls = scope.NetEnv
		}
	}
	cfg := submission.Config{
		Manifest: m,
		Env:      p.serviceEnv(urls),
		Output:   in.echo,
		Logf:     in.logf,
		Labels:   map[string]string{"io.grader.run": in.scopeID},
		Limits:   in.limits,
	}
	if in.servers != nil {
		cfg.Network = in.servers.Network()
	}

	notRun := func(kind string, err error) (*grader.Report, error) {
		var pe *submission.ProjectError
		if !errors.As(err, &pe) {
			return nil, err
		}
		rep.Problem = &grader.Problem{Kind: pe.Kind, Message: pe.Message, Hint: pe.Hint, Log: pe.Log}
		rep.Stages = notRunResults(p, "not run: "+pe.Message)
		rep.Tally()
		return rep, nil
	}

	t := time.Now()
	err := submission.Build(ctx, cfg)
	rep.Timings.BuildMs = time.Since(t).Milliseconds()
	if ctx.Err() != nil {
		return rep, errInterrupted
	}
	if err != nil {
		return notRun("build", err)
	}

	t = time.Now()
	proc, err := submission.Start(ctx, cfg)
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
		return rep, errInterrupted
	}
	if err != nil {
		return notRun("start", err)
	}

	hopts := harness.Options{
		Env:     cfg.Env,
		Seed:    p.seed,
		Service: proc,
		Auth:    p.auth,
		Logf:    in.logf,
	}
	hopts.BasePath, hopts.Tables = m.BasePath, m.Tables // grader.yaml: where the routes and the data live
	if scope != nil {
		hopts.PG, hopts.Redis, hopts.AMQPURL, hopts.Faults = scope.PG, scope.Redis, scope.AMQPURL, scope.Faults
	}
	h := harness.New(hopts)
	runner := &grader.Runner{OnStart: in.onStart, OnResult: in.onResult}
	if p.selected != nil {
		runner.Select = func(c grader.Check) bool { return p.selected[c.ID] }
	}
	t = time.Now()
	results, problem := runner.Run(ctx, p.stages, h)
	rep.Timings.ChecksMs = time.Since(t).Milliseconds()
	rep.Stages = results
	rep.Problem = problem
	rep.Tally()
	if ctx.Err() != nil {
		return rep, errInterrupted
	}
	return rep, nil
}

// notRunResults lists every selected check as not run, so the report still
// shows what there was to earn.
func notRunResults(p *plan, why string) []grader.StageResult {
	var out []grader.StageResult
	for _, s := range p.stages {
		sr := grader.StageResult{ID: s.ID, Title: s.Title, Checks: []grader.CheckResult{}}
		for _, c := range s.Checks {
			if p.selected != nil && !p.selected[c.ID] {
				continue
			}
			skills := c.Skills
			if skills == nil {
				skills = []string{}
			}
			sr.Checks = append(sr.Checks, grader.CheckResult{ID: c.ID, Title: c.Title, Status: grader.StatusError,
				MaxPoints: c.Points, Skills: skills, Message: why})
		}
		if len(sr.Checks) > 0 {
			out = append(out, sr)
		}
	}
	return out
}

func describeRun(m *submission.Manifest) string {
	switch {
	case m.Docker:
		return "docker: build ./Dockerfile and run the image"
	case m.Build != "":
		return m.Build + " && " + m.Run
	default:
		return m.Run
	}
}
