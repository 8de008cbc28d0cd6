package services

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/postgres"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	"github.com/backend-grader/grader/internal/services/redis"
	"github.com/backend-grader/grader/internal/services/service"
)

// Standard local addresses used in external mode when no URL is given.
const (
	DefaultPostgresURL = postgres.DefaultURL
	DefaultRedisURL    = redis.DefaultURL
	DefaultAMQPURL     = rabbitmq.DefaultURL
)

// DefaultImages are the official images used in docker mode when neither
// Options.Images nor GRADER_*_IMAGE name one (GRADER_IMAGE_PREFIX goes in
// front of them for a registry mirror).
var DefaultImages = func() map[grader.Service]string {
	m := map[grader.Service]string{}
	for _, s := range registry {
		m[s.Name()] = s.DefaultImage()
	}
	return m
}()

// ImageEnv is the variable that names a service's image (GRADER_POSTGRES_IMAGE).
func ImageEnv(svc grader.Service) string {
	return "GRADER_" + strings.ToUpper(string(svc)) + "_IMAGE"
}

// LocalImage is the image scripts/build-images.sh builds for a service.
func LocalImage(svc grader.Service) string { return "grader/" + string(svc) + ":local" }

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
		o.RunID = time.Now().UTC().Format("20060102t150405") + "-" + service.RandomHex(3)
	}
	o.RunID = labelSafe(o.RunID)
	// The named fields are folded into the maps the registry reads.
	urls := map[grader.Service]string{}
	for k, v := range o.URLs {
		urls[k] = v
	}
	for svc, v := range map[grader.Service]string{grader.Postgres: o.PostgresURL, grader.Redis: o.RedisURL, grader.RabbitMQ: o.AMQPURL} {
		if v != "" && urls[svc] == "" {
			urls[svc] = v
		}
	}
	o.URLs = urls
	settings := map[string]string{}
	for k, v := range o.Settings {
		settings[k] = v
	}
	if o.AMQPManagementURL != "" && settings[rabbitmq.SettingManagementURL] == "" {
		settings[rabbitmq.SettingManagementURL] = o.AMQPManagementURL
	}
	o.Settings = settings
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
		s = "run-" + service.RandomHex(3)
	}
	return s
}

// url is the external server of svc: the option, else its environment
// variable, else the standard local address (given false).
func (o Options) url(svc service.Service) (string, bool) {
	if v := o.URLs[svc.Name()]; v != "" {
		return v, true
	}
	ext := svc.External()
	if v := o.Getenv(ext.URLEnv); v != "" {
		return v, true
	}
	return ext.DefaultURL, false
}

// setting is one of svc's optional settings: the option, else its
// environment variable ("" when neither).
func (o Options) setting(svc service.Service, key string) string {
	if v := o.Settings[key]; v != "" {
		return v
	}
	for _, st := range svc.External().Settings {
		if st.Key == key && st.Env != "" {
			return o.Getenv(st.Env)
		}
	}
	return ""
}

// server is what external mode hands svc.
func (o Options) server(svc service.Service) service.Server {
	u, given := o.url(svc)
	return service.Server{
		URL: u, Given: given, Logf: o.Logf,
		Setting:   func(key string) string { return o.setting(svc, key) },
		Isolation: o.isolation(),
	}
}

// isolation is what the services are told about keeping scopes apart.
func (o Options) isolation() service.Isolation {
	return service.Isolation{ConnLimit: o.ConnLimit, Untrusted: o.Untrusted,
		AllowTrust: o.AllowTrustingPostgres, ServerPerScope: o.ServerPerScope}
}

// anyGiven reports whether any external URL or setting was given (auto mode
// then means external).
func (o Options) anyGiven() bool {
	for _, svc := range registry {
		if _, given := o.url(svc); given {
			return true
		}
		for _, st := range svc.External().Settings {
			if o.setting(svc, st.Key) != "" {
				return true
			}
		}
	}
	return false
}

// image is the reference used for svc in docker mode, and where it came from.
func (o Options) image(svc grader.Service) (ref, source string) {
	if ref := o.Images[svc]; ref != "" {
		return ref, "--image"
	}
	if ref := o.Getenv(ImageEnv(svc)); ref != "" {
		return ref, ImageEnv(svc)
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
	if o.anyGiven() {
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

// Helpers of the leaf, under the names this package has always used.
var (
	oneLine   = service.OneLine
	friendly  = service.Friendly
	hostPort  = service.HostPort
	redactURL = service.Redact
	randomHex = service.RandomHex
)
