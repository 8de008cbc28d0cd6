package submission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// containerPort is PORT inside the learner's container.
const containerPort = 8080

// runLabel marks everything the grader creates (`grader clean` removes it).
const runLabel = "io.grader.run"

// DockerUnavailableError says that docker: true cannot be honoured because
// no Docker engine answers: the grader's environment, not the learner's
// project.
type DockerUnavailableError struct{ Err error }

func (e *DockerUnavailableError) Error() string {
	return fmt.Sprintf("the project says docker: true, but no Docker engine answers (%v): start Docker, or grade it as a process with run: in grader.yaml", e.Err)
}

func (e *DockerUnavailableError) Unwrap() error { return e.Err }

// dockerClient connects to the engine named by the environment (DOCKER_HOST,
// ...) and checks that it answers.
func dockerClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, &DockerUnavailableError{Err: err}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &DockerUnavailableError{Err: err}
	}
	return cli, nil
}

// initDocker prepares Start for docker: true: a client, and the image
// (built now when Build was not called).
func (p *Process) initDocker(ctx context.Context) error {
	if p.m.image == "" {
		if err := buildImage(ctx, p.cfg); err != nil {
			return err
		}
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	p.docker = cli
	p.launch = p.launchContainer
	p.command = fmt.Sprintf("docker build . && docker run (PORT=%d in the container)", containerPort)
	return nil
}

// launchContainer runs the service's container and waits until it answers
// HTTP. In a Box it runs on the box's network and is reached at its own
// address; else it is published on 127.0.0.1:hostPort (a free port when 0)
// and joins the services' network.
func (p *Process) launchContainer(ctx context.Context, hostPort int, vars map[string]string, ring *lineRing, prefix string) (runner, string, error) {
	env, notes := serviceEnv(nil, vars, containerPort, p.m.Env)
	if prefix == servicePrefix {
		for _, n := range notes {
			p.cfg.logf("%s", n)
		}
		p.mu.Lock()
		p.env = env
		p.mu.Unlock()
	}
	timeout := p.m.Timeout()
	started := time.Now()
	var c *containerRunner
	var addr string
	var err error
	if b := p.cfg.Box; b != nil {
		c, addr, err = p.launchInBox(ctx, b, env, ring, prefix)
	} else {
		c, addr, err = p.launchPublished(ctx, hostPort, env, ring, prefix)
	}
	if err != nil {
		return nil, "", err
	}

	hclient := &http.Client{Timeout: time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// In a box, a service that listens where the grader cannot reach it
	// (loopback, another port) is told so about a second after it
	// listens, as on the host, not after the whole startup timeout.
	wctx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	misplaced := wrongPlace{port: containerPort}
	probe := func(ctx context.Context) bool {
		d := net.Dialer{Timeout: 250 * time.Millisecond}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if p.cfg.Box != nil && misplaced.seen(c.listeners(ctx), time.Now()) {
				stopWaiting()
			}
			return false
		}
		conn.Close()
		if p.cfg.Box != nil {
			return true // its own address: a connection means it listens, as on the host
		}
		// Docker's proxy accepts the connection even when nothing listens in
		// the container: only an HTTP response proves the service is there.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		resp, err := hclient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	err = waitReady(wctx, c, timeout, probe)
	if err != nil && misplaced.settled() && ctx.Err() == nil {
		err = errNotReady
	}
	switch {
	case err == nil:
		p.cfg.logf("your service answers on $PORT (=%d in the container, %s from the grader) after %s", containerPort, addr, time.Since(started).Round(10*time.Millisecond))
		return c, addr, nil
	case errors.Is(err, errGone): // done: its output is read too
		c.stop(context.WithoutCancel(ctx))
		log := tail(ring, 40)
		return nil, "", &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service %s before it listened on $PORT (PORT=%d)", c.exitReason(), containerPort),
			Hint:    p.exitHint(log),
			Log:     log}
	case errors.Is(err, errNotReady):
		pe := c.notListening(ctx, timeout)
		c.stop(context.WithoutCancel(ctx))
		pe.Log = tail(ring, 40)
		return nil, "", pe
	default:
		c.stop(context.WithoutCancel(ctx))
		return nil, "", err
	}
}

// exitHint is how to see for oneself why the container ended, or, when
// its last words are a refused connection to loopback, that loopback is
// the container itself.
func (p *Process) exitHint(log string) string {
	low := strings.ToLower(log)
	if (strings.Contains(low, "127.0.0.1") || strings.Contains(low, "localhost") || strings.Contains(low, "[::1]")) &&
		(strings.Contains(low, "refused") || strings.Contains(low, "econnrefused")) {
		return "in a container, 127.0.0.1 and localhost are the container itself, not this machine: take every address from the environment the grader sets (DATABASE_URL or PGHOST/PGPORT, REDIS_URL, AMQP_URL), never a fixed one"
	}
	if !p.m.Docker {
		return fmt.Sprintf("run `%s` yourself with PORT=%d and read the error in its output (its last lines are below)", p.m.Run, containerPort)
	}
	return fmt.Sprintf("run the image yourself with `docker run -e PORT=%d -p %d:%d IMAGE` and read the error in its output", containerPort, containerPort, containerPort)
}

// initBox prepares Start in a Box: the image (built now when Build was
// not called) and the box's client.
func (p *Process) initBox(ctx context.Context) error {
	b := p.cfg.Box
	if p.m.image == "" {
		var err error
		if p.m.Docker {
			err = buildImage(ctx, p.cfg)
		} else {
			p.m.image, err = b.runnerImage(ctx, p.m)
		}
		if err != nil {
			return err
		}
	}
	p.launch = p.launchContainer
	switch {
	case p.m.Docker:
		p.command = fmt.Sprintf("docker build . && docker run (PORT=%d in the container)", containerPort)
	case p.m.Build != "":
		p.command = p.m.Build + " && " + p.m.Run
	default:
		p.command = p.m.Run
	}
	if b.Sandboxed() {
		p.command += " (in the sandbox: " + p.m.image + ")"
	}
	return nil
}

// launchInBox starts the service's container on the box's network.
func (p *Process) launchInBox(ctx context.Context, b *Box, env map[string]string, ring *lineRing, prefix string) (*containerRunner, string, error) {
	spec := containerSpec{image: p.m.image, env: env, host: b.hostConfig(p.m, p.cfg.Limits, b.name)}
	if !p.m.Docker {
		spec.script = prelude(p.m) + execScript(p.m.Run)
		spec.env = b.toolEnv()
		for k, v := range env {
			spec.env[k] = v
		}
		user, err := b.user(p.m)
		if err != nil {
			return nil, "", err
		}
		spec.user = user
	}
	p.cfg.logf("starting your service: container of %s (PORT=%d inside, waiting up to %s)", p.m.image, containerPort, p.m.Timeout())
	c, err := b.start(ctx, spec, ring, p.echo, prefix)
	if err != nil {
		return nil, "", err
	}
	if !p.track(c) {
		c.stop(context.WithoutCancel(ctx))
		return nil, "", errStopped
	}
	ins, err := b.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		c.stop(context.WithoutCancel(ctx))
		return nil, "", fmt.Errorf("docker: cannot inspect the service's container: %w", err)
	}
	var ip netip.Addr
	if ns := ins.Container.NetworkSettings; ns != nil {
		if ep := ns.Networks[b.name]; ep != nil {
			ip = ep.IPAddress
		}
	}
	if !ip.IsValid() {
		// It ended before it was given an address: waitReady says how.
		return c, "127.0.0.1:1", nil
	}
	return c, net.JoinHostPort(ip.String(), strconv.Itoa(containerPort)), nil
}

// launchPublished starts the service's container with PORT published on
// 127.0.0.1:hostPort (a free port when 0).
func (p *Process) launchPublished(ctx context.Context, hostPort int, env map[string]string, ring *lineRing, prefix string) (*containerRunner, string, error) {
	port := hostPort
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	cport := network.MustParsePort(fmt.Sprintf("%d/tcp", containerPort))
	hc := &container.HostConfig{
		PortBindings: network.PortMap{cport: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(port)}}},
	}
	if p.cfg.Network != "" {
		hc.NetworkMode = container.NetworkMode(p.cfg.Network)
	}
	p.cfg.logf("starting your service: container of %s on %s (PORT=%d inside, waiting up to %s)", p.m.image, p.cfg.Network, containerPort, p.m.Timeout())
	created, err := p.docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: p.m.image, Env: environ(env), Labels: labels(p.cfg),
			ExposedPorts: network.PortSet{cport: {}},
		},
		HostConfig: hc,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", fmt.Errorf("docker: cannot create the service's container: %w", err)
	}
	c := newContainerRunner(p.docker, created.ID)
	if !p.track(c) {
		c.stop(context.WithoutCancel(ctx))
		return nil, "", errStopped
	}
	if _, err := p.docker.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		c.stop(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", &ProjectError{Kind: "start",
			Message: "your service's container did not start: " + firstLine(err.Error()),
			Hint:    "check the Dockerfile's CMD / ENTRYPOINT: `docker run` of the image must start the service"}
	}
	c.follow(ring, p.echo, prefix)
	return c, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// containerRunner is one container of the service.
type containerRunner struct {
	cli     *client.Client
	id      string
	exited  chan struct{}
	drained chan struct{}
	reason  string
	code    int  // its exit code, once exited
	pid     int  // its main process on this machine (listeners), once known
	oom     bool // the kernel killed it for memory
	stopped bool // the grader had begun stopping it when it ended
	logs    io.Closer

	stopping atomic.Bool
	stopOnce sync.Once
	stopDone chan struct{}
	stopErr  error
}

func newContainerRunner(cli *client.Client, id string) *containerRunner {
	return &containerRunner{cli: cli, id: id, exited: make(chan struct{}),
		drained: make(chan struct{}), stopDone: make(chan struct{})}
}

// follow streams the container's output into ring and watches for its end.
func (c *containerRunner) follow(ring *lineRing, echo *echoer, prefix string) {
	ctx := context.Background()
	pr, pw := io.Pipe()
	go pump(pr, ring, echo, prefix, c.drained)
	logs, err := c.cli.ContainerLogs(ctx, c.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		pw.CloseWithError(err)
	} else {
		c.logs = logs
		go func() {
			_, err := stdcopy.StdCopy(pw, pw, logs)
			pw.CloseWithError(err)
		}()
	}
	go func() {
		w := c.cli.ContainerWait(ctx, c.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case res := <-w.Result:
			c.code = int(res.StatusCode)
			c.reason = fmt.Sprintf("exited with code %d", res.StatusCode)
			if ins, err := c.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{}); err == nil &&
				ins.Container.State != nil && ins.Container.State.OOMKilled {
				c.oom, c.reason = true, "was killed: out of memory"
			}
		case err := <-w.Error:
			c.code, c.reason = -1, "is gone ("+firstLine(err.Error())+")"
		}
		c.stopped = c.stopping.Load()
		// The end becomes visible only once its last words are in the ring.
		c.waitOutput(drainGrace)
		close(c.exited)
	}()
}

func (c *containerRunner) done() <-chan struct{} { return c.exited }

func (c *containerRunner) exitReason() string {
	select {
	case <-c.exited:
	default:
		return ""
	}
	if c.stopped {
		return "was stopped by the grader"
	}
	return c.reason
}

func (c *containerRunner) waitOutput(d time.Duration) {
	select {
	case <-c.drained:
	case <-time.After(d):
		if c.logs != nil {
			c.logs.Close()
		}
	}
}

// terminate sends SIGTERM to the container's main process and waits up to
// wait for it to end, without SIGKILL.
func (c *containerRunner) terminate(ctx context.Context, wait time.Duration) (int, bool, error) {
	ended, err := sigterm(ctx, c.exited, &c.stopping, wait, func() error {
		if _, err := c.cli.ContainerKill(ctx, c.id, client.ContainerKillOptions{Signal: "SIGTERM"}); err != nil {
			return fmt.Errorf("sending SIGTERM to the service's container: %w", err)
		}
		return nil
	})
	if !ended || err != nil {
		return 0, false, err
	}
	return c.code, true, nil
}

// stop stops the container (SIGTERM, SIGKILL after stopGrace) and removes it.
func (c *containerRunner) stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		defer close(c.stopDone)
		select {
		case <-c.exited:
		default:
			c.stopping.Store(true)
		}
		// The container goes even when ctx is cancelled (an interrupt).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace+15*time.Second)
		defer cancel()
		grace := int(stopGrace / time.Second)
		if ctx.Err() != nil {
			grace = 0
		}
		_, _ = c.cli.ContainerStop(cctx, c.id, client.ContainerStopOptions{Timeout: &grace})
		if _, err := c.cli.ContainerRemove(cctx, c.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			c.stopErr = fmt.Errorf("cannot remove the service's container %.12s: %w", c.id, err)
		}
		select {
		case <-c.exited:
		case <-cctx.Done():
		}
		c.waitOutput(time.Second)
	})
	select {
	case <-c.stopDone:
		return c.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// listeners are the sockets listening in the container's network
// namespace (none when the engine is not on this machine).
func (c *containerRunner) listeners(ctx context.Context) []listener {
	if c.pid == 0 {
		ins, err := c.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
		if err != nil || ins.Container.State == nil || ins.Container.State.Pid <= 0 {
			return nil
		}
		c.pid = ins.Container.State.Pid
	}
	var out []listener
	for _, l := range netnsListeners(c.pid) {
		// Docker's resolver on a user-defined network listens in every
		// container, at 127.0.0.11 on a port of its own.
		if !l.IP.Equal(dockerDNS) {
			out = append(out, l)
		}
	}
	return out
}

var dockerDNS = net.IPv4(127, 0, 0, 11)

// notListening explains a container that did not answer on $PORT in time,
// from what listens inside it (read from the host's /proc when the engine
// runs on this machine).
func (c *containerRunner) notListening(ctx context.Context, timeout time.Duration) *ProjectError {
	ls := c.listeners(ctx)
	var loopback, open []listener
	for _, l := range ls {
		if l.Port == containerPort && l.IP.IsLoopback() {
			loopback = append(loopback, l)
		} else if l.Port == containerPort {
			open = append(open, l)
		}
	}
	if len(open) > 0 {
		return &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service listens on $PORT (=%d) in its container but did not answer an HTTP request within %s", containerPort, timeout),
			Hint:    "the service must speak plain HTTP on $PORT (no TLS) and answer every request, even one for a path it does not know (with 404)"}
	}
	if len(loopback) > 0 {
		return &ProjectError{Kind: "start",
			Message: fmt.Sprintf("your service listens on %s inside its container, which cannot be reached from outside the container: listen on 0.0.0.0 (all interfaces)", loopback[0]),
			Hint:    "in a container, 127.0.0.1 / localhost is the container itself: bind the server to 0.0.0.0:$PORT (or an empty host)"}
	}
	pe := notListening(ls, containerPort, timeout)
	if len(ls) == 0 {
		pe.Message = fmt.Sprintf("your service did not answer HTTP on $PORT (=%d in its container) within %s", containerPort, timeout)
	}
	return pe
}
