package submission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DefaultRunnerImages are the official images of each toolchain.
var DefaultRunnerImages = map[string]string{
	"go":     "golang:1.26-bookworm",
	"node":   "node:22-bookworm-slim",
	"python": "python:3.12-slim-bookworm",
}

// RunnerImageEnv names the variable that chooses a toolchain's runner image
// (GRADER_RUNNER_GO_IMAGE).
func RunnerImageEnv(lang string) string { return "GRADER_RUNNER_" + strings.ToUpper(lang) + "_IMAGE" }

// LocalRunnerImage is the runner image scripts/build-images.sh builds.
func LocalRunnerImage(lang string) string { return "grader/runner-" + lang + ":local" }

// toolchain says which runner image a project needs: from the first word
// of its build and run commands, else from its files; "" when neither
// tells (the Go image then: it has a shell like the others).
func toolchain(m *Manifest) string {
	for _, cmd := range []string{m.Build, m.Run} {
		f := strings.Fields(cmd)
		if len(f) == 0 {
			continue
		}
		switch filepath.Base(f[0]) {
		case "go":
			return "go"
		case "node", "npm", "npx", "yarn", "pnpm":
			return "node"
		case "python", "python3", "pip", "pip3", "uvicorn", "gunicorn", "flask", "poetry":
			return "python"
		}
	}
	has := func(name string) bool { return exists(filepath.Join(m.Dir, name)) }
	switch {
	case has("go.mod"):
		return "go"
	case has("package.json"):
		return "node"
	case has("requirements.txt"), has("pyproject.toml"), has("Pipfile"), has("main.py"), has("app.py"):
		return "python"
	}
	return ""
}

// pyVenv is the virtual environment a Python project's build and service
// share in the sandbox: pip installs there (the image's own Python is
// read-only, and Debian's refuses pip outright, PEP 668), and a user
// install under HOME would be lost with the build's /tmp.
const pyVenv = appDir + "/.grader-cache/venv"

// prelude is what runs before a project's own build or run command in its
// runner container: for Python, the shared virtual environment, made on
// first use and activated (so pip and python are its own).
func prelude(m *Manifest) string {
	if toolchain(m) != "python" {
		return ""
	}
	return "[ -x " + pyVenv + "/bin/python ] || python3 -m venv " + pyVenv + " || exit 1; . " + pyVenv + "/bin/activate; "
}

// resolved remembers, per image reference, what the first submission
// found: a batch pulls (or falls back) once.
var resolved sync.Map // ref -> resolution

type resolution struct {
	once  sync.Once
	image string
	note  string
	err   error
}

// runnerImage chooses and makes present the runner image of m's toolchain.
func (b *Box) runnerImage(ctx context.Context, m *Manifest) (string, error) {
	lang := toolchain(m)
	if lang == "" {
		// A shell script or a prebuilt binary: any runner has a shell.
		lang = "go"
		b.logf("neither the commands nor the files name a toolchain (Go, Node, Python): the project runs in the Go runner image, a Debian with a shell")
	}
	ref, chosen := b.sandbox.Images[lang], true
	if ref == "" {
		ref = os.Getenv(RunnerImageEnv(lang))
	}
	if ref == "" {
		ref, chosen = DefaultRunnerImages[lang], false
	}
	v, _ := resolved.LoadOrStore(ref, &resolution{})
	r := v.(*resolution)
	r.once.Do(func() { r.image, r.note, r.err = b.ensureImage(ctx, lang, ref, chosen) })
	if r.err != nil {
		resolved.CompareAndDelete(ref, r) // the next submission tries again
		return "", r.err
	}
	if r.note != "" {
		b.logf("%s", r.note)
	}
	return r.image, nil
}

// ensureImage makes ref present (pulling it when it is not), or, when
// nobody chose it and it cannot be pulled, falls back to the local image.
func (b *Box) ensureImage(ctx context.Context, lang, ref string, chosen bool) (string, string, error) {
	if _, err := b.cli.ImageInspect(ctx, ref); err == nil {
		return ref, "", nil
	}
	b.logf("pulling %s (the runner image for %s)", ref, lang)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	resp, err := b.cli.ImagePull(pctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(pctx)
		_ = resp.Close()
	}
	if err == nil {
		return ref, "", nil
	}
	if ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	local := LocalRunnerImage(lang)
	_, lerr := b.cli.ImageInspect(ctx, local)
	if !chosen && lerr == nil {
		return local, fmt.Sprintf("%s cannot be pulled here, so the local %s (scripts/build-images.sh) runs %s projects", ref, local, lang), nil
	}
	fix := fmt.Sprintf("without a registry, build it with `scripts/build-images.sh runner-%s` and set %s=%s (or --runner-image %s=REF)", lang, RunnerImageEnv(lang), local, lang)
	return "", "", &SandboxUnavailableError{Why: fmt.Sprintf("its runner image for %s, %s, is not on this machine and could not be pulled (%s); fix: %s",
		lang, ref, firstLine(err.Error()), fix)}
}

// build runs the build command in a container of the runner image, on
// Docker's default network (a build may fetch packages), confined like the
// service.
func (b *Box) build(ctx context.Context, cfg Config) error {
	m := cfg.Manifest
	image, err := b.runnerImage(ctx, m)
	if err != nil {
		return err
	}
	m.image = image
	if m.Build == "" {
		return nil
	}
	cfg.logf("building in the sandbox (%s): %s", image, m.Build)
	cfg.logf("sandbox: %s", b.sandbox)
	started := time.Now()
	if toolchain(m) == "go" {
		b.warmGo(ctx, cfg, image)
	}
	env := b.toolEnv()
	for k, v := range cfg.Env {
		if k != "PORT" {
			env[k] = v
		}
	}
	user, err := b.user(m)
	if err != nil {
		return err
	}
	ring := newLineRing(40)
	spec := containerSpec{image: image, script: prelude(m) + m.Build, user: user, env: env, host: b.hostConfig(m, cfg.Limits, buildNetwork)}
	forBuild(spec.host, env)
	c, err := b.start(ctx, spec, ring, newEchoer(cfg.Output), servicePrefix)
	if err != nil {
		return err
	}
	defer c.stop(context.WithoutCancel(ctx))
	select {
	case <-c.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	if c.code == 0 && !c.oom {
		cfg.logf("built in %s", time.Since(started).Round(100*time.Millisecond))
		return nil
	}
	why, hint := c.reason, fmt.Sprintf("run `%s` in your project directory and fix the errors it prints (the last lines are below)", m.Build)
	if c.oom {
		why, hint = "was killed: it used more than the sandbox's memory ("+formatBytes(uint64(b.sandbox.Memory))+")", "the build must fit in the memory the sandbox gives the whole submission"
	}
	return &ProjectError{Kind: "build",
		Message: fmt.Sprintf("the project did not build: `%s` %s", m.Build, why),
		Hint:    hint,
		Log:     tail(ring, 40)}
}

// containerSpec is one container of a submission: image running script
// (sh -c, in its copy) or, when script is "", the image's own command.
type containerSpec struct {
	image, script, user string
	env                 map[string]string
	host                *container.HostConfig
}

// start creates and starts a container in the box (with the box's labels)
// and follows its output.
func (b *Box) start(ctx context.Context, s containerSpec, ring *lineRing, echo *echoer, prefix string) (*containerRunner, error) {
	cc := &container.Config{Image: s.image, Env: environ(s.env), Labels: b.labels, User: s.user}
	if s.script != "" {
		// An init process reaps what the script leaves and passes SIGTERM
		// on, as a shell on the host would not need to.
		cc.Cmd = []string{"/bin/sh", "-c", s.script}
		cc.WorkingDir = appDir
		init := true
		s.host.Init = &init
	}
	created, err := b.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "grader-sub-" + randomHex(6), Config: cc, HostConfig: s.host})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("docker: cannot create the submission's container: %w", err)
	}
	c := newContainerRunner(b.cli, created.ID)
	if _, err := b.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		c.stop(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ProjectError{Kind: "start", Message: "the submission's container did not start: " + firstLine(err.Error())}
	}
	c.follow(ring, echo, prefix)
	return c, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
