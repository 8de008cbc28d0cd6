package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/service"
)

// Stop timeouts: containers are thrown away at the end, so teardown kills
// them at once; a fault-injection Stop gives the server a moment to shut
// down cleanly (its data must survive for Start); a plain `docker stop` by
// a user waits containerStopTimeout.
const (
	terminateTimeout     = 0
	faultStopTimeout     = 5 * time.Second
	containerStopTimeout = 2 // seconds
)

// dockerServers are the containers of docker mode.
type dockerServers struct {
	cli     *testcontainers.DockerClient
	runID   string
	network string     // name
	host    string     // where the grader reaches published ports
	bindIP  netip.Addr // where ports are published (zero: all interfaces)
	logf    func(format string, args ...any)

	mu    sync.Mutex
	ctrs  map[grader.Service]*svcContainer
	notes []string // said in the report (e.g. a local image used instead of the default)
}

// svcContainer is one service's container (a service.Container).
type svcContainer struct {
	svc      service.Service
	spec     service.ContainerSpec
	image    string
	source   string // where the image reference came from
	host     string // where the grader reaches published ports
	ctr      *testcontainers.DockerContainer
	ports    map[string]string // container port ("5432/tcp") -> host port
	adminURL string
	// name and alias are the container's name and its host name on the
	// network (default: grader-<run>-<service> and the service's name).
	name, alias string
	scope       string // the scope a per-scope server belongs to ("": shared)
}

// Addr is the host:port where the grader reaches the container's port.
func (c *svcContainer) Addr(port string) string {
	return net.JoinHostPort(c.host, c.ports[port])
}

// Exec runs cmd in the container; a non-zero exit is an error with the output.
func (c *svcContainer) Exec(ctx context.Context, cmd ...string) (string, error) {
	code, out, err := c.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(cmd, " "), err)
	}
	b, _ := io.ReadAll(out)
	if code != 0 {
		return string(b), fmt.Errorf("%s exited with code %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// probe asks the service whether it answers.
func (c *svcContainer) probe(ctx context.Context) error { return c.svc.Probe(ctx, c.adminURL) }

var dockerInit sync.Once

// ConfigureTestcontainers disables Ryuk unless the user decided otherwise
// (it needs its own image from a registry; the grader cleans up itself, by
// label) and silences testcontainers' own logging unless GRADER_DEBUG is set.
// It must run before testcontainers first reads its configuration (once per
// process): this package calls it before any Docker use; another package
// using testcontainers first must call it too. Safe to call repeatedly.
func ConfigureTestcontainers() {
	dockerInit.Do(func() {
		if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
			_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		if os.Getenv("GRADER_DEBUG") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}

// dockerClient connects to the engine testcontainers would use (DOCKER_HOST,
// docker context, ~/.testcontainers.properties, the default socket) and
// checks that it answers. An explicit DOCKER_HOST that does not answer is an
// error: testcontainers would quietly fall back to the default socket, and
// the user would be grading against an engine they did not choose.
func dockerClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	ConfigureTestcontainers()
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		mc, err := client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST=%s: %w", h, err)
		}
		_, err = mc.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		mc.Close()
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST=%s does not answer: %w", h, err)
		}
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, err
	}
	return cli, nil
}

// dockerVersion returns the engine's version and API version when it answers.
func dockerVersion(ctx context.Context) (string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return "", err
	}
	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (API %s)", v.Version, v.APIVersion), nil
}

func noDocker(err error) *EnvError {
	return &EnvError{
		Message: fmt.Sprintf("docker is not reachable: %s", oneLine(err)),
		Fix:     "start Docker (on Debian: scripts/docker-up.sh), or use servers of your own with --services external",
	}
}

// startDocker starts the network and the needed containers, in parallel.
func (s *Servers) startDocker(ctx context.Context, o Options) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return noDocker(err)
	}
	host, bind := dockerHost(ctx, cli)
	d := &dockerServers{
		cli: cli, runID: s.runID, network: "grader-" + s.runID, host: host, bindIP: bind,
		logf: s.logf, ctrs: map[grader.Service]*svcContainer{},
	}
	s.docker = d

	_, err = cli.NetworkCreate(ctx, d.network, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelRun: s.runID},
	})
	if err != nil {
		return &EnvError{Message: fmt.Sprintf("could not create docker network %s: %s", d.network, oneLine(err)),
			Fix: "check the engine with 'docker network ls'; 'grader clean' removes networks earlier runs left"}
	}

	var wg sync.WaitGroup
	errs := make([]error, len(s.need))
	for i, svc := range s.need {
		ref, source := o.image(svc.Name())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.start(ctx, svc, ref, source)
		}()
	}
	wg.Wait()
	if err := firstEnvError(errs); err != nil {
		return err
	}

	s.notes = append(s.notes, "services: the grader's own containers (docker mode, network "+d.network+")")
	s.notes = append(s.notes, d.notes...)
	return s.open(ctx, func(svc service.Service) service.Server {
		c := d.container(svc.Name())
		return service.Server{URL: c.adminURL, Given: true, Container: c, Logf: s.logf,
			Setting: func(string) string { return "" }, Isolation: o.isolation(),
			StartScoped: d.startScoped(svc)}
	})
}

// firstEnvError returns the first error, as an *EnvError.
func firstEnvError(errs []error) error {
	for _, err := range errs {
		if err == nil {
			continue
		}
		var ee *EnvError
		if errors.As(err, &ee) {
			return ee
		}
		return &EnvError{Message: oneLine(err)}
	}
	return nil
}

// start pulls the image when needed, runs the container and waits until the
// service's own probe succeeds.
func (d *dockerServers) start(ctx context.Context, svc service.Service, ref, source string) error {
	t0 := time.Now()
	c := &svcContainer{svc: svc, spec: svc.Container(), image: ref, source: source, host: d.host}
	if err := d.ensureImage(ctx, c); err != nil {
		return err
	}
	d.logf("starting %s (%s)", svc.Name(), c.image)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = d.run(ctx, c)
		if err == nil || !isPortConflict(err) {
			break
		}
	}
	if err != nil {
		return &EnvError{
			Message: fmt.Sprintf("could not start the %s container (%s): %s", svc.Name(), c.image, oneLine(err)),
			Fix:     "check the engine with 'docker ps -a' and 'docker info'; 'grader clean' removes containers earlier runs left",
		}
	}
	c.adminURL = c.spec.AdminURL(c.Addr)
	d.mu.Lock()
	d.ctrs[svc.Name()] = c
	d.mu.Unlock()
	if err := d.waitReady(ctx, c, c.spec.ReadyTimeout); err != nil {
		return err
	}
	d.logf("%s ready in %.1fs", svc.Name(), time.Since(t0).Seconds())
	return nil
}

// ensureImage pulls the image when it is not here, once and without
// testcontainers' retries (which last minutes when no registry answers).
// When the default image cannot be had but the image
// scripts/build-images.sh builds is here, that one is used (and said):
// nobody chose the default, and the local one honours the same contract.
// An image the user named is never replaced.
func (d *dockerServers) ensureImage(ctx context.Context, sp *svcContainer) error {
	if _, err := d.cli.ImageInspect(ctx, sp.image); err == nil {
		return nil
	}
	d.logf("pulling %s", sp.image)
	opts := client.ImagePullOptions{}
	if _, auth, err := testcontainers.DockerImageAuth(ctx, sp.image); err == nil {
		if enc, err := authconfig.Encode(auth); err == nil {
			opts.RegistryAuth = enc
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	resp, err := d.cli.ImagePull(pctx, sp.image, opts)
	if err == nil {
		err = resp.Wait(pctx)
		_ = resp.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := sp.svc.Name()
		local := LocalImage(name)
		_, lerr := d.cli.ImageInspect(ctx, local)
		if sp.source == "default" && lerr == nil {
			note := fmt.Sprintf("%s: %s cannot be pulled here, so the local %s (scripts/build-images.sh) is used", name, sp.image, local)
			d.logf("%s", note)
			sp.image, sp.source = local, "local fallback"
			d.mu.Lock()
			d.notes = append(d.notes, note)
			d.mu.Unlock()
			return nil
		}
		fix := fmt.Sprintf("without a registry, build local images with scripts/build-images.sh and set %s=%s (or --image %s=REF); behind a mirror set GRADER_IMAGE_PREFIX", ImageEnv(name), local, name)
		if lerr == nil && local != sp.image {
			fix = fmt.Sprintf("%s is on this machine (scripts/build-images.sh): set %s=%s or pass --image %s=%s", local, ImageEnv(name), local, name, local)
		}
		return &EnvError{
			Message: fmt.Sprintf("image %s (for %s, from %s) is not on this machine and could not be pulled: %s", sp.image, name, sp.source, oneLine(err)),
			Fix:     fix,
		}
	}
	return nil
}

// run creates and starts the container with fixed host ports, so that the
// URLs stay valid across a fault-injection Stop/Start.
func (d *dockerServers) run(ctx context.Context, c *svcContainer) error {
	sp, name := c.spec, string(c.svc.Name())
	ctrName, alias := c.name, c.alias
	if ctrName == "" {
		ctrName = fmt.Sprintf("grader-%s-%s", d.runID, name)
	}
	if alias == "" {
		alias = name
	}
	labels := map[string]string{LabelRun: d.runID, "io.grader.service": name}
	if c.scope != "" {
		labels["io.grader.scope"] = c.scope
	}
	ports := map[string]string{}
	bindings := network.PortMap{}
	for _, p := range sp.Ports {
		hp, err := freePort(d.bindIP)
		if err != nil {
			return err
		}
		ports[p] = hp
		bindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: d.bindIP, HostPort: hp}}
	}
	stop := containerStopTimeout
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName(ctrName),
		testcontainers.WithLabels(labels),
		testcontainers.WithEnv(sp.Env),
		testcontainers.WithExposedPorts(sp.Ports...),
		tcnetwork.WithNetworkName([]string{alias}, d.network),
		testcontainers.WithConfigModifier(func(cc *container.Config) {
			cc.Hostname = alias
			cc.StopTimeout = &stop
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = bindings
			hc.ShmSize = sp.ShmSize
		}),
		testcontainers.WithLogger(tclog.Default()),
	}
	if len(sp.Cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(sp.Cmd...))
	}
	ctr, err := testcontainers.Run(ctx, c.image, opts...)
	if err != nil {
		if ctr != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			_ = ctr.Terminate(tctx, testcontainers.StopTimeout(0))
			cancel()
		}
		return err
	}
	c.ctr, c.ports = ctr, ports
	return nil
}

// waitReady polls the service's probe until it answers, the container exits
// or the timeout passes; failures carry the container's last log lines.
func (d *dockerServers) waitReady(ctx context.Context, c *svcContainer, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(wctx, 3*time.Second)
		last = c.probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st, err := c.ctr.State(wctx)
		if err == nil && !st.Running && !st.Paused {
			return &EnvError{
				Message: fmt.Sprintf("the %s container (%s) exited with code %d while starting; its last lines:\n%s", c.svc.Name(), c.image, st.ExitCode, d.logTail(c, 15)),
				Fix:     imageFix(c.svc.Name()),
			}
		}
		select {
		case <-wctx.Done():
			return &EnvError{
				Message: fmt.Sprintf("%s (%s) did not answer within %s: %s; its last lines:\n%s", c.svc.Name(), c.image, timeout, oneLine(last), d.logTail(c, 15)),
				Fix:     imageFix(c.svc.Name()),
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func imageFix(svc grader.Service) string {
	return fmt.Sprintf("if %s names an image of your own, it must honour the official image's contract (see scripts/build-images.sh); a busy machine may need another try", ImageEnv(svc))
}

// logTail returns the container's last n log lines, indented.
func (d *dockerServers) logTail(c *svcContainer, n int) string {
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.ctr.Logs(lctx)
	if err != nil {
		return "    (no logs: " + oneLine(err) + ")"
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := rc.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// startScoped starts a server of svc for one scope alone (Isolation.
// ServerPerScope), from the image of the run's shared one, on the run's
// network under a host name of its own; the scope's Release removes it.
func (d *dockerServers) startScoped(svc service.Service) func(context.Context, string, service.ContainerSpec) (service.Scoped, error) {
	return func(ctx context.Context, scope string, spec service.ContainerSpec) (service.Scoped, error) {
		shared := d.container(svc.Name())
		if shared == nil {
			return service.Scoped{}, fmt.Errorf("no %s container to take the image from", svc.Name())
		}
		host := strings.ReplaceAll(scope, "_", "-")
		c := &svcContainer{svc: svc, spec: spec, image: shared.image, source: shared.source, host: d.host,
			name: host, alias: host, scope: scope}
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			err = d.run(ctx, c)
			if err == nil || !isPortConflict(err) {
				break
			}
		}
		if err != nil {
			return service.Scoped{}, &EnvError{
				Message: fmt.Sprintf("could not start a %s container for %s (%s): %s", svc.Name(), scope, c.image, oneLine(err)),
				Fix:     "check the engine with 'docker ps -a' and 'docker info'",
			}
		}
		c.adminURL = spec.AdminURL(c.Addr)
		remove := func(ctx context.Context) error {
			if err := c.ctr.Terminate(ctx, testcontainers.StopTimeout(terminateTimeout)); err != nil {
				return fmt.Errorf("remove %s container of %s: %s", svc.Name(), scope, oneLine(err))
			}
			return nil
		}
		if err := d.waitReady(ctx, c, spec.ReadyTimeout); err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			_ = remove(rctx)
			cancel()
			return service.Scoped{}, err
		}
		port := strings.TrimSuffix(spec.Ports[0], "/tcp")
		return service.Scoped{
			URL:    c.adminURL,
			NetURL: service.WithHost(c.adminURL, host, port),
			Remove: remove,
		}, nil
	}
}

// close removes the containers (killed at once), the network and anything
// else labelled with the run.
func (d *dockerServers) close(ctx context.Context) error {
	d.mu.Lock()
	ctrs := make([]*svcContainer, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		ctrs = append(ctrs, c)
	}
	d.ctrs = map[grader.Service]*svcContainer{}
	d.mu.Unlock()

	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A paused container cannot be stopped: unpause it first.
			_, _ = d.cli.ContainerUnpause(ctx, c.ctr.GetContainerID(), client.ContainerUnpauseOptions{})
			if err := c.ctr.Terminate(ctx, testcontainers.StopTimeout(terminateTimeout)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("remove %s container: %s", c.svc.Name(), oneLine(err)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Sweep by label: the network, and anything created but never tracked
	// (a Start interrupted between the engine's create and its answer).
	if err := cleanLabel(ctx, d.cli, io.Discard, LabelRun+"="+d.runID); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// freePort asks the kernel for a free TCP port on ip (all interfaces when
// zero). Another process may take it before the container does: the caller
// retries on a port conflict.
func freePort(ip netip.Addr) (string, error) {
	host := ""
	if ip.IsValid() {
		host = ip.String()
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func isPortConflict(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}
