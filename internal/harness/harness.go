// Package harness is what a check is handed: an HTTP client that records a
// transcript, handles on the run's Postgres / Redis / RabbitMQ, the
// environment injected into the learner's service, a seeded random source,
// a prefixed logger and controls over the service and its dependencies.
package harness

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/verdict"
)

// Step is one recorded interaction, shown to the learner when a check fails:
// an HTTP exchange as a curl line and the response, a SQL statement and its
// result, a redis-cli command and its reply.
type Step struct {
	Kind    string `json:"kind"`    // http | sql | redis | amqp | note
	Command string `json:"command"` // what the grader did, as the learner could repeat it
	Output  string `json:"output"`  // what came back
}

// Service is the learner's running service, as checks may control it.
type Service interface {
	// URL is the base URL of the running instance (no trailing slash).
	URL() string
	// Restart stops the service (SIGTERM, then SIGKILL) and starts it again
	// with the same environment, waiting until it listens.
	Restart(ctx context.Context) error
	// StartInstance starts another instance of the service on another port,
	// with the run's environment plus env, and waits until it listens.
	StartInstance(ctx context.Context, env map[string]string) (Instance, error)
	// Logs returns the last n lines the service printed.
	Logs(n int) []string
	// Exited reports why the service is no longer running, or nil.
	Exited() error
}

// Instance is an extra instance started by Service.StartInstance.
type Instance interface {
	URL() string
	Logs(n int) []string
	Exited() error
	Stop(ctx context.Context) error
}

// Faults lets a check break a backing service ("postgres", "redis",
// "rabbitmq"). Connection details may change afterwards; Refresh in the
// harness re-reads them.
type Faults interface {
	Pause(ctx context.Context, service string) error
	Unpause(ctx context.Context, service string) error
	Stop(ctx context.Context, service string) error
	Start(ctx context.Context, service string) error
}

// ErrNoFaults is returned by Faults in modes where the grader does not own
// the services (external mode): such checks report skip.
var ErrNoFaults = errors.New("fault injection needs the grader's own service containers (--services docker)")

// H is handed to every check. The runner gives each check its own copy
// (ForCheck) with a fresh transcript and a random source seeded from the
// run's seed and the check's id, so a check's data does not depend on which
// other checks ran.
type H struct {
	// Env is the environment the service was started with (PORT, DATABASE_URL, ...).
	Env map[string]string
	// Seed is the run's seed.
	Seed int64
	// Rand is this check's seeded random source.
	Rand *rand.Rand
	// Service is the learner's running service.
	Service Service
	// Faults controls the backing services; nil when none are provisioned.
	Faults Faults
	// PG is the grader's own connection to the run's database (nil when the
	// run has no Postgres).
	PG *pgxpool.Pool
	// Redis is the grader's own client on the run's Redis database (nil when none).
	Redis *redis.Client
	// AMQPURL is the run's broker URL ("" when none).
	AMQPURL string
	// Auth is true when the run includes the auth stage: requests then carry
	// the run's default user's Bearer token unless told otherwise.
	Auth bool
	// Logf prints a progress line prefixed [grader] (to stderr).
	Logf func(format string, args ...any)

	client *http.Client
	steps  *[]Step
	shared *shared
}

type shared struct {
	mu   sync.Mutex
	user *User
	n    int // users registered so far, for unique e-mails
	// regFailed is why registering a user failed, once it has (users.go).
	regFailed *verdict.Precondition
}

// Options configure New.
type Options struct {
	Env     map[string]string
	Seed    int64
	Service Service
	Faults  Faults
	PG      *pgxpool.Pool
	Redis   *redis.Client
	AMQPURL string
	Auth    bool
	Logf    func(format string, args ...any)
	// RequestTimeout bounds each HTTP request (default 10s).
	RequestTimeout time.Duration
}

// New makes the run's harness.
func New(o Options) *H {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &H{
		Env:     o.Env,
		Seed:    o.Seed,
		Rand:    rand.New(rand.NewPCG(uint64(o.Seed), 0)),
		Service: o.Service,
		Faults:  o.Faults,
		PG:      o.PG,
		Redis:   o.Redis,
		AMQPURL: o.AMQPURL,
		Auth:    o.Auth,
		Logf:    o.Logf,
		client: &http.Client{
			Transport: tr,
			Timeout:   o.RequestTimeout,
			// Checks look at redirects themselves.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		steps:  &[]Step{},
		shared: &shared{},
	}
}

// ForCheck returns a copy of h for one check: a fresh transcript and a random
// source derived from the seed and the check id.
func (h *H) ForCheck(id string) *H {
	c := *h
	f := fnv.New64a()
	f.Write([]byte(id))
	c.Rand = rand.New(rand.NewPCG(uint64(h.Seed), f.Sum64()))
	c.steps = &[]Step{}
	return &c
}

// Record adds a step to the check's transcript.
func (h *H) Record(kind, command, output string) {
	*h.steps = append(*h.steps, Step{Kind: kind, Command: command, Output: output})
}

// Transcript returns the steps recorded so far in this check.
func (h *H) Transcript() []Step { return append([]Step(nil), (*h.steps)...) }

// URL returns the service's base URL joined with path.
func (h *H) URL(path string) string { return h.Service.URL() + path }
