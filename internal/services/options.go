package services

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

// Standard local addresses used in external mode when no URL is given.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// DefaultImages are the official images used in docker mode when neither
// Options.Images nor GRADER_*_IMAGE name one (GRADER_IMAGE_PREFIX goes in
// front of them for a registry mirror).
var DefaultImages = map[grader.Service]string{
	grader.Postgres: "postgres:16-alpine",
	grader.Redis:    "redis:7-alpine",
	grader.RabbitMQ: "rabbitmq:3.13-management-alpine",
}

// serviceOrder is the order services are listed and started in.
var serviceOrder = []grader.Service{grader.Postgres, grader.Redis, grader.RabbitMQ}

// imageEnv is the variable that names a service's image.
func imageEnv(svc grader.Service) string {
	return "GRADER_" + strings.ToUpper(string(svc)) + "_IMAGE"
}

func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	if o.RunID == "" {
		o.RunID = time.Now().UTC().Format("20060102t150405") + "-" + randomHex(3)
	}
	o.RunID = labelSafe(o.RunID)
	return o
}

// labelSafe keeps a run id usable in container and network names.
func labelSafe(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if len(s) > 48 {
		s = s[:48]
	}
	if s == "" {
		s = "run-" + randomHex(3)
	}
	return s
}

// externalURLs are the external servers resolved from options and the
// environment, and whether each was given or defaulted.
type externalURLs struct {
	postgres, redis, amqp, mgmt string
	given                       map[grader.Service]bool
}

func (o Options) external() externalURLs {
	pick := func(flag, env, def string) (string, bool) {
		if flag != "" {
			return flag, true
		}
		if v := o.Getenv(env); v != "" {
			return v, true
		}
		return def, false
	}
	u := externalURLs{given: map[grader.Service]bool{}}
	var ok bool
	u.postgres, ok = pick(o.PostgresURL, "GRADER_POSTGRES_URL", DefaultPostgresURL)
	u.given[grader.Postgres] = ok
	u.redis, ok = pick(o.RedisURL, "GRADER_REDIS_URL", DefaultRedisURL)
	u.given[grader.Redis] = ok
	u.amqp, ok = pick(o.AMQPURL, "GRADER_AMQP_URL", DefaultAMQPURL)
	u.given[grader.RabbitMQ] = ok
	u.mgmt, _ = pick(o.AMQPManagementURL, "GRADER_AMQP_MANAGEMENT_URL", "")
	return u
}

// anyGiven reports whether any external URL was given (auto mode then means external).
func (u externalURLs) anyGiven() bool {
	return u.given[grader.Postgres] || u.given[grader.Redis] || u.given[grader.RabbitMQ] || u.mgmt != ""
}

// image is the reference used for svc in docker mode, and where it came from.
func (o Options) image(svc grader.Service) (ref, source string) {
	if ref := o.Images[svc]; ref != "" {
		return ref, "--image"
	}
	if ref := o.Getenv(imageEnv(svc)); ref != "" {
		return ref, imageEnv(svc)
	}
	ref = DefaultImages[svc]
	if p := o.Getenv("GRADER_IMAGE_PREFIX"); p != "" {
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		return p + ref, "GRADER_IMAGE_PREFIX"
	}
	return ref, "default"
}

// resolveMode turns auto into docker or external (DESIGN.md §6).
func resolveMode(ctx context.Context, o Options) (Mode, error) {
	switch o.Mode {
	case ModeDocker, ModeExternal:
		return o.Mode, nil
	case ModeAuto:
	default:
		return "", fmt.Errorf("unknown services mode %q: use docker, external or auto", o.Mode)
	}
	if o.external().anyGiven() {
		o.Logf("services: external (service URLs given)")
		return ModeExternal, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := dockerVersion(pctx); err != nil {
		return "", &EnvError{
			Message: fmt.Sprintf("no services for this run: docker is not reachable (%s) and no service URLs were given", oneLine(err)),
			Fix:     "start Docker (on Debian: scripts/docker-up.sh), or use servers of your own with --services external (standard local ports, or --postgres-url, --redis-url, --amqp-url)",
		}
	}
	o.Logf("services: docker (no service URLs given, Docker answers)")
	return ModeDocker, nil
}

// oneLine keeps the first line of an error, for messages.
func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
