package submission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// imageTag names the image built for a project directory.
func imageTag(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "grader-submission-" + hex.EncodeToString(sum[:6]) + ":latest"
}

// labels returns cfg.Labels, with io.grader.run always set.
func labels(cfg Config) map[string]string {
	out := map[string]string{runLabel: "submission"}
	for k, v := range cfg.Labels {
		out[k] = v
	}
	return out
}

// buildImage builds the project's Dockerfile: with BuildKit through the
// docker CLI when `docker buildx` is there, else through the engine's API
// (the legacy builder, which rejects BuildKit-only syntax such as
// RUN --mount).
func buildImage(ctx context.Context, cfg Config) error {
	m := cfg.Manifest
	tag := imageTag(m.Dir)
	started := time.Now()
	ring := newLineRing(40)
	echo := newEchoer(cfg.Output)
	var err error
	if hasBuildx(ctx) {
		cfg.logf("building the image with BuildKit: docker buildx build --load %s", m.Dir)
		err = buildWithCLI(ctx, cfg, tag, ring, echo)
	} else {
		cfg.logf("building the image (legacy builder: no docker buildx here): docker build %s", m.Dir)
		err = buildWithAPI(ctx, cfg, tag, ring, echo)
	}
	if err != nil {
		return err
	}
	m.image = tag
	cfg.logf("built %s in %s", tag, time.Since(started).Round(100*time.Millisecond))
	return nil
}

// hasBuildx reports whether the docker CLI with buildx (BuildKit) is here.
func hasBuildx(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "buildx", "version").Run() == nil
}

func buildWithCLI(ctx context.Context, cfg Config, tag string, ring *lineRing, echo *echoer) error {
	argv := []string{"docker", "buildx", "build", "--load", "--progress", "plain", "-t", tag}
	for k, v := range labels(cfg) {
		argv = append(argv, "--label", k+"="+v)
	}
	argv = append(argv, ".")
	proc, err := startArgs(cfg.Manifest.Dir, argv, Limits{}, environ(hostEnviron()), ring, echo, servicePrefix)
	if err != nil {
		return err
	}
	if err := proc.runToEnd(ctx); err != nil {
		return err
	}
	if proc.state.Success() {
		return nil
	}
	return imageBuildError(describeExit(proc.state), ring)
}

func buildWithAPI(ctx context.Context, cfg Config, tag string, ring *lineRing, echo *echoer) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{Context: cfg.Manifest.Dir}}
	buildCtx, err := req.GetContext()
	if err != nil {
		return &ProjectError{Kind: "build", Message: fmt.Sprintf("cannot pack the project for docker build: %v", err),
			Hint: "check .dockerignore and the files' permissions"}
	}
	res, err := cli.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags: []string{tag}, Labels: labels(cfg), Remove: true, ForceRemove: true, Dockerfile: "Dockerfile",
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return imageBuildError(fmt.Sprintf("failed: %v", err), ring)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	var partial string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return imageBuildError(fmt.Sprintf("failed: %v", err), ring)
		}
		if msg.Stream != "" {
			text := partial + msg.Stream
			lines := strings.Split(text, "\n")
			partial = lines[len(lines)-1]
			for _, l := range lines[:len(lines)-1] {
				ring.add(l)
				echo.line(servicePrefix, l)
			}
		}
		if msg.Error != "" {
			ring.add(msg.Error)
			echo.line(servicePrefix, msg.Error)
			return imageBuildError("failed: "+firstLine(msg.Error), ring)
		}
	}
	return nil
}

// imageBuildError is the *ProjectError for a failed image build.
func imageBuildError(how string, ring *lineRing) error {
	log := tail(ring, 40)
	hint := "run `docker build .` in your project directory and fix the errors it prints (the last lines are below)"
	if strings.Contains(log, "--mount") && strings.Contains(strings.ToLower(log), "buildkit") {
		hint = "this Dockerfile needs BuildKit (RUN --mount) and this machine's docker has no buildx: install docker buildx, or build without RUN --mount"
	}
	return &ProjectError{Kind: "build", Message: "the project did not build: `docker build .` " + how, Hint: hint, Log: log}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// RemoveImage removes the image Build made for a docker: true project (a
// no-op otherwise). `grader check` keeps it, so that the next build of the
// same project starts from its layers; `grader batch`, which grades copies,
// should remove it once the submission is graded.
func RemoveImage(ctx context.Context, m *Manifest) error {
	if m == nil || !m.Docker || m.image == "" {
		return nil
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageRemove(ctx, m.image, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("cannot remove the image %s: %w", m.image, err)
	}
	m.image = ""
	return nil
}
