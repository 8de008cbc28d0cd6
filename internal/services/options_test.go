package services

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/services/postgres"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	"github.com/backend-grader/grader/internal/services/redis"
	"github.com/backend-grader/grader/internal/services/service"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestImageResolution(t *testing.T) {
	tests := []struct {
		name       string
		images     map[grader.Service]string
		env        map[string]string
		want, from string
	}{
		{"default", nil, nil, "postgres:16-alpine", "default"},
		{"prefix", nil, map[string]string{"GRADER_IMAGE_PREFIX": "mirror.example.com/hub"}, "mirror.example.com/hub/postgres:16-alpine", "GRADER_IMAGE_PREFIX"},
		{"prefix with slash", nil, map[string]string{"GRADER_IMAGE_PREFIX": "mirror.example.com/"}, "mirror.example.com/postgres:16-alpine", "GRADER_IMAGE_PREFIX"},
		{"env beats prefix", nil, map[string]string{"GRADER_IMAGE_PREFIX": "m/", "GRADER_POSTGRES_IMAGE": "grader/postgres:local"}, "grader/postgres:local", "GRADER_POSTGRES_IMAGE"},
		{"flag beats env", map[grader.Service]string{grader.Postgres: "pg:x"}, map[string]string{"GRADER_POSTGRES_IMAGE": "grader/postgres:local"}, "pg:x", "--image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Images: tt.images, Getenv: envOf(tt.env)}.withDefaults()
			got, from := o.image(grader.Postgres)
			if got != tt.want || from != tt.from {
				t.Errorf("image = %q from %q, want %q from %q", got, from, tt.want, tt.from)
			}
		})
	}
}

func TestExternalURLDefaults(t *testing.T) {
	o := Options{Getenv: envOf(map[string]string{"GRADER_REDIS_URL": "redis://r:1/0"}), AMQPURL: "amqp://u:p@a:5672/"}.withDefaults()
	url := func(name grader.Service) (string, bool) {
		svc, ok := Lookup(string(name))
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", name)
		}
		return o.url(svc)
	}
	if u, given := url(grader.Postgres); u != DefaultPostgresURL || given {
		t.Errorf("postgres = %q given=%v, want the default, not given", u, given)
	}
	if u, given := url(grader.Redis); u != "redis://r:1/0" || !given {
		t.Errorf("redis = %q given=%v, want the env value, given", u, given)
	}
	if u, given := url(grader.RabbitMQ); u != "amqp://u:p@a:5672/" || !given {
		t.Errorf("amqp = %q given=%v, want the option", u, given)
	}
	if !o.anyGiven() {
		t.Error("anyGiven = false with URLs given")
	}
	if (Options{Getenv: envOf(nil)}).withDefaults().anyGiven() {
		t.Error("anyGiven = true with nothing given")
	}
	// A setting alone (the management API) also means external.
	m := Options{Getenv: envOf(map[string]string{"GRADER_AMQP_MANAGEMENT_URL": "http://h:15672"})}.withDefaults()
	if !m.anyGiven() {
		t.Error("anyGiven = false with GRADER_AMQP_MANAGEMENT_URL set")
	}
	if got := m.server(rabbitmq.Service).Get(rabbitmq.SettingManagementURL); got != "http://h:15672" {
		t.Errorf("management URL setting = %q", got)
	}
	// URLs win over the named fields.
	w := Options{PostgresURL: "postgres://a/x", URLs: map[grader.Service]string{grader.Postgres: "postgres://b/x"}, Getenv: envOf(nil)}.withDefaults()
	if u, _ := w.url(postgres.Service); u != "postgres://b/x" {
		t.Errorf("postgres = %q, want the URLs entry", u)
	}
}

func TestRegistry(t *testing.T) {
	names := Names()
	if want := []grader.Service{grader.Postgres, grader.Redis, grader.RabbitMQ}; !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, n := range names {
		svc, ok := Lookup(string(n))
		if !ok || svc.Name() != n {
			t.Errorf("Lookup(%q) = %v, %v", n, svc, ok)
		}
		if DefaultImages[n] == "" || svc.External().DefaultURL == "" || len(svc.Container().Ports) == 0 {
			t.Errorf("%s lacks a default image, URL or container port", n)
		}
	}
	if _, ok := Lookup("kafka"); ok {
		t.Error("Lookup(kafka) found a service")
	}
	if err := Validate("kafka"); err == nil || !strings.Contains(err.Error(), "postgres, redis and rabbitmq") {
		t.Errorf("Validate(kafka) = %v, want the known names", err)
	}
	if svc, ref, err := ParseImage("redis=grader/redis:local"); err != nil || svc != grader.Redis || ref != "grader/redis:local" {
		t.Errorf("ParseImage = %q, %q, %v", svc, ref, err)
	}
	for _, bad := range []string{"kafka=x", "redis=", "redis"} {
		if _, _, err := ParseImage(bad); err == nil || !strings.Contains(err.Error(), "postgres=REF, redis=REF or rabbitmq=REF") {
			t.Errorf("ParseImage(%q) = %v, want the forms", bad, err)
		}
	}
	if _, err := Start(context.Background(), Options{Mode: ModeExternal}, []grader.Service{"kafka"}); err == nil || !strings.Contains(err.Error(), "unknown service") {
		t.Errorf("Start(kafka) = %v", err)
	}
}

func TestAutoWithURLsIsExternal(t *testing.T) {
	o := Options{Mode: ModeAuto, Getenv: envOf(map[string]string{"GRADER_POSTGRES_URL": DefaultPostgresURL})}.withDefaults()
	m, err := resolveMode(context.Background(), o)
	if err != nil || m != ModeExternal {
		t.Fatalf("resolveMode = %q, %v; want external", m, err)
	}
}

func TestUnknownMode(t *testing.T) {
	_, err := Start(context.Background(), Options{Mode: "kubernetes"}, []grader.Service{grader.Redis})
	if err == nil || !strings.Contains(err.Error(), "use docker, external or auto") {
		t.Fatalf("err = %v, want a message naming the modes", err)
	}
}

func TestStartNothingNeeded(t *testing.T) {
	s, err := Start(context.Background(), Options{Mode: ModeDocker}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode() != ModeNone || s.Network() != "" {
		t.Errorf("mode %q network %q, want none and no network", s.Mode(), s.Network())
	}
	sc, err := s.Isolate(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Env) != 0 || sc.PG != nil || sc.Redis != nil {
		t.Errorf("scope of nothing has env %v", sc.Env)
	}
	if err := sc.Faults.Stop(context.Background(), "postgres"); !errors.Is(err, harness.ErrNoFaults) {
		t.Errorf("Faults.Stop = %v, want ErrNoFaults", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestScopeName(t *testing.T) {
	re := regexp.MustCompile(`^grader_[a-z0-9_]{1,24}(_[a-z0-9_]{1,12})?_[0-9a-f]{6}$`)
	for _, id := range []string{"run", "", "Ünïcode ☃", "20261121t101010-abc", strings.Repeat("x", 100), `a"; DROP TABLE x; --`} {
		for _, runID := range []string{"", "0a1b2c3d4e5f", id} {
			n := scopeName(runID, id)
			if !re.MatchString(n) || len(n) > 63 {
				t.Errorf("scopeName(%q, %q) = %q, not a safe identifier", runID, id, n)
			}
		}
	}
	if scopeName("r", "same") == scopeName("r", "same") {
		t.Error("two scopes with the same id got the same name")
	}
	// A batch's scope ids extend the run id: the name carries both.
	if n := scopeName("0a1b2c3d4e5f", "0a1b2c3d4e5fs12"); !strings.HasPrefix(n, "grader_0a1b2c3d4e5f_s12_") {
		t.Errorf("scopeName of a batch submission = %q, want grader_<run id>_s12_<suffix>", n)
	}
}

func TestURLHelpers(t *testing.T) {
	got := service.WithCredentials("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "r", "p w", "db")
	if want := "postgres://r:p%20w@127.0.0.1:5432/db?sslmode=disable"; got != want {
		t.Errorf("WithCredentials = %q, want %q", got, want)
	}
	if got := service.WithCredentials("redis://:pw@h:6379/0", "", "", "7"); got != "redis://:pw@h:6379/7" {
		t.Errorf("redis db url = %q", got)
	}
	s := &Servers{}
	if got := s.netURL(redis.Service, "redis://127.0.0.1:6379/3"); got != "redis://host.docker.internal:6379/3" {
		t.Errorf("external netURL = %q", got)
	}
	if got := s.netURL(redis.Service, "redis://cache.internal:6379/3"); got != "redis://cache.internal:6379/3" {
		t.Errorf("external netURL of a remote host = %q, want it unchanged", got)
	}
	s.docker = &dockerServers{ctrs: map[grader.Service]*svcContainer{grader.Postgres: {spec: postgres.Service.Container()}}}
	if got := s.netURL(postgres.Service, "postgres://u:p@127.0.0.1:49153/db?sslmode=disable"); got != "postgres://u:p@postgres:5432/db?sslmode=disable" {
		t.Errorf("docker netURL = %q", got)
	}
}

func TestEnvErrorMessage(t *testing.T) {
	e := &EnvError{Message: "docker is not reachable", Fix: "start Docker"}
	if e.Error() != "docker is not reachable; start Docker" {
		t.Errorf("Error() = %q", e.Error())
	}
	if (&EnvError{Message: "m"}).Error() != "m" {
		t.Error("Error() without a fix should be the message")
	}
}

func TestCheckScheme(t *testing.T) {
	err := service.CheckScheme(grader.Postgres, postgres.Service.External(), "host=localhost user=postgres")
	var ee *EnvError
	if !errors.As(err, &ee) || !strings.Contains(ee.Fix, "postgres://") {
		t.Fatalf("err = %v, want an EnvError with the URL form", err)
	}
	if err := service.CheckScheme(grader.Redis, redis.Service.External(), "rediss://h:6380/0"); err != nil {
		t.Errorf("rediss rejected: %v", err)
	}
}
