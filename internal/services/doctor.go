package services

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/distribution/reference"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
)

// Doctor checks what the services need on this machine and prints one line
// per finding to w: "ok", "info", "warn" or "FAIL" with, for each problem,
// the fix on the same line. It returns false when a problem blocks the mode
// o asks for (auto: the mode it would choose).
func Doctor(ctx context.Context, o Options, w io.Writer) bool {
	o = o.withDefaults()
	u := o.external()
	d := &doctor{w: w}

	// Docker and images.
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	version, derr := dockerVersion(vctx)
	cancel()
	mode := o.Mode
	if mode == ModeAuto {
		switch {
		case u.anyGiven():
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
		for _, svc := range serviceOrder {
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
			local := "grader/" + string(svc) + ":local"
			fix := fmt.Sprintf("build local images with scripts/build-images.sh and set %s=%s, or set GRADER_IMAGE_PREFIX to a mirror", imageEnv(svc), local)
			if err == nil && local != ref {
				if _, ierr := cli.ImageInspect(ctx, local); ierr == nil {
					fix = fmt.Sprintf("%s is on this machine (scripts/build-images.sh): set %s=%s or pass --image %s=%s", local, imageEnv(svc), local, svc, local)
				}
			}
			d.problem(docker, fmt.Sprintf("image %s: %s (%s) is not here and %s cannot be reached (%s)", svc, ref, source, reg, oneLine(rerr)), fix)
		}
	}

	// External servers.
	ext := mode == ModeExternal
	extOK := true
	type target struct {
		svc  grader.Service
		url  string
		flag string
	}
	for _, t := range []target{
		{grader.Postgres, u.postgres, "--postgres-url"},
		{grader.Redis, u.redis, "--redis-url"},
		{grader.RabbitMQ, u.amqp, "--amqp-url"},
	} {
		where := hostPort(t.url)
		if !u.given[t.svc] {
			where += " (standard local address)"
		}
		if err := checkScheme(t.svc, t.url); err != nil {
			d.problem(ext, fmt.Sprintf("%s (external): %s", t.svc, err.(*EnvError).Message), err.(*EnvError).Fix)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		detail, err := d.external(pctx, t.svc, t.url)
		cancel()
		if err != nil {
			extOK = false
			if !ext {
				d.line("info", fmt.Sprintf("%s (external) at %s: %s (not needed in docker mode)", t.svc, where, friendly(err)), "")
				continue
			}
			d.problem(true, fmt.Sprintf("%s (external) at %s: %s", t.svc, where, friendly(err)),
				fmt.Sprintf("start it, give yours with %s (or GRADER_%s_URL), or use --services docker", t.flag, envName(t.svc)))
			continue
		}
		d.line("ok", fmt.Sprintf("%s (external) at %s: %s", t.svc, where, detail), "")
	}
	if u.mgmt != "" {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := mgmtCheck(pctx, u.mgmt, u.amqp)
		cancel()
		if err != nil {
			d.problem(ext, fmt.Sprintf("rabbitmq management API at %s: %s", redactURL(u.mgmt), friendly(err)),
				"enable it (rabbitmq-plugins enable rabbitmq_management) and check the URL and credentials")
		} else {
			d.line("ok", fmt.Sprintf("rabbitmq management API at %s answers: each run gets its own vhost", redactURL(u.mgmt)), "")
		}
	} else if ext {
		d.line("info", "rabbitmq: no --amqp-management-url: in external mode every run shares the default vhost", "")
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

// external probes one external server and describes what it found.
func (d *doctor) external(ctx context.Context, svc grader.Service, raw string) (string, error) {
	switch svc {
	case grader.Postgres:
		conn, err := pgx.Connect(ctx, raw)
		if err != nil {
			return "", err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var version string
		var ok bool
		err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), rolsuper OR (rolcreaterole AND rolcreatedb)
			FROM pg_roles WHERE rolname = current_user`).Scan(&version, &ok)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("PostgreSQL %s answers, but this user may not create roles and databases (needs superuser or CREATEROLE CREATEDB)", version)
		}
		return "PostgreSQL " + version + " answers; the user may create roles and databases", nil
	case grader.Redis:
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return "", err
		}
		opt.MaxRetries = -1
		opt.DialerRetries = 1
		c := redis.NewClient(opt)
		defer c.Close()
		n, err := countRedisDBs(ctx, c)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("answers, %d logical databases (up to %d concurrent runs)", n, n-1), nil
	default:
		if err := dialAMQP(ctx, raw); err != nil {
			return "", err
		}
		return "answers", nil
	}
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

func envName(svc grader.Service) string {
	return map[grader.Service]string{grader.Postgres: "POSTGRES", grader.Redis: "REDIS", grader.RabbitMQ: "AMQP"}[svc]
}
