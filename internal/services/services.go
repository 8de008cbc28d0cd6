// Package services provisions the backing services a learner's project
// needs (PostgreSQL, Redis, RabbitMQ) and isolates each graded run on them.
//
// Two providers exist. In docker mode the grader starts its own containers
// (testcontainers-go) on a network of its own, labelled io.grader.run=<run
// id>, and owns them: it can pause, stop and start them for fault injection
// and removes them on Close. In external mode it uses servers that already
// run (flags, GRADER_*_URL, or the standard local ports) and only creates
// and drops what each run needs on them.
//
// Each backing service is a package of its own (services/postgres,
// services/redis, services/rabbitmq) implementing service.Service; this
// package holds the registry (registry.go) and the two modes.
//
// Either way a run gets a Scope: a database and role of its own in Postgres,
// a logical database of its own in Redis and (when the grader can) a vhost of
// its own in RabbitMQ, with the URLs to hand to the learner's service and the
// grader's own handles on them.
//
// Docker mode in detail:
//   - images: Options.Images, else GRADER_<SERVICE>_IMAGE, else the official
//     images (DefaultImages) behind GRADER_IMAGE_PREFIX; a missing image is
//     pulled once, without testcontainers' retries, and a failure says how to
//     build local ones (scripts/build-images.sh);
//   - readiness is the service's own Probe (SQL ping, PING, AMQP dial)
//     within a deadline, so any image honouring the official contract works;
//   - Ryuk is disabled unless TESTCONTAINERS_RYUK_DISABLED is set: Close
//     removes the containers (killed at once) and the network, and sweeps
//     anything else labelled with the run; Clean removes what a killed
//     grader left;
//   - host ports are fixed when a container is created (on 127.0.0.1 when
//     the engine is local), so URLs stay valid across Faults.Stop/Start;
//   - Postgres runs with max_connections=500 and fsync off; Redis with 1024
//     databases, no persistence, and FLUSHALL, FLUSHDB, CONFIG, SWAPDB,
//     SHUTDOWN and DEBUG disabled; RabbitMQ vhosts go through its management
//     API, or rabbitmqctl (docker exec) when the image lacks it.
//
// External mode never touches what it did not create: Redis databases are
// claimed in db 0 (grader:db:<n>, a lease renewed while the scope lives),
// and a database holding data the grader never wrote is skipped.
package services

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	"github.com/backend-grader/grader/internal/services/runlock"
	"github.com/backend-grader/grader/internal/services/service"
)

// Mode says where the services come from.
type Mode string

const (
	// ModeDocker starts the grader's own containers.
	ModeDocker Mode = "docker"
	// ModeExternal uses servers given by URL (or the standard local ports).
	ModeExternal Mode = "external"
	// ModeAuto is external when any URL is given, else docker when Docker
	// answers, else an *EnvError saying how to fix it.
	ModeAuto Mode = "auto"
	// ModeNone is the resolved mode of a run that needs no service.
	ModeNone Mode = "none"
)

// LabelRun is the label on every container, network and volume the grader
// creates; its value is the run id. Clean removes everything carrying it.
const LabelRun = "io.grader.run"

// Options configure Start and Doctor.
type Options struct {
	Mode Mode
	// Images are explicit image references (flag / grader.yaml); else
	// GRADER_POSTGRES_IMAGE etc.; else the official images, behind
	// GRADER_IMAGE_PREFIX when set.
	Images map[grader.Service]string
	// URLs are external servers by service; each defaults to the service's
	// variable (GRADER_POSTGRES_URL, GRADER_REDIS_URL, GRADER_AMQP_URL),
	// then to the standard local address.
	URLs map[grader.Service]string
	// Settings are the services' optional values by key (e.g.
	// "amqp-management-url"); each defaults to its variable
	// (GRADER_AMQP_MANAGEMENT_URL).
	Settings map[string]string
	// PostgresURL, RedisURL, AMQPURL and AMQPManagementURL are the same as
	// URLs and Settings under their own names (URLs and Settings win).
	PostgresURL, RedisURL, AMQPURL, AMQPManagementURL string
	// RunID is the value of the io.grader.run label (a random one when empty).
	RunID string
	// Untrusted says the scopes run untrusted code (a batch): a Postgres
	// that trusts host connections is refused unless AllowTrustingPostgres,
	// and RabbitMQ in external mode needs its management API (a user and a
	// vhost per scope).
	Untrusted             bool
	AllowTrustingPostgres bool
	// ServerPerScope gives each scope a Redis server of its own in docker
	// mode (a small container each) instead of a logical database of the
	// shared one, which SELECT would let a submission leave.
	ServerPerScope bool
	// ConnLimit is the most connections each scope's Postgres role may hold
	// (0: service.DefaultConnLimit).
	ConnLimit int
	// Logf prints progress lines (nil: none).
	Logf func(format string, args ...any)
	// Getenv reads the environment (nil: os.Getenv); tests replace it.
	Getenv func(string) string
}

// EnvError is a failure of the grader's environment (no Docker, a service
// that does not start or answer): never the learner's fault. The CLI maps it
// to exit code 3.
type EnvError = service.EnvError

// Servers are the services of one grader process (one check, or one batch).
type Servers struct {
	mode  Mode
	runID string
	logf  func(format string, args ...any)
	need  []service.Service // in registry order
	notes []string          // copied into every Scope

	insts map[grader.Service]service.Instance // the grader's administrative holds
	admin map[grader.Service]string           // administrative URLs, from the grader's host

	docker *dockerServers // nil in external mode

	unlock func() // releases the run's lock (runlock), after everything is gone

	mu     sync.Mutex
	scopes map[*Scope]bool // not yet released
	closed bool
}

// Mode is the resolved mode: docker, external, or none when no service was needed.
func (s *Servers) Mode() Mode { return s.mode }

// Network is the Docker network the services are on ("" unless docker mode):
// a learner's container on it reaches each service by its name (postgres,
// redis, rabbitmq) on the service's own port.
func (s *Servers) Network() string {
	if s.docker == nil {
		return ""
	}
	return s.docker.network
}

// Labels are the run's io.grader.run label. Close's sweep removes every
// container, network and volume carrying it (docker mode), and `grader
// clean` removes it when the grader was killed; a caller that starts
// something for this run (a learner's container, an image build) puts them
// on it so that it goes with the run's services.
func (s *Servers) Labels() map[string]string { return map[string]string{LabelRun: s.runID} }

// RunID is the value of the io.grader.run label of this run.
func (s *Servers) RunID() string { return s.runID }

// Notes are remarks about the services for the report (also in every Scope).
func (s *Servers) Notes() []string { return append([]string(nil), s.notes...) }

// Start provisions the services in need (in parallel in docker mode) and
// returns them. An environment problem is an *EnvError. With need empty it
// returns Servers that provide nothing. On error nothing is left running.
func Start(ctx context.Context, o Options, need []grader.Service) (*Servers, error) {
	o = o.withDefaults()
	s := &Servers{runID: o.RunID, logf: o.Logf, scopes: map[*Scope]bool{},
		insts: map[grader.Service]service.Instance{}, admin: map[grader.Service]string{}}
	for _, name := range need {
		if err := Validate(string(name)); err != nil {
			return nil, err
		}
	}
	for _, svc := range registry {
		if slices.Contains(need, svc.Name()) {
			s.need = append(s.need, svc)
		}
	}
	if len(s.need) == 0 {
		s.mode = ModeNone
		return s, nil
	}
	// The run's lock first: 'grader clean' keeps what a live run owns.
	unlock, err := runlock.Hold(s.runID)
	if err != nil {
		return nil, &EnvError{Message: "cannot mark this run as live: " + err.Error()}
	}
	s.unlock = unlock
	mode, err := resolveMode(ctx, o)
	if err != nil {
		unlock()
		return nil, err
	}
	s.mode = mode
	switch mode {
	case ModeDocker:
		err = s.startDocker(ctx, o)
	case ModeExternal:
		err = s.startExternal(ctx, o)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.Close(cctx)
		return nil, err
	}
	return s, nil
}

// open hands each needed service its server and keeps the instances.
func (s *Servers) open(ctx context.Context, server func(service.Service) service.Server) error {
	for _, svc := range s.need {
		srv := server(svc)
		inst, err := svc.Open(ctx, srv)
		if err != nil {
			return err
		}
		s.insts[svc.Name()] = inst
		s.admin[svc.Name()] = srv.URL
		s.notes = append(s.notes, inst.Notes()...)
	}
	return nil
}

// Close releases the scopes still open and, in docker mode, removes the
// containers and the network. It is safe to call more than once.
func (s *Servers) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	open := make([]*Scope, 0, len(s.scopes))
	for sc := range s.scopes {
		open = append(open, sc)
	}
	s.mu.Unlock()

	var errs []string
	for _, sc := range open {
		if err := sc.release(ctx, s.docker == nil); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, inst := range s.insts {
		if err := inst.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if s.docker != nil {
		if err := s.docker.close(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if s.unlock != nil && len(errs) == 0 {
		// Kept on failure: what is left stays the run's until the process
		// ends, then 'grader clean' removes it.
		s.unlock()
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("cleanup: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Scope is one run's share of the services.
type Scope struct {
	// Env is what a learner's service running on the grader's host
	// receives for the services provisioned (DESIGN.md §2.2): DATABASE_URL
	// and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE; REDIS_URL,
	// REDIS_HOST, REDIS_PORT (REDIS_PASSWORD when there is one); AMQP_URL.
	Env map[string]string
	// NetEnv holds the same for a learner's container: on Network() in docker
	// mode (hosts postgres, redis, rabbitmq); in external mode the loopback
	// host is replaced by host.docker.internal (the container must map it to
	// the host gateway).
	NetEnv map[string]string
	// The grader's own handles on the scope: connected as the scope's role to
	// its database, on its Redis database, and its broker URL (vhost included).
	PG      *pgxpool.Pool
	Redis   *redis.Client
	AMQPURL string
	// AMQPManagementURL is the broker's management API ("" when the
	// grader knows none), for reading queue arguments in the run's vhost.
	AMQPManagementURL string
	// Handles are the same by service (what each service's Lease.Handle is).
	Handles map[grader.Service]any
	// Faults breaks the services (docker mode); harness.ErrNoFaults otherwise.
	Faults harness.Faults
	// Notes are remarks for the report, e.g. that broker state is shared.
	Notes []string

	servers  *Servers
	id       string
	leases   []*service.Lease // in registry order
	released bool
	mu       sync.Mutex
}

// Isolate gives the run id its own database and role, its own Redis
// database and its own vhost (when the grader can make one), and returns
// their URLs and handles. Release undoes it.
func (s *Servers) Isolate(ctx context.Context, id string) (*Scope, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("isolate %q: the services are already closed", id)
	}
	sc := &Scope{
		Env: map[string]string{}, NetEnv: map[string]string{}, Handles: map[grader.Service]any{},
		Notes: append([]string(nil), s.notes...), servers: s, id: scopeName(s.runID, id),
		Faults: noFaults{},
	}
	if s.docker != nil {
		sc.Faults = &dockerFaults{d: s.docker, s: s}
	}
	if len(s.need) == 0 {
		return sc, nil
	}
	s.mu.Lock()
	s.scopes[sc] = true
	s.mu.Unlock()

	for _, svc := range s.need {
		lease, err := s.insts[svc.Name()].Isolate(ctx, sc.id)
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			_ = sc.Release(rctx)
			cancel()
			return nil, err
		}
		sc.mu.Lock()
		sc.leases = append(sc.leases, lease)
		sc.mu.Unlock()
		for k, v := range svc.Env(lease.URL) {
			sc.Env[k] = v
		}
		netURL := lease.NetURL
		if netURL == "" {
			netURL = s.netURL(svc, lease.URL)
		}
		for k, v := range svc.Env(netURL) {
			sc.NetEnv[k] = v
		}
		sc.Handles[svc.Name()] = lease.Handle
		switch h := lease.Handle.(type) {
		case *pgxpool.Pool:
			sc.PG = h
		case *redis.Client:
			sc.Redis = h
		case string:
			if svc.Name() == grader.RabbitMQ {
				sc.AMQPURL = h
				sc.AMQPManagementURL = rabbitmq.ManagementURL(s.insts[svc.Name()])
			}
		}
	}
	return sc, nil
}

// Release drops the scope's database and role, empties and gives back its
// Redis database and deletes its vhost. It is safe to call more than once.
func (sc *Scope) Release(ctx context.Context) error { return sc.release(ctx, true) }

// release undoes Isolate, in reverse order; restore also unpauses and
// starts again what the scope's Faults broke (not worth it when the
// containers go next).
func (sc *Scope) release(ctx context.Context, restore bool) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.released || sc.servers == nil {
		return nil
	}
	sc.released = true
	s := sc.servers
	s.mu.Lock()
	delete(s.scopes, sc)
	s.mu.Unlock()

	var errs []string
	if f, ok := sc.Faults.(*dockerFaults); ok && restore {
		if err := f.restore(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for i := len(sc.leases) - 1; i >= 0; i-- {
		if err := sc.leases[i].Release(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("release %s: %s", sc.id, strings.Join(errs, "; "))
	}
	return nil
}

// netURL is how a learner's container reaches the server behind raw: by the
// service's name on the grader's network (docker mode, the container port),
// or through host.docker.internal for a server on the host's loopback.
func (s *Servers) netURL(svc service.Service, raw string) string {
	if s.docker != nil {
		if c := s.docker.container(svc.Name()); c != nil {
			port := strings.TrimSuffix(c.spec.Ports[0], "/tcp")
			return service.WithHost(raw, string(svc.Name()), port)
		}
	}
	if service.IsLoopback(raw) {
		return service.WithHost(raw, "host.docker.internal", "")
	}
	return raw
}

// noFaults is the Faults of external mode: the grader does not own the servers.
type noFaults struct{}

func (noFaults) Pause(context.Context, string) error   { return harness.ErrNoFaults }
func (noFaults) Unpause(context.Context, string) error { return harness.ErrNoFaults }
func (noFaults) Stop(context.Context, string) error    { return harness.ErrNoFaults }
func (noFaults) Start(context.Context, string) error   { return harness.ErrNoFaults }

// scopeName is the name of a scope of run runID that Isolate was asked for
// as id: a short lower-case name usable as a Postgres identifier, a vhost,
// a user and a label: "grader_" + the run id (at most 24 characters of
// [a-z0-9_]) + what id adds to the run id (at most 12, "_s3" for a batch's
// third submission) + a random suffix, so that two scopes with the same id
// never collide. Clean finds the run a leftover belongs to from the name.
func scopeName(runID, id string) string {
	key := nameKey(runID, 24)
	if key == "" {
		key = "run"
	}
	name := "grader_" + key
	if rest := nameKey(strings.TrimPrefix(id, runID), 12); rest != "" {
		name += "_" + rest
	}
	return name + "_" + randomHex(3)
}

// nameKey keeps [a-z0-9_] of s, lower-cased (other separators become _),
// at most n characters; "run" when nothing is left.
func nameKey(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '_' || r == '-' || r == '.' || r == ' ' || r == '/':
			b.WriteByte('_')
		}
		if b.Len() >= n {
			break
		}
	}
	return strings.Trim(b.String(), "_")
}
