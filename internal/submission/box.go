package submission

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// A Box is the Docker network a submission's containers run on: an
// internal network (no route out of it), whose gateway is this machine.
// The grader's listeners for the submission (the fault proxies in front of
// its services, the webhook receiver) listen on the gateway, so the
// containers reach those and nothing else the grader runs (DESIGN §6).
//
// With a Sandbox the box also confines the submission: it is built and run
// in containers of a runner image (its own image with docker: true), with
// its own PID namespace, limits for the whole submission, a read-only
// root, its private copy at /app, a tmpfs /tmp, no capabilities and none
// of the grader's environment.
type Box struct {
	cli     *client.Client
	name    string
	gateway string
	sandbox *Sandbox
	labels  map[string]string
	logf    func(format string, args ...any)

	userOnce sync.Once
	userName string
	userErr  error
}

// Sandbox is how a submission is confined. Zero fields take the defaults
// of DefaultSandbox.
type Sandbox struct {
	// Images name the runner image per toolchain (go, node, python); a
	// missing one is the official image, or the local one
	// scripts/build-images.sh builds when the official one cannot be pulled.
	Images map[string]string
	// Memory is the memory of the whole submission, in bytes (no swap).
	Memory int64
	// Pids is how many processes and threads it may have at once.
	Pids int64
	// CPUs is how many CPUs' worth of time it gets.
	CPUs float64
	// Tmp is the size of its /tmp (a tmpfs, counted in Memory), in bytes.
	Tmp int64
	// ModCache is a host directory of Go module downloads offered
	// read-only to the build as a module proxy ("": GOMODCACHE's, when
	// it exists), so that Go projects build without a network.
	ModCache string
	// SharedCache is a directory of the grader's, shared by the boxes of
	// one batch, for the Go build cache that only the grader's own
	// command writes (gocache.go); "": none, every build is cold.
	SharedCache string
}

// DefaultSandbox is the confinement batch uses unless told otherwise.
var DefaultSandbox = Sandbox{Memory: 2 << 30, Pids: 512, CPUs: 1, Tmp: 256 << 20}

// SandboxUnavailableError: the batch's sandbox needs a Docker engine on
// this machine, and there is none.
type SandboxUnavailableError struct{ Why string }

func (e *SandboxUnavailableError) Error() string {
	return "the batch runs each submission in a container of its own (the sandbox), but " + e.Why
}

// RemoteEngineError: the engine's networks are not on this machine (Docker
// Desktop, a remote engine), so its containers cannot reach the grader.
type RemoteEngineError struct{ Gateway string }

func (e *RemoteEngineError) Error() string {
	return fmt.Sprintf("docker: a network's gateway (%s) is not an address of this machine", e.Gateway)
}

// BoxOptions say how to make a Box.
type BoxOptions struct {
	// Labels go on the network and on every container in it.
	Labels map[string]string
	// Sandbox confines the submission (nil: the network only, for a
	// docker: true project in `grader check`).
	Sandbox *Sandbox
	Logf    func(format string, args ...any)
}

// OpenBox creates the box's network. Close removes it.
func OpenBox(ctx context.Context, o BoxOptions) (*Box, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		var du *DockerUnavailableError
		if o.Sandbox != nil && errors.As(err, &du) {
			return nil, &SandboxUnavailableError{Why: fmt.Sprintf("no Docker engine answers (%v)", du.Err)}
		}
		return nil, err
	}
	b := &Box{cli: cli, name: "grader-box-" + randomHex(6), labels: labels(Config{Labels: o.Labels}), logf: o.Logf}
	if b.logf == nil {
		b.logf = func(string, ...any) {}
	}
	if o.Sandbox != nil {
		s := *o.Sandbox
		s.withDefaults()
		b.sandbox = &s
	}
	if _, err := cli.NetworkCreate(ctx, b.name, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: b.labels}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker: cannot create the submission's network: %w", err)
	}
	nw, err := cli.NetworkInspect(ctx, b.name, client.NetworkInspectOptions{})
	if err == nil {
		for _, c := range nw.Network.IPAM.Config {
			if c.Gateway.IsValid() {
				b.gateway = c.Gateway.String()
			}
		}
	}
	if b.gateway == "" || !localAddress(b.gateway) {
		b.Close(context.WithoutCancel(ctx))
		why := fmt.Sprintf("its network's gateway (%s) is not an address of this machine: the grader must run on the machine of the Docker engine (Linux), so that the submission's containers can reach the grader's proxies", b.gateway)
		if o.Sandbox != nil {
			return nil, &SandboxUnavailableError{Why: why}
		}
		return nil, &RemoteEngineError{Gateway: b.gateway}
	}
	return b, nil
}

// localAddress reports whether ip is an address of one of this machine's
// interfaces.
func localAddress(ip string) bool {
	want, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if got, ok := netip.AddrFromSlice(n.IP); ok && got.Unmap() == want {
				return true
			}
		}
	}
	return false
}

// Host is where the submission's containers reach the grader: the
// network's gateway.
func (b *Box) Host() string { return b.gateway }

// Sandboxed reports whether the box confines the submission.
func (b *Box) Sandboxed() bool { return b.sandbox != nil }

// Close removes the network (its containers must be gone: Process.Stop).
func (b *Box) Close(ctx context.Context) error {
	defer b.cli.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	for {
		_, err := b.cli.NetworkRemove(ctx, b.name, client.NetworkRemoveOptions{})
		if err == nil || strings.Contains(err.Error(), "not found") {
			return nil
		}
		// A container's endpoint goes a moment after the container.
		if !strings.Contains(err.Error(), "active endpoints") || ctx.Err() != nil {
			return fmt.Errorf("docker: cannot remove the submission's network %s: %w", b.name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Sandbox) withDefaults() {
	d := DefaultSandbox
	if s.Memory <= 0 {
		s.Memory = d.Memory
	}
	if s.Pids <= 0 {
		s.Pids = d.Pids
	}
	if s.CPUs <= 0 {
		s.CPUs = d.CPUs
	}
	if s.Tmp <= 0 {
		s.Tmp = d.Tmp
	}
	if s.ModCache == "" {
		s.ModCache = hostModCache()
	}
}

// Describe says how the box confines its submission.
func (b *Box) Describe() string {
	if b.sandbox == nil {
		return "its own network"
	}
	return b.sandbox.String()
}

// String describes the confinement for a progress line.
func (s *Sandbox) String() string {
	return fmt.Sprintf("memory %s, %d processes, %g CPU, /tmp %s, read-only root, no network but its services",
		formatBytes(uint64(s.Memory)), s.Pids, s.CPUs, formatBytes(uint64(s.Tmp)))
}

// hostModCache is the download directory of this machine's Go module
// cache, "" when there is none.
func hostModCache() string {
	dir := os.Getenv("GOMODCACHE")
	if dir == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			gopath = filepath.Join(home, "go")
		}
		dir = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "pkg", "mod")
	}
	dl := filepath.Join(dir, "cache", "download")
	if fi, err := os.Stat(dl); err == nil && fi.IsDir() {
		return dl
	}
	return ""
}

// sandboxUID is the user a sandboxed submission runs as when the grader
// runs as root (else the grader's own user: the copy is its).
const sandboxUID = 10001

// user is the containers' user; the first call makes the copy its own.
func (b *Box) user(m *Manifest) (string, error) {
	b.userOnce.Do(func() { b.userName, b.userErr = chownCopy(m.Dir) })
	return b.userName, b.userErr
}

func chownCopy(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, ".grader-cache", "go-tmp"), 0o755); err != nil {
		return "", fmt.Errorf("cannot prepare the copy %s: %w", dir, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid()), nil
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Hard links to the shared Go cache stay the grader's (gocache.go).
		if info, err := d.Info(); err == nil && !d.IsDir() {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == warmUID {
				return nil
			}
		}
		return os.Lchown(path, sandboxUID, sandboxUID)
	})
	if err != nil {
		return "", fmt.Errorf("cannot hand the copy %s to the sandbox's user: %w", dir, err)
	}
	return fmt.Sprintf("%d:%d", sandboxUID, sandboxUID), nil
}

// toolEnv is the environment of the build and of the service in a runner
// image: caches inside the copy, HOME on the tmpfs.
func (b *Box) toolEnv() map[string]string {
	env := map[string]string{
		"HOME":             "/tmp",
		"GOCACHE":          appDir + "/.grader-cache/go-build",
		"GOMODCACHE":       appDir + "/.grader-cache/go-mod",
		"GOFLAGS":          "-modcacherw",
		"GOTMPDIR":         appDir + "/.grader-cache/go-tmp",
		"GOTOOLCHAIN":      "local",
		"npm_config_cache": appDir + "/.grader-cache/npm",
		"PIP_CACHE_DIR":    appDir + "/.grader-cache/pip",
	}
	if b.sandbox.ModCache != "" {
		env["GOPROXY"] = "file://" + modCacheDir + ",https://proxy.golang.org,direct"
	}
	return env
}

// Where the copy, the module downloads and this machine's CA bundle are in
// a runner container.
const (
	appDir      = "/app"
	modCacheDir = "/grader-gomod"
	caBundle    = "/etc/grader/ca-certificates.crt"
)

// buildNetwork is where builds run: Docker's default network, from which
// package registries are reachable.
const buildNetwork = "bridge"

// forBuild makes hc and env those of a build: on the default network, with
// this machine's CA bundle and proxy settings, so that a registry reached
// through a TLS-inspecting or plain proxy (a company's, a school's) works
// in the build as it does here.
func forBuild(hc *container.HostConfig, env map[string]string) {
	hc.NetworkMode = buildNetwork
	if ca := hostCABundle(); ca != "" {
		hc.Binds = append(hc.Binds, ca+":"+caBundle+":ro")
		for _, k := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO"} {
			env[k] = caBundle
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
}

// hostCABundle is the CA bundle this machine trusts, "" when none is found.
func hostCABundle() string {
	for _, f := range []string{os.Getenv("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f
		}
	}
	return ""
}

// hostConfig is the confinement of every container of the submission.
func (b *Box) hostConfig(m *Manifest, lim Limits, networkName string) *container.HostConfig {
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(networkName)}
	s := b.sandbox
	if s == nil {
		return hc
	}
	pids := s.Pids
	hc.ReadonlyRootfs = true
	hc.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d", s.Tmp)} // exec: a venv or a tool unpacked in /tmp runs, as on any machine
	hc.CapDrop = []string{"ALL"}
	hc.SecurityOpt = []string{"no-new-privileges"}
	hc.Resources = container.Resources{Memory: s.Memory, MemorySwap: s.Memory, NanoCPUs: int64(s.CPUs * 1e9), PidsLimit: &pids}
	for name, v := range map[string]uint64{"nofile": lim.OpenFiles, "fsize": lim.FileBytes, "cpu": lim.CPUSeconds} {
		if v > 0 {
			hard := int64(v)
			if name == "cpu" {
				hard++ // SIGXCPU first, so the report can say why
			}
			hc.Resources.Ulimits = append(hc.Resources.Ulimits, &container.Ulimit{Name: name, Soft: int64(v), Hard: hard})
		}
	}
	if !m.Docker {
		hc.Binds = []string{m.Dir + ":" + appDir}
		if s.ModCache != "" {
			hc.Binds = append(hc.Binds, s.ModCache+":"+modCacheDir+":ro")
		}
	}
	return hc
}
