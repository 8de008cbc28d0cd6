package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/distribution/reference"

	"github.com/backend-grader/grader/internal/services/service"
)

// Doctor checks what the services need on this machine and prints one line
// per finding to w: "ok", "info", "warn" or "FAIL" with, for each problem,
// the fix on the same line. It returns false when a problem blocks the mode
// o asks for (auto: the mode it would choose).
func Doctor(ctx context.Context, o Options, w io.Writer) bool {
	o = o.withDefaults()
	d := &doctor{w: w}

	// Docker and images.
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	version, derr := dockerVersion(vctx)
	cancel()
	mode := o.Mode
	if mode == ModeAuto {
		switch {
		case o.anyGiven():
			mode = ModeExternal
			d.line("info", "services: auto chooses external (service URLs are given)", "")
		case derr == nil:
			mode = ModeDocker
			d.line("info", "services: auto chooses docker (no service URLs given, Docker answers)", "")
		default:
			mode = ModeDocker // what auto needs, lacking URLs
			d.line("info", "services: auto needs Docker here (no service URLs given)", "")
		}
	}
	docker := mode == ModeDocker
	if derr != nil {
		d.problem(docker, "docker: not reachable: "+oneLine(derr),
			"start Docker (on Debian: scripts/docker-up.sh), or use --services external with servers of your own")
	} else {
		d.line("ok", "docker: engine "+version, "")
		if v := os.Getenv("TESTCONTAINERS_RYUK_DISABLED"); v == "" || v == "true" {
			d.line("info", "docker: Ryuk (testcontainers' reaper) is disabled; the grader removes its containers itself, and 'grader clean' removes what a killed run left", "")
		}
		cli, err := dockerClient(ctx)
		for _, svc := range Names() {
			ref, source := o.image(svc)
			if err == nil {
				if _, ierr := cli.ImageInspect(ctx, ref); ierr == nil {
					d.line("ok", fmt.Sprintf("image %s: %s (%s) is on this machine", svc, ref, source), "")
					continue
				}
			}
			reg, rerr := registryReachable(ctx, ref)
			if rerr == nil {
				d.line("info", fmt.Sprintf("image %s: %s (%s) is not here yet: it is pulled from %s on first use", svc, ref, source, reg), "")
				continue
			}
			local := LocalImage(svc)
			fix := fmt.Sprintf("build local images with scripts/build-images.sh and set %s=%s, or set GRADER_IMAGE_PREFIX to a mirror", ImageEnv(svc), local)
			if err == nil && local != ref {
				if _, ierr := cli.ImageInspect(ctx, local); ierr == nil {
					if source == "default" {
						// What a run does too (ensureImage): nobody chose the default.
						d.line("info", fmt.Sprintf("image %s: %s cannot be pulled here (%s unreachable), so the local %s (scripts/build-images.sh) is used", svc, ref, reg, local), "")
						continue
					}
					fix = fmt.Sprintf("%s is on this machine (scripts/build-images.sh): set %s=%s or pass --image %s=%s", local, ImageEnv(svc), local, svc, local)
				}
			}
			d.problem(docker, fmt.Sprintf("image %s: %s (%s) is not here and %s cannot be reached (%s)", svc, ref, source, reg, oneLine(rerr)), fix)
		}
	}

	// External servers.
	ext := mode == ModeExternal
	extOK := true
	for _, svc := range registry {
		srv := o.server(svc)
		name, where := svc.Name(), hostPort(srv.URL)
		if !srv.Given {
			where += " (standard local address)"
		}
		if err := service.CheckScheme(name, svc.External(), srv.URL); err != nil {
			ee := err.(*EnvError)
			d.problem(ext, fmt.Sprintf("%s (external): %s", name, ee.Message), ee.Fix)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		detail, err := svc.Doctor(pctx, srv)
		cancel()
		if err != nil {
			extOK = false
			if !ext {
				d.line("info", fmt.Sprintf("%s (external) at %s: %s (not needed in docker mode)", name, where, friendly(err)), "")
				continue
			}
			msg := friendly(err)
			fix := fmt.Sprintf("start it, give yours with %s (or %s), or use --services docker", svc.External().URLFlag, svc.External().URLEnv)
			var ee *EnvError
			if errors.As(err, &ee) {
				msg, fix = ee.Message, ee.Fix
			}
			d.problem(true, fmt.Sprintf("%s (external) at %s: %s", name, where, msg), fix)
			continue
		}
		d.line("ok", fmt.Sprintf("%s (external) at %s: %s", name, where, detail), "")
	}

	if d.blocked {
		fmt.Fprintf(w, "the grader cannot run with --services %s here: fix the FAIL lines above\n", mode)
		if mode == ModeDocker && extOK {
			fmt.Fprintln(w, "the external services above all answer: --services external works here now")
		}
		return false
	}
	fmt.Fprintf(w, "the grader can run here with --services %s\n", mode)
	return true
}

type doctor struct {
	w       io.Writer
	blocked bool
}

func (d *doctor) line(status, msg, fix string) {
	if fix != "" {
		msg += "; fix: " + fix
	}
	fmt.Fprintf(d.w, "%-4s  %s\n", status, msg)
}

// problem prints a FAIL when it blocks the chosen mode, else a warning.
func (d *doctor) problem(blocking bool, msg, fix string) {
	if blocking {
		d.blocked = true
		d.line("FAIL", msg, fix)
		return
	}
	d.line("warn", msg, fix)
}

// registryReachable resolves the registry host of an image reference.
func registryReachable(ctx context.Context, ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "its registry", fmt.Errorf("bad image reference: %w", err)
	}
	host := reference.Domain(named)
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	_, err = net.DefaultResolver.LookupHost(lctx, h)
	return host, err
}
