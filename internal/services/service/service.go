// Package service is the small leaf every backing-service package
// (services/postgres, services/redis, services/rabbitmq) implements and
// the registry in package services uses: the Service interface, what the
// modes (docker, external) hand a service, and URL and credential helpers.
//
// It imports nothing of the registry, so that the per-service packages never
// import the package that imports them (DESIGN.md §1).
package service

import (
	"context"
	"time"

	"github.com/backend-grader/grader/internal/grader"
)

// Service is one kind of backing service. The registry lists one value per
// kind; the modes call it to run, reach, isolate and diagnose its servers.
type Service interface {
	// Name is the service's name in stages, --image NAME=REF, grader.yaml
	// `services:`, container names and Faults ("postgres").
	Name() grader.Service
	// DefaultImage is the official image used in docker mode when nothing
	// else names one ("postgres:16-alpine").
	DefaultImage() string
	// External says how a server of one's own is given in external mode.
	External() External
	// Container is how the grader runs its own server in docker mode. Each
	// call may draw fresh secrets (e.g. the superuser's password).
	Container() ContainerSpec
	// Probe connects to the server at url and asks it something: nil when it
	// answers. It is the readiness check of docker mode and the
	// reachability check of external mode.
	Probe(ctx context.Context, url string) error
	// Open connects the grader's administrative handles to a running server
	// and checks that they may do what isolation needs.
	Open(ctx context.Context, srv Server) (Instance, error)
	// Doctor probes the server of external mode and describes what it found
	// ("answers, 16 logical databases"); an *EnvError carries its own fix.
	Doctor(ctx context.Context, srv Server) (string, error)
	// Env is the environment a learner's service receives for a server at
	// url (DESIGN.md §2.2): the URL and the pieces common clients read.
	Env(url string) map[string]string
}

// External describes a server of one's own (external mode).
type External struct {
	// DefaultURL is the standard local address, used when none is given.
	DefaultURL string
	// URLEnv and URLFlag name where the URL is given (GRADER_POSTGRES_URL,
	// --postgres-url).
	URLEnv, URLFlag string
	// Schemes are the URL schemes accepted; the first is the usual one.
	Schemes []string
	// Settings are further optional values the service reads (the RabbitMQ
	// management API's URL).
	Settings []Setting
}

// Setting is one optional value of a service, given by flag or environment.
type Setting struct {
	Key  string // the name in Options.Settings ("amqp-management-url")
	Env  string // the environment variable read when no option gives it
	Flag string // the flag that gives it, for messages
}

// ContainerSpec is how the grader runs a service's container. Readiness is
// the service's own Probe on AdminURL, polled by the docker mode, never an
// image-specific log line: any image honouring the official image's
// contract works (e.g. the Debian-based ones of scripts/build-images.sh).
// testcontainers' wait strategies are not used because they reach the
// container at testcontainers' own guess of the host, which the grader
// replaces with its own (see services.dockerHost).
type ContainerSpec struct {
	// Ports are the container ports ("5432/tcp"); the first is the service's.
	Ports        []string
	Env          map[string]string
	Cmd          []string
	ShmSize      int64
	ReadyTimeout time.Duration
	// AdminURL is the grader's administrative URL, given where the grader
	// reaches each container port (addr("5432/tcp") = "127.0.0.1:49153").
	AdminURL func(addr func(port string) string) string
}

// Server is a running server as a mode hands it to its service.
type Server struct {
	// URL is the administrative URL, from the grader's host.
	URL string
	// Given is false when URL is the standard local address nobody chose.
	Given bool
	// Container is the grader's own container (docker mode); nil in external mode.
	Container Container
	// Setting returns the value of one of External().Settings ("" when not given).
	Setting func(key string) string
	// Logf prints progress lines.
	Logf func(format string, args ...any)
	// Isolation says how strictly the scopes on this server are kept apart.
	Isolation Isolation
	// StartScoped starts a small container of the service for one scope
	// (docker mode with Isolation.ServerPerScope; nil otherwise).
	StartScoped func(ctx context.Context, scope string, spec ContainerSpec) (Scoped, error)
}

// DefaultConnLimit is how many connections a scope's own Postgres role may
// hold at once when Isolation.ConnLimit is not set.
const DefaultConnLimit = 20

// Isolation says how strictly the scopes on a server are kept apart.
type Isolation struct {
	// ConnLimit is the most connections a scope's own credentials may hold
	// at once (0: DefaultConnLimit), so that one run cannot take every
	// connection of a server others share.
	ConnLimit int
	// Untrusted says the scopes run untrusted code (a batch): a server that
	// lets a scope bypass its credentials (Postgres trusting every host
	// connection) is refused, unless AllowTrust.
	Untrusted  bool
	AllowTrust bool
	// ServerPerScope asks for a server of its own per scope where sharing one
	// cannot isolate (Redis 7's ACLs cannot scope logical databases); only
	// docker mode can do it (Server.StartScoped).
	ServerPerScope bool
}

// Limit is ConnLimit, or DefaultConnLimit when not set.
func (i Isolation) Limit() int {
	if i.ConnLimit > 0 {
		return i.ConnLimit
	}
	return DefaultConnLimit
}

// Scoped is a container started for one scope.
type Scoped struct {
	// URL is where the grader's host reaches it; NetURL where a container on
	// the grader's network does (by its own host name).
	URL, NetURL string
	// Remove kills and removes it.
	Remove func(ctx context.Context) error
}

// Get returns the value of a setting, "" when none (or no Setting func).
func (s Server) Get(key string) string {
	if s.Setting == nil {
		return ""
	}
	return s.Setting(key)
}

// Log prints a progress line when the server has a Logf.
func (s Server) Log(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Container is the grader's own container of a service (docker mode).
type Container interface {
	// Addr is the host:port where the grader reaches a container port.
	Addr(port string) string
	// Exec runs a command in the container and returns its output; a
	// non-zero exit is an error carrying the output.
	Exec(ctx context.Context, cmd ...string) (string, error)
}

// Instance is the grader's administrative hold on one server.
type Instance interface {
	// Isolate gives one run a share of its own (a database and a role, a
	// logical database, a vhost) named name ([a-z0-9_], unique). On error it
	// leaves nothing behind.
	Isolate(ctx context.Context, name string) (*Lease, error)
	// Notes are remarks for the report (e.g. that broker state is shared).
	Notes() []string
	// Leftovers lists what scopes made on the server and did not give back
	// (grader clean, external mode): everything named grader_*, whatever
	// its run; the caller decides which to drop.
	Leftovers(ctx context.Context) ([]Leftover, error)
	// Close drops the administrative handles (not the leases).
	Close() error
}

// Leftover is one thing a scope made on a server.
type Leftover struct {
	// Scope is the scope's name (grader_<run>_..., as Isolate was given it).
	Scope string
	// What says what it is, for messages ("database grader_x_1a2b3c").
	What string
	// Drop removes it (and only it).
	Drop func(ctx context.Context) error
}

// ScopePrefix starts the name of everything Isolate is asked to make.
const ScopePrefix = "grader_"

// Lease is one run's share of a server.
type Lease struct {
	// URL is how a learner's service on the grader's host reaches its share.
	URL string
	// NetURL is how a learner's container reaches it, when not the mode's
	// usual rewrite of URL (a server started for this scope alone).
	NetURL string
	// Handle is the grader's own handle on the share, as the service's
	// checks use it: *pgxpool.Pool, *redis.Client, or the AMQP URL (string).
	Handle any
	// Release gives the share back (drops, empties, deletes). Safe to call
	// more than once.
	Release func(ctx context.Context) error
}
