// Package system is grading's outside world for real: servers from
// internal/services and learners' projects from internal/submission,
// behind the interfaces of package grading. cmd/grader wires it in; tests
// of grading use fakes instead.
//
// Every error that crosses into grading is translated here, so that grading
// and the CLI see only grading's typed errors (*grading.EnvError,
// *grading.ProjectError); the original stays reachable with errors.As.
package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/grading"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/submission"
)

// New is the real System.
func New() grading.System {
	return grading.System{Services: Services{}, Launcher: Launcher{}}
}

// translate maps the errors of services and submission to grading's.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var ee *services.EnvError
	if errors.As(err, &ee) {
		return &grading.EnvError{Message: ee.Message, Fix: ee.Fix, Err: err}
	}
	var de *submission.DockerUnavailableError
	var se *submission.SandboxUnavailableError
	var re *submission.RemoteEngineError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %v", grading.ErrRemoteEngine, err)
	}
	if errors.As(err, &de) {
		return &grading.EnvError{Err: err}
	}
	if errors.As(err, &se) {
		return &grading.EnvError{Message: se.Error(), Err: err,
			Fix: "start Docker on this machine (the batch's default sandbox runs each submission in a container), or pass --no-sandbox to run trusted submissions as processes"}
	}
	var pe *submission.ProjectError
	if errors.As(err, &pe) {
		return &grading.ProjectError{Kind: pe.Kind, Message: pe.Message, Hint: pe.Hint, Log: pe.Log, Err: err}
	}
	return err
}

// Services starts servers with internal/services.
type Services struct{}

func options(o grading.ServiceOptions) services.Options {
	return services.Options{
		Mode:        services.Mode(o.Mode),
		PostgresURL: o.PostgresURL, RedisURL: o.RedisURL, AMQPURL: o.AMQPURL, AMQPManagementURL: o.AMQPManagementURL,
		Images: o.Images, RunID: o.RunID, Logf: o.Logf,
		Untrusted: o.Untrusted, ServerPerScope: o.Untrusted,
		AllowTrustingPostgres: o.AllowTrustingPostgres, ConnLimit: o.ConnLimit,
	}
}

// Start starts the servers of need.
func (Services) Start(ctx context.Context, o grading.ServiceOptions, need []grader.Service) (grading.Servers, error) {
	s, err := services.Start(ctx, options(o), need)
	if s == nil {
		return nil, translate(err)
	}
	return servers{s}, translate(err)
}

// Doctor reports whether the grader can run here with o.
func (Services) Doctor(ctx context.Context, o grading.ServiceOptions, w io.Writer) bool {
	return services.Doctor(ctx, options(o), w)
}

// Names lists the backing services.
func (Services) Names() []grader.Service { return services.Names() }

// Clean removes what killed runs left behind.
func (Services) Clean(ctx context.Context, o grading.CleanOptions, w io.Writer) error {
	return translate(services.Clean(ctx, services.CleanOptions{All: o.All, Runs: o.Runs, Services: options(o.Services)}, w))
}

type servers struct{ s *services.Servers }

func (s servers) Network() string { return s.s.Network() }

func (s servers) Close(ctx context.Context) error { return translate(s.s.Close(ctx)) }

func (s servers) Isolate(ctx context.Context, id string) (*grading.Scope, error) {
	sc, err := s.s.Isolate(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	return &grading.Scope{
		Env: sc.Env, NetEnv: sc.NetEnv,
		PG: sc.PG, Redis: sc.Redis, AMQPURL: sc.AMQPURL, AMQPManagementURL: sc.AMQPManagementURL, Faults: sc.Faults,
		Notes:   sc.Notes,
		Release: func(ctx context.Context) error { return translate(sc.Release(ctx)) },
	}, nil
}

// Launcher loads, builds and starts projects with internal/submission.
type Launcher struct{}

// Load reads the manifest in dir, or detects what to run without one.
func (Launcher) Load(dir string) (*grading.Project, error) {
	m, err := submission.Load(dir)
	if err != nil {
		return nil, translate(err)
	}
	for _, name := range m.Services {
		if err := services.Validate(strings.ToLower(strings.TrimSpace(name))); err != nil {
			return nil, grading.Usagef("grader.yaml lists %v", err)
		}
	}
	return &grading.Project{
		Dir: dir, Found: m.Found, Detected: m.Detected,
		Stage: m.Stage, Services: m.Services,
		Docker: m.Docker, Build: m.Build, Run: m.Run,
		BasePath: m.BasePath, Tables: harness.Tables(m.Tables),
		Handle: m,
	}, nil
}

// ScanSource reads the project's code for what init proposes.
func (Launcher) ScanSource(dir string) grading.SourceHints {
	h := submission.ScanSource(dir)
	return grading.SourceHints{BasePath: h.BasePath, Env: h.Env, Files: h.Files}
}

// manifest is the project's manifest as Load read it, or one made from
// the project's fields when it was made elsewhere (and kept as its Handle).
func manifest(p *grading.Project) *submission.Manifest {
	if m, ok := p.Handle.(*submission.Manifest); ok {
		return m
	}
	m := &submission.Manifest{Dir: p.Dir, Found: p.Found, Detected: p.Detected, Stage: p.Stage,
		Services: p.Services, Docker: p.Docker, Build: p.Build, Run: p.Run,
		BasePath: p.BasePath, Tables: submission.Tables(p.Tables)}
	p.Handle = m // Start needs what Build recorded (the image of docker: true)
	return m
}

func config(l grading.Launch) submission.Config {
	return submission.Config{
		Manifest: manifest(l.Project),
		Env:      l.Env,
		Output:   l.Output,
		Logf:     l.Logf,
		Network:  l.Network,
		Labels:   l.Labels,
		Limits: submission.Limits{CPUSeconds: l.Limits.CPUSeconds, FileBytes: l.Limits.FileBytes,
			OpenFiles: l.Limits.OpenFiles, DataBytes: l.Limits.DataBytes},
		Box: boxOf(l.Box),
	}
}

// box is a submission.Box as grading sees it.
type box struct{ *submission.Box }

func (b box) Describe() string {
	return grader.SandboxNote + "a container of its own (" + b.Box.Describe() + ")"
}

func boxOf(b grading.Box) *submission.Box {
	if b, ok := b.(box); ok {
		return b.Box
	}
	return nil
}

// OpenBox makes the network (and, with a Sandbox, the confinement) of a
// project's containers.
func (Launcher) OpenBox(ctx context.Context, r grading.BoxRequest) (grading.Box, error) {
	o := submission.BoxOptions{Labels: r.Labels, Logf: r.Logf}
	if s := r.Sandbox; s != nil {
		o.Sandbox = &submission.Sandbox{Images: s.Images, Memory: s.Memory, Pids: s.Pids, CPUs: s.CPUs, Tmp: s.Tmp, SharedCache: s.SharedCache}
	}
	b, err := submission.OpenBox(ctx, o)
	if err != nil {
		return nil, translate(err)
	}
	return box{b}, nil
}

// Build runs the project's build once.
func (Launcher) Build(ctx context.Context, l grading.Launch) error {
	return translate(submission.Build(ctx, config(l)))
}

// Start starts the service and waits until it listens.
func (Launcher) Start(ctx context.Context, l grading.Launch) (grading.Service, error) {
	p, err := submission.Start(ctx, config(l))
	if p == nil {
		return nil, translate(err)
	}
	return p, translate(err)
}
