package submission

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// launchHost starts the manifest's run command as a process group on
// 127.0.0.1:hostPort (a free port when 0), under the Config's Limits, and
// waits until it listens there.
func (p *Process) launchHost(ctx context.Context, hostPort int, vars map[string]string, ring *lineRing, prefix string) (runner, string, error) {
	port := hostPort
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	env, notes := serviceEnv(hostEnviron(), vars, port, p.m.Env)
	if prefix == servicePrefix {
		for _, n := range notes {
			p.cfg.logf("%s", n)
		}
		p.mu.Lock()
		p.env, _ = serviceEnv(nil, vars, port, p.m.Env)
		p.mu.Unlock()
	}
	timeout := p.m.Timeout()
	what := "your service"
	if prefix != servicePrefix {
		what = "another instance of your service"
	}
	p.cfg.logf("starting %s: %s (PORT=%d, waiting up to %s for it to listen)", what, p.m.Run, port, timeout)
	if prefix == servicePrefix && !p.cfg.Limits.IsZero() {
		p.cfg.logf("limits for each of its processes: %s", p.cfg.Limits)
	}
	started := time.Now()
	proc, err := startProc(p.m.Dir, execScript(p.m.Run), p.cfg.Limits, environ(env), ring, p.echo, prefix)
	if err != nil {
		return nil, "", err
	}
	if !p.track(proc) {
		proc.kill()
		return nil, "", errStopped
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// A service that listens, but not where the grader can reach it on
	// $PORT, is told so about a second after it listens (a fixed port),
	// not after the whole startup timeout.
	wctx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	misplaced := wrongPlace{port: port}
	probe := func(ctx context.Context) bool {
		d := net.Dialer{Timeout: 250 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if misplaced.seen(groupListeners(proc.pgid), time.Now()) {
				stopWaiting()
			}
			return false
		}
		c.Close()
		return true
	}
	err = waitReady(wctx, proc, timeout, probe)
	if err != nil && misplaced.settled() && ctx.Err() == nil {
		pe := notListening(misplaced.listeners, port, timeout)
		proc.kill()
		pe.Log = tail(ring, 40)
		return nil, "", pe
	}
	switch {
	case err == nil:
		p.cfg.logf("your service listens on $PORT (=%d) after %s", port, time.Since(started).Round(10*time.Millisecond))
		if prefix == servicePrefix && loopbackOnly(groupListeners(proc.pgid), port) {
			p.cfg.logf("note: your service listens on loopback (127.0.0.1) only: that works here, but nothing outside its container can reach it in one (docker: true, or the sandbox of a class's grader batch): listen on 0.0.0.0")
		}
		return proc, addr, nil
	case errors.Is(err, errGone): // done: its output is read too
		hint := fmt.Sprintf("run `%s` yourself with PORT=%d and read the error in its output: the service must stay in the foreground and serve HTTP on $PORT", p.m.Run, port)
		switch proc.state.ExitCode() {
		case 127:
			hint = fmt.Sprintf("the shell could not find the command in `%s`: check run: (and build:) in grader.yaml, relative to the project directory", p.m.Run)
		case 126:
			hint = fmt.Sprintf("the command in `%s` is not executable: chmod +x it, or run it through its interpreter (sh ./run.sh, python3 app.py)", p.m.Run)
		}
		why := proc.exitReason()
		if h := limitHint(why); h != "" {
			hint = h
		}
		return nil, "", &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service %s before it listened on $PORT (PORT=%d)", why, port),
			Hint:    hint,
			Log:     tail(ring, 40)}
	case errors.Is(err, errNotReady):
		pe := notListening(groupListeners(proc.pgid), port, timeout)
		proc.kill()
		pe.Log = tail(ring, 40)
		return nil, "", pe
	default:
		proc.kill()
		return nil, "", err
	}
}

// wrongPlaceAfter is how long a service must have listened somewhere the
// grader cannot reach on $PORT before the grader stops waiting for it.
const wrongPlaceAfter = time.Second

// wrongPlace follows the sockets a starting service listens on while
// $PORT does not answer.
type wrongPlace struct {
	port      int
	since     time.Time  // when the service was first seen listening elsewhere
	listeners []listener // what it listened on then, once settled
	done      bool
}

// seen notes the service's listeners at now and reports whether it has
// listened only elsewhere for wrongPlaceAfter.
func (w *wrongPlace) seen(ls []listener, now time.Time) bool {
	if len(ls) == 0 {
		w.since = time.Time{}
		return false
	}
	if w.since.IsZero() {
		w.since = now
	}
	if now.Sub(w.since) >= wrongPlaceAfter {
		w.listeners, w.done = ls, true
	}
	return w.done
}

func (w *wrongPlace) settled() bool { return w.done }

// notListening explains a service that did not listen on $PORT in time,
// from the sockets it does listen on.
func notListening(ls []listener, port int, timeout time.Duration) *ProjectError {
	var onPort, elsewhere []listener
	for _, l := range ls {
		if l.Port == port {
			onPort = append(onPort, l)
		} else {
			elsewhere = append(elsewhere, l)
		}
	}
	switch {
	case len(onPort) > 0:
		return &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service listens on %s, which the grader cannot reach at 127.0.0.1:%d", onPort[0], port),
			Hint:    "listen on all interfaces (0.0.0.0, or an empty host) on $PORT"}
	case len(elsewhere) > 0:
		return &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service listens on %s, not on $PORT (=%d): read the port from the PORT environment variable", portList(elsewhere), port),
			Hint:    "the grader picks a free port for every run and passes it in PORT; a fixed port fails here and on most hosting platforms"}
	default:
		return &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service did not listen on $PORT (=%d) within %s", port, timeout),
			Hint:    fmt.Sprintf("start the HTTP server in the foreground on the port in the PORT environment variable; if it only needs longer to start, raise startupTimeout in grader.yaml (now %s)", timeout)}
	}
}

// leadingAssignment matches "NAME=value ..." at the start of a command.
var leadingAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// loopbackOnly reports whether the listeners on port are all on loopback
// (false when there are none).
func loopbackOnly(ls []listener, port int) bool {
	seen := false
	for _, l := range ls {
		if l.Port != port {
			continue
		}
		if !l.IP.IsLoopback() {
			return false
		}
		seen = true
	}
	return seen
}

// execScript prefixes a simple command with exec, so that the service is
// the shell's process itself and gets SIGTERM directly. A command with shell
// syntax (;, &&, |, a leading VAR=value, ...) is run as it is; the whole
// process group gets the signal anyway.
func execScript(run string) string {
	if strings.ContainsAny(run, ";&|\n()`{}") || leadingAssignment.MatchString(run) || strings.HasPrefix(run, "exec ") {
		return run
	}
	return "exec " + run
}

// Build runs the manifest's build command once (sh -c, in the project
// directory, in its own process group, under cfg.Limits; cancelling ctx
// kills it). A failed build is a *ProjectError of kind "build" with the
// last lines of output. With docker: true it builds the image instead.
func Build(ctx context.Context, cfg Config) error {
	m := cfg.Manifest
	if m == nil {
		return errors.New("submission.Build: no manifest")
	}
	if m.Docker {
		return buildImage(ctx, cfg)
	}
	if cfg.Box != nil && cfg.Box.Sandboxed() {
		return cfg.Box.build(ctx, cfg)
	}
	if m.Build == "" {
		return nil
	}
	cfg.logf("building: %s", m.Build)
	if !cfg.Limits.IsZero() {
		cfg.logf("limits for each process of the build: %s", cfg.Limits)
	}
	started := time.Now()
	env := hostEnviron()
	for k, v := range cfg.Env {
		if k != "PORT" {
			env[k] = v
		}
	}
	ring := newLineRing(40)
	proc, err := startProc(m.Dir, m.Build, cfg.Limits, environ(env), ring, newEchoer(cfg.Output), servicePrefix)
	if err != nil {
		return err
	}
	if err := proc.runToEnd(ctx); err != nil {
		return err
	}
	if proc.state.Success() {
		cfg.logf("built in %s", time.Since(started).Round(100*time.Millisecond))
		return nil
	}
	why := describeExitLimits(proc.state, cfg.Limits)
	hint := limitHint(why)
	if hint == "" {
		hint = fmt.Sprintf("run `%s` in your project directory and fix the errors it prints (the last lines are below)", m.Build)
	}
	return &ProjectError{Kind: "build",
		Message: fmt.Sprintf("the project did not build: `%s` %s", m.Build, why),
		Hint:    hint,
		Log:     tail(ring, 40)}
}
