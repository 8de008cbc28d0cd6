package submission

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopGrace is how long a stopped service has between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// drainGrace is how long the output of a process that has ended may take to
// be read to its end before the process is reported gone. The pipe is
// normally at EOF at once (its whole group was killed); only a process that
// escaped the group (setsid) still holds it then, and its output is cut.
const drainGrace = 2 * time.Second

// osProc is one command run by `sh -c` in its own process group, its output
// read into a ring of lines.
type osProc struct {
	cmd     *exec.Cmd
	pgid    int
	pipe    *os.File
	exited  chan struct{} // closed once the command was reaped and its output read to its end
	drained chan struct{} // closed once its output reached EOF (or the pipe was closed)
	state   *os.ProcessState
	limits  Limits // set by the script, for exitReason
	// stopped says the grader had begun stopping it when it was reaped
	// (set before exited is closed).
	stopped bool

	stopping atomic.Bool
	stopOnce sync.Once
	stopDone chan struct{}
	stopErr  error
}

// startProc starts `sh -c script` in dir with env, in its own process group,
// under lim (set by the shell before the script runs), its stdout and
// stderr read into ring and echoed with prefix.
func startProc(dir, script string, lim Limits, env []string, ring *lineRing, echo *echoer, prefix string) (*osProc, error) {
	return startArgs(dir, []string{"/bin/sh", "-c", lim.shellPrefix() + script}, lim, env, ring, echo, prefix)
}

// startArgs is startProc for a program and its arguments; lim only names
// the limits argv sets, for exitReason.
func startArgs(dir string, argv []string, lim Limits, env []string, ring *lineRing, echo *echoer, prefix string) (*osProc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot make a pipe for the output: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("cannot run %s in %s: %w", argv[0], dir, err)
	}
	pw.Close()
	p := &osProc{
		cmd: cmd, pgid: cmd.Process.Pid, pipe: pr, limits: lim,
		exited: make(chan struct{}), drained: make(chan struct{}), stopDone: make(chan struct{}),
	}
	go pump(pr, ring, echo, prefix, p.drained)
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		// A stop that comes while the output is still being read does not
		// turn a crash into "stopped by the grader".
		p.stopped = p.stopping.Load()
		// Whatever the service left behind in its group goes with it.
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		// Its last words (a panic, a stack trace) are still in the pipe:
		// the exit becomes visible only once they are in the ring, so that
		// whoever sees it (Exited, a crashed check) also sees why.
		p.waitOutput(drainGrace)
		close(p.exited)
	}()
	return p, nil
}

// done is closed once the process is gone and its output read.
func (p *osProc) done() <-chan struct{} { return p.exited }

// exitReason says how the process ended ("exited with code 2"), "" while it runs.
func (p *osProc) exitReason() string {
	select {
	case <-p.exited:
	default:
		return ""
	}
	if p.stopped {
		return "was stopped by the grader"
	}
	return describeExitLimits(p.state, p.limits)
}

// waitOutput waits up to d for the output to be read to its end.
func (p *osProc) waitOutput(d time.Duration) {
	select {
	case <-p.drained:
	case <-time.After(d):
		// Something outside the group still holds the pipe: stop reading.
		p.pipe.Close()
	}
}

// runToEnd waits until a process that is meant to finish (a build) has
// exited and its output is read, or kills its group when ctx ends first.
func (p *osProc) runToEnd(ctx context.Context) error {
	select {
	case <-p.done(): // its output is read too
		return nil
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	}
}

// kill ends the group at once and waits for the process to be reaped.
func (p *osProc) kill() {
	p.stopping.Store(true)
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
	}
	p.waitOutput(time.Second)
}

// terminate sends SIGTERM to the group once and waits up to wait for the
// process to be reaped; it returns the exit code (-1: ended by a signal)
// and whether it ended. It never sends SIGKILL: stop does that.
func (p *osProc) terminate(ctx context.Context, wait time.Duration) (int, bool, error) {
	ended, err := sigterm(ctx, p.exited, &p.stopping, wait, func() error {
		if err := syscall.Kill(-p.pgid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("sending SIGTERM to process group %d: %w", p.pgid, err)
		}
		return nil
	})
	if !ended || err != nil {
		return 0, false, err
	}
	if p.state == nil {
		return -1, true, nil
	}
	return p.state.ExitCode(), true, nil
}

// sigterm is terminate's common part: unless the runner has ended
// already, it marks it as being stopped by the grader, sends SIGTERM with
// send, and waits up to wait for exited; it reports whether it ended.
func sigterm(ctx context.Context, exited <-chan struct{}, stopping *atomic.Bool, wait time.Duration, send func() error) (bool, error) {
	select {
	case <-exited:
		return false, errors.New("the service had already ended")
	default:
	}
	stopping.Store(true)
	if err := send(); err != nil {
		return false, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-exited:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// stop sends SIGTERM to the group, then SIGKILL after stopGrace (or when ctx
// ends), and waits until the process is reaped. Safe to call more than once
// and concurrently.
func (p *osProc) stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		defer close(p.stopDone)
		select {
		case <-p.exited:
			return
		default:
		}
		p.stopping.Store(true)
		_ = syscall.Kill(-p.pgid, syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
		case <-ctx.Done():
		}
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			p.stopErr = fmt.Errorf("process group %d did not end after SIGKILL", p.pgid)
		}
		p.waitOutput(time.Second)
	})
	select {
	case <-p.stopDone:
		return p.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// describeExit says how a process ended: "exited with code 3",
// "was killed by signal SIGSEGV (segmentation fault)".
func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "ended"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + signalName(ws.Signal())
	}
	return fmt.Sprintf("exited with code %d", st.ExitCode())
}

func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return fmt.Sprintf("%s (%v)", name, sig)
	}
	return fmt.Sprintf("%d (%v)", int(sig), sig)
}

// errStopped is returned when a Process was stopped while starting.
var errStopped = errors.New("the service was stopped by the grader")
