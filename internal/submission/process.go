package submission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/moby/moby/client"
)

// Config is what Build and Start need besides the manifest.
type Config struct {
	Manifest *Manifest
	// Env holds the grader's variables (DATABASE_URL, ...). Start adds PORT;
	// the manifest's env mapping is applied on top.
	Env map[string]string
	// Output receives the service's output, each line prefixed
	// "[your_service] " (nil: no echo).
	Output io.Writer
	// Logf prints a [grader] progress line (nil: none).
	Logf func(format string, args ...any)
	// Network and Labels are for docker: true: the Docker network the
	// services are on, and the labels every container carries.
	Network string
	Labels  map[string]string
	// Box, when set, runs the service (and, sandboxed, its build) in
	// containers on the box's network (Network is not used then).
	Box *Box
	// Limits are the resource limits of every process of the build and of
	// the service and its extra instances (zero: none). docker: true
	// projects are not limited by them.
	Limits Limits
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// runner is one running instance of the service: a process group or a
// container.
type runner interface {
	// done is closed once it is gone.
	done() <-chan struct{}
	// exitReason says how it ended ("exited with code 2"), "" while it runs.
	exitReason() string
	// stop ends it: SIGTERM, SIGKILL after stopGrace. Idempotent.
	stop(ctx context.Context) error
}

// launchFunc starts one instance on hostPort (0: any free port) with the
// grader's variables vars, and waits until it is ready. It calls track with
// the runner as soon as it exists.
// It returns the host:port where the grader reaches the instance.
type launchFunc func(ctx context.Context, hostPort int, vars map[string]string, ring *lineRing, prefix string) (runner, string, error)

// Process is the learner's running service. It implements harness.Service.
type Process struct {
	cfg     Config
	m       *Manifest
	echo    *echoer
	logs    *lineRing
	launch  launchFunc
	addr    string            // host:port of the main instance
	env     map[string]string // the main instance's variables (no inherited ones)
	command string
	docker  *client.Client // docker: true

	restartMu sync.Mutex

	mu         sync.Mutex
	main       runner
	restartErr error
	runners    []runner // every runner ever started, for Stop
	closed     bool
	instances  int
}

var _ harness.Service = (*Process)(nil)

// Start starts the service with a free PORT and waits until it accepts TCP
// connections there (the manifest's startupTimeout). A service that exits,
// never listens or listens elsewhere is a *ProjectError of kind "start";
// nothing of it is left running then.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	m := cfg.Manifest
	if m == nil {
		return nil, errors.New("submission.Start: no manifest")
	}
	p := &Process{cfg: cfg, m: m, echo: newEchoer(cfg.Output), logs: newLineRing(logLines)}
	switch {
	case cfg.Box != nil:
		if err := p.initBox(ctx); err != nil {
			return nil, err
		}
	case m.Docker:
		if err := p.initDocker(ctx); err != nil {
			return nil, err
		}
	default:
		p.launch = p.launchHost
		p.command = m.Run
		if m.Build != "" {
			p.command = m.Build + " && " + m.Run
		}
	}
	r, addr, err := p.launch(ctx, 0, cfg.Env, p.logs, servicePrefix)
	if err != nil {
		p.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	p.mu.Lock()
	p.main, p.addr = r, addr
	p.mu.Unlock()
	return p, nil
}

// URL is the base URL of the main instance (no trailing slash).
func (p *Process) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr
}

// Command says how the service was started, for the report.
func (p *Process) Command() string { return p.command }

// Env returns the variables the main instance was started with: the
// grader's, PORT and the manifest's env mapping (not the inherited ones).
func (p *Process) Env() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.env))
	for k, v := range p.env {
		out[k] = v
	}
	return out
}

// Logs returns the last n lines the service printed (across restarts).
func (p *Process) Logs(n int) []string { return p.logs.last(n) }

// OutputMark returns how many lines the service has printed so far (across
// restarts), for OutputSince.
func (p *Process) OutputMark() uint64 { return p.logs.mark() }

// OutputSince returns the lines the service printed after mark, oldest
// first, and how many of those are no longer kept.
func (p *Process) OutputSince(mark uint64) ([]string, uint64) { return p.logs.since(mark) }

var _ harness.OutputReader = (*Process)(nil)

// Exited says why the service is no longer running, or nil while it runs.
func (p *Process) Exited() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.restartErr != nil {
		return p.restartErr
	}
	if p.main == nil {
		return errors.New("never started")
	}
	if why := p.main.exitReason(); why != "" {
		return errors.New(why)
	}
	return nil
}

// Restart stops the service (SIGTERM, SIGKILL after 5s) and starts it again
// on the same port with the same environment, waiting until it listens.
func (p *Process) Restart(ctx context.Context) error {
	p.restartMu.Lock()
	defer p.restartMu.Unlock()
	p.mu.Lock()
	old, closed, addr := p.main, p.closed, p.addr
	p.mu.Unlock()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	if closed {
		return errStopped
	}
	if err := old.stop(ctx); err != nil {
		return fmt.Errorf("stopping the service for a restart: %w", err)
	}
	p.cfg.logf("restarting your service")
	r, addr, err := p.launch(ctx, port, p.cfg.Env, p.logs, servicePrefix)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		var pe *ProjectError
		if errors.As(err, &pe) {
			// The cause is said once, by Exited (every later check and the
			// run's problem show it); the caller gets a summary that
			// unwraps to the cause.
			p.restartErr = errors.New("did not come back after a restart: " + strings.TrimPrefix(pe.Message, "your service "))
			return &RestartError{Cause: pe}
		}
		return err
	}
	p.main, p.addr, p.restartErr = r, addr, nil
	return nil
}

// Terminate sends SIGTERM to the main instance's process group and waits
// up to wait for it to end, without SIGKILL (harness.Terminator). Restart
// starts it again.
func (p *Process) Terminate(ctx context.Context, wait time.Duration) (int, bool, error) {
	p.mu.Lock()
	r := p.main
	p.mu.Unlock()
	switch r := r.(type) {
	case *osProc:
		return r.terminate(ctx, wait)
	case *containerRunner:
		return r.terminate(ctx, wait)
	}
	return 0, false, errors.New("the service cannot be signalled")
}

var _ harness.Terminator = (*Process)(nil)

// RestartError is Restart's error when the service did not listen again:
// Error names what happened; why is Exited's to say (and Cause's).
type RestartError struct {
	Cause *ProjectError
}

func (e *RestartError) Error() string { return "it did not listen on $PORT again" }

func (e *RestartError) Unwrap() error { return e.Cause }

// StartInstance starts another instance on another free port, with the
// run's variables plus env (the manifest's env mapping applied to the
// result), and waits until it listens. Stop stops it too.
func (p *Process) StartInstance(ctx context.Context, env map[string]string) (harness.Instance, error) {
	p.mu.Lock()
	p.instances++
	n := p.instances + 1
	p.mu.Unlock()
	vars := make(map[string]string, len(p.cfg.Env)+len(env))
	for k, v := range p.cfg.Env {
		vars[k] = v
	}
	for k, v := range env {
		vars[k] = v
	}
	ring := newLineRing(logLines)
	r, addr, err := p.launch(ctx, 0, vars, ring, fmt.Sprintf("[your_service #%d] ", n))
	if err != nil {
		return nil, err
	}
	return &Instance{url: "http://" + addr, ring: ring, r: r}, nil
}

// Stop stops the service and every extra instance: SIGTERM to each process
// group, SIGKILL after 5s. Idempotent and safe to call concurrently.
func (p *Process) Stop(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	rs := append([]runner(nil), p.runners...)
	p.mu.Unlock()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.stop(ctx)
		}()
	}
	wg.Wait()
	if p.docker != nil && p.cfg.Box == nil {
		p.docker.Close()
	}
	return errors.Join(errs...)
}

// track registers a runner for Stop; false when the Process was stopped
// already (the caller then stops the runner itself).
func (p *Process) track(r runner) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.runners = append(p.runners, r)
	return true
}

// Instance is an extra instance started by StartInstance.
type Instance struct {
	url  string
	ring *lineRing
	r    runner
}

var _ harness.Instance = (*Instance)(nil)

// URL is the instance's base URL.
func (i *Instance) URL() string { return i.url }

// Logs returns the last n lines the instance printed.
func (i *Instance) Logs(n int) []string { return i.ring.last(n) }

// Exited says why the instance is no longer running, or nil.
func (i *Instance) Exited() error {
	if why := i.r.exitReason(); why != "" {
		return errors.New(why)
	}
	return nil
}

// Stop stops the instance (SIGTERM, SIGKILL after 5s).
func (i *Instance) Stop(ctx context.Context) error { return i.r.stop(ctx) }

// errNotReady and errGone are waitReady's outcomes besides ready.
var (
	errNotReady = errors.New("not ready within the startup timeout")
	errGone     = errors.New("exited while starting")
)

// waitReady polls probe every 50ms until it succeeds (nil), r ends
// (errGone), timeout passes (errNotReady) or ctx ends (its error).
func waitReady(ctx context.Context, r runner, timeout time.Duration, probe func(context.Context) bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if probe(ctx) {
			return nil
		}
		select {
		case <-r.done():
			return errGone
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return errNotReady
		}
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail joins the last n lines of ring.
func tail(ring *lineRing, n int) string { return strings.Join(ring.last(n), "\n") }

// portList formats listeners' ports: "port 8080", "ports 8080 and 9090".
func portList(ls []listener) string {
	seen := map[int]bool{}
	var ports []string
	for _, l := range ls {
		if !seen[l.Port] {
			seen[l.Port] = true
			ports = append(ports, strconv.Itoa(l.Port))
		}
	}
	if len(ports) == 1 {
		return "port " + ports[0]
	}
	return "ports " + strings.Join(ports[:len(ports)-1], ", ") + " and " + ports[len(ports)-1]
}
