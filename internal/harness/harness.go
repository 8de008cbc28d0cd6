// Package harness is what a check is handed: clients that record a
// transcript (HTTP as curl lines, SQL, Redis as redis-cli lines through a
// go-redis hook, AMQP as rabbitmqadmin lines), handles on the run's
// Postgres / Redis / RabbitMQ, the environment injected into the learner's
// service, a seeded random source, a prefixed logger and controls over the
// service and its dependencies.
package harness

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/faults"
	"github.com/backend-grader/grader/internal/verdict"
)

// Step is one recorded interaction (verdict.Step), shown to the learner
// when a check fails.
type Step = verdict.Step

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

// OutputReader is implemented by a Service whose output can be read from a
// point in time on (the runs' services do; a check that needs it says so
// when it is missing). Lines are kept up to a bound: lost counts those
// printed after mark that are no longer kept.
type OutputReader interface {
	// OutputMark returns how many lines the service has printed so far.
	OutputMark() uint64
	// OutputSince returns the lines printed after mark, oldest first.
	OutputSince(mark uint64) (lines []string, lost uint64)
}

// Terminator is implemented by a Service whose run command the grader can
// send SIGTERM and watch end (a process on the host). The graceful-shutdown
// check skips without it.
type Terminator interface {
	// Terminate sends SIGTERM to the process group of the run command and
	// waits up to wait for the process to end, never sending SIGKILL. code
	// is its exit code (-1 when a signal ended it); ended is false when it
	// still ran after wait. Restart starts the service again (and kills
	// what is left).
	Terminate(ctx context.Context, wait time.Duration) (code int, ended bool, err error)
}

// Instance is an extra instance started by Service.StartInstance.
type Instance interface {
	URL() string
	Logs(n int) []string
	Exited() error
	Stop(ctx context.Context) error
}

// Faults lets a check break a whole backing server ("postgres", "redis",
// "rabbitmq") by pausing or stopping it. A check that breaks something
// registers the undo with h.Cleanup right away, so it is undone whatever
// the check's outcome.
type Faults interface {
	Pause(ctx context.Context, service string) error
	Unpause(ctx context.Context, service string) error
	Stop(ctx context.Context, service string) error
	Start(ctx context.Context, service string) error
}

// ErrNoFaults is returned by Faults in modes where the grader does not own
// the servers (external mode). It is a *verdict.Skipped: a check that
// returns it (wrapped or not) reports skip, with this reason. Compare with
// errors.Is.
var ErrNoFaults error = &verdict.Skipped{Reason: "this check pauses or stops a whole server, which needs the grader's own service containers (--services docker)"}

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
	// Redis is the grader's own client on the run's Redis database (nil when
	// none). It records every command in this check's transcript as a
	// redis-cli line (see redis.go); it shares the run's pool: never Close it.
	Redis *redis.Client
	// AMQPURL is the run's broker URL ("" when none).
	AMQPURL string
	// AMQPManagementURL is the broker's management API ("" when unknown).
	AMQPManagementURL string
	// Auth is true when the run includes the auth stage: requests then carry
	// the run's default user's Bearer token unless told otherwise.
	Auth bool
	// Logf prints a progress line prefixed [grader] (to stderr).
	Logf func(format string, args ...any)

	// BasePath is the prefix every route of the track lives under
	// (grader.yaml basePath; "" for the root). URL and Do add it.
	BasePath string
	// Tables is grader.yaml's tables: what data discovery is told.
	Tables Tables

	serviceHost string
	client      *http.Client
	proxies     *faults.Set   // the fault proxies in front of the service's dependencies (nil: none)
	redisBase   *redis.Client // the run's client, unrecorded
	check       *checkState
	shared      *shared
}

// checkState is what belongs to one check: its transcript and its
// cleanups. A check may record from several goroutines, and a check that
// overran its timeout may still be running while the runner cleans up
// after it, hence the lock.
type checkState struct {
	mu       sync.Mutex
	steps    []Step
	cleanups []func(context.Context) error
	closed   bool                 // the runner has taken the cleanups
	first429 string               // the first request answered 429 (throttled.go)
	first401 string               // the first request with a login's token answered 401 (throttled.go)
	faults   map[string]faultMark // faults begun and not yet restored (faults.go)
	// salt and requests choose the User-Agent of each request (identity.go).
	salt     uint64
	requests uint64
}

type shared struct {
	mu   sync.Mutex
	user *User
	n    int // users registered so far, for unique e-mails
	memo sync.Map
	// regFailed is why registering a user failed, once it has (users.go).
	regFailed *verdict.Precondition
	// tokens are those register and login gave (users.go).
	tokens  map[string]bool
	traffic traffic // the service's answers over the run (throttled.go)
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
	// AMQPManagementURL is the broker's management API (credentials in the
	// URL, else the AMQP URL's), for reading queue arguments.
	AMQPManagementURL string
	Auth              bool
	Logf              func(format string, args ...any)
	// RequestTimeout bounds each HTTP request (default 10s).
	RequestTimeout time.Duration
	// BasePath is the prefix of every route (grader.yaml basePath).
	BasePath string
	// Tables names where the data lives (grader.yaml tables).
	Tables Tables
	// Proxies are the fault proxies between the service and its
	// dependencies, named after them (nil: the service dials them directly).
	Proxies *faults.Set
	// ServiceHost is where the service reaches the grader's own listeners
	// ("": 127.0.0.1; a container network's gateway for a container).
	ServiceHost string
}

// Tables says, per logical table (todos, users), the project's table and
// its own names for the grader's columns (grader.yaml tables:).
type Tables = map[string]struct {
	Table   string
	Columns map[string]string
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
	h := &H{
		Env:               o.Env,
		Seed:              o.Seed,
		Rand:              rand.New(rand.NewPCG(uint64(o.Seed), 0)),
		Service:           o.Service,
		Faults:            o.Faults,
		PG:                o.PG,
		AMQPURL:           o.AMQPURL,
		AMQPManagementURL: o.AMQPManagementURL,
		Auth:              o.Auth,
		Logf:              o.Logf,
		client: &http.Client{
			Transport: tr,
			Timeout:   o.RequestTimeout,
			// Checks look at redirects themselves.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		redisBase:   o.Redis,
		proxies:     o.Proxies,
		serviceHost: o.ServiceHost,
		check:       &checkState{},
		shared:      &shared{},
	}
	h.Redis = recordedRedis(o.Redis, h)
	h.BasePath, h.Tables = o.BasePath, o.Tables
	return h
}

// ServiceHost is the address where the service reaches the grader's own
// listeners (a webhook receiver listens there).
func (h *H) ServiceHost() string {
	if h.serviceHost == "" {
		return "127.0.0.1"
	}
	return h.serviceHost
}

// ForCheck returns a copy of h for one check: a fresh transcript, no
// cleanups yet, and a random source derived from the seed and the check id.
func (h *H) ForCheck(id string) *H {
	c := *h
	f := fnv.New64a()
	f.Write([]byte(id))
	c.Rand = rand.New(rand.NewPCG(uint64(h.Seed), f.Sum64()))
	c.check = &checkState{salt: f.Sum64()}
	c.Redis = recordedRedis(h.redisBase, &c)
	return &c
}

// Record adds a step to the check's transcript.
func (h *H) Record(kind, command, output string) {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	h.check.steps = append(h.check.steps, Step{Kind: kind, Command: command, Output: output})
}

// MarkDecisive marks the step recorded last as the one that decided the
// check's failure: reports show it as such, and keep it among the evidence
// even when later steps follow. It does nothing when nothing was recorded.
func (h *H) MarkDecisive() {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	if n := len(h.check.steps); n > 0 {
		h.check.steps[n-1].Decisive = true
	}
}

// Transcript returns the steps recorded so far in this check.
func (h *H) Transcript() []Step {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	return append([]Step(nil), h.check.steps...)
}

// CleanupTimeout bounds each cleanup a check registers.
const CleanupTimeout = 15 * time.Second

// Cleanup registers fn to run after the check, whatever its outcome (pass,
// fail, panic, timeout), before the next check starts. Cleanups run last
// registered first, each with its own context bounded by CleanupTimeout
// (still usable when the run was interrupted). Register the undo right
// after the change it undoes, before looking at the error.
//
// A check that overran its timeout may still be running when its cleanups
// have run: a cleanup it registers after that runs at once, in its own
// goroutine's time.
func (h *H) Cleanup(fn func(ctx context.Context) error) {
	if fn == nil {
		return
	}
	h.check.mu.Lock()
	if !h.check.closed {
		h.check.cleanups = append(h.check.cleanups, fn)
		h.check.mu.Unlock()
		return
	}
	h.check.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), CleanupTimeout)
	defer cancel()
	if err := callCleanup(ctx, fn); err != nil {
		h.Logf("a cleanup registered after its check was cleaned up failed: %v", err)
	}
}

// RunCleanups runs the cleanups registered on this check's harness, last
// registered first, each with its own context derived from ctx without its
// cancellation and bounded by CleanupTimeout. It returns what went wrong,
// one error per failed cleanup (a panic becomes an error). Cleanups
// registered afterwards run at once (see Cleanup). The runner calls it.
func (h *H) RunCleanups(ctx context.Context) []error {
	h.check.mu.Lock()
	fns := h.check.cleanups
	h.check.cleanups, h.check.closed = nil, true
	h.check.mu.Unlock()
	var errs []error
	for i := len(fns) - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		if err := callCleanup(cctx, fns[i]); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	return errs
}

// callCleanup runs fn, turning a panic into an error.
func callCleanup(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the cleanup crashed (a grader bug, please report it): %v", p)
		}
	}()
	return fn(ctx)
}

// Has reports whether this run provides the backing service named
// ("postgres", "redis", "rabbitmq") to the grader's own checks.
func (h *H) Has(service string) bool {
	switch service {
	case "postgres":
		return h.PG != nil
	case "redis":
		return h.Redis != nil
	case "rabbitmq":
		return h.AMQPURL != ""
	default:
		return false
	}
}

// URL returns the service's URL for a route of the track: the base URL,
// the base path, then path ("/todos").
func (h *H) URL(path string) string { return h.Service.URL() + h.BasePath + path }

// Path returns a route's path as the service serves it (under the base
// path), for requests to another instance or over a raw connection.
func (h *H) Path(path string) string { return h.BasePath + path }

// RunValue returns the run-wide value kept under key, made by make on
// first use (e.g. where the data lives, found once per run). Checks share
// it whatever copy of h they hold.
func (h *H) RunValue(key any, make func() any) any {
	if v, ok := h.shared.memo.Load(key); ok {
		return v
	}
	v, _ := h.shared.memo.LoadOrStore(key, make())
	return v
}
