package grading

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// The outside world of a grading run is behind the interfaces below, so
// that Grade runs in-process against fakes in tests. The real ones (on
// internal/services and internal/submission) are in package
// internal/grading/system and are wired in cmd/grader.

// Provisioner isolates one run's share of servers that are already up: a
// database, a Redis database and a vhost of its own.
type Provisioner interface {
	Isolate(ctx context.Context, id string) (*Scope, error)
	// Network is the Docker network the servers are on ("" when none).
	Network() string
}

// Servers are the backing servers of one grader process (one check, or
// one batch).
type Servers interface {
	Provisioner
	Close(ctx context.Context) error
}

// Scope is what one run gets on the servers.
type Scope struct {
	// Env are the variables the service receives (DATABASE_URL, ...) as a
	// host process reaches the servers; NetEnv as a container on Network.
	Env, NetEnv map[string]string
	// The grader's own clients on the run's share (nil / "" when none).
	PG      *pgxpool.Pool
	Redis   *redis.Client
	AMQPURL string
	// AMQPManagementURL is the broker's management API ("" when none).
	AMQPManagementURL string
	Faults            harness.Faults
	// Notes are said in the report (e.g. broker state is shared).
	Notes []string
	// Release removes the run's share (never nil).
	Release func(ctx context.Context) error
}

// ServiceOptions say where the backing services come from.
type ServiceOptions struct {
	Mode                                              string // docker, external or auto
	PostgresURL, RedisURL, AMQPURL, AMQPManagementURL string
	Images                                            map[grader.Service]string
	// RunID labels what the run creates.
	RunID string
	Logf  func(format string, args ...any)
	// Untrusted: the runs execute untrusted code (batch sets it): each gets
	// a Redis server of its own in docker mode, and a server that lets a run
	// bypass its credentials is refused unless AllowTrustingPostgres.
	Untrusted             bool
	AllowTrustingPostgres bool
	// ConnLimit is the most connections each run's Postgres role may hold
	// (0: the services' default, 20).
	ConnLimit int
}

// CleanOptions say what `grader clean` removes.
type CleanOptions struct {
	// All removes what live runs own too (by default only what no running
	// grader owns).
	All bool
	// Runs limits it to these run ids (empty: every run).
	Runs []string
	// Services say where to look: Mode docker, external or auto (both,
	// where they answer), and the external servers' URLs.
	Services ServiceOptions
}

// Modes are the values ServiceOptions.Mode takes.
var Modes = []string{"docker", "external", "auto"}

// Services starts servers, and diagnoses and cleans the machine.
type Services interface {
	Start(ctx context.Context, o ServiceOptions, need []grader.Service) (Servers, error)
	// Doctor writes what it finds to w and reports whether the grader can run.
	Doctor(ctx context.Context, o ServiceOptions, w io.Writer) bool
	// Clean removes what killed runs left behind (every run's with o.All).
	Clean(ctx context.Context, o CleanOptions, w io.Writer) error
	// Names lists the backing services the grader can provide, in order.
	Names() []grader.Service
}

// Project is the learner's project as grading sees it: its manifest, or
// what was detected without one.
type Project struct {
	Dir      string
	Found    bool   // a grader.yaml was read
	Detected string // without one: what was chosen and why
	Stage    string // the manifest's stage ("": none)
	Services []string
	Docker   bool
	Build    string
	Run      string
	// BasePath and Tables say where the routes and the data live
	// (grader.yaml basePath and tables).
	BasePath string
	Tables   harness.Tables
	// Handle is the Launcher's own description of the project, handed back
	// to its Build and Start.
	Handle any
}

// Launch is what building and starting a project needs besides the project.
type Launch struct {
	Project *Project
	// Env holds the grader's variables; the launcher adds PORT.
	Env map[string]string
	// Output receives the service's output, prefixed (nil: not shown).
	Output io.Writer
	Logf   func(format string, args ...any)
	// Network and Labels are for a project run as a container.
	Network string
	Labels  map[string]string
	Limits  Limits
	// Box, when set, is where the project's containers run (OpenBox).
	Box Box
}

// Sandbox says how a batch confines each submission (DESIGN §6): a
// container of its own, with these limits for the whole submission.
// Zero fields take the launcher's defaults.
type Sandbox struct {
	// Images name a runner image per toolchain (go, node, python).
	Images map[string]string
	Memory int64 // bytes
	Pids   int64
	CPUs   float64
	Tmp    int64 // bytes of its tmpfs /tmp
	// SharedCache is a directory of the batch's for the Go build cache
	// the grader's own commands fill ("": every build is cold).
	SharedCache string
}

// Toolchains are the languages the sandbox has runner images for.
var Toolchains = []string{"go", "node", "python"}

// Box is the network a project's containers run on. The grader's
// listeners for the project (fault proxies, webhook receiver) listen on
// Host, the only address of the grader the containers can reach.
type Box interface {
	Host() string
	// Describe says how the project is confined, for the report.
	Describe() string
	Close(ctx context.Context) error
}

// ErrRemoteEngine is OpenBox's error when the Docker engine's networks are
// not on this machine (Docker Desktop): its containers cannot reach the
// grader's listeners.
var ErrRemoteEngine = errors.New("the Docker engine's networks are not on this machine")

// BoxRequest is what opening a Box needs.
type BoxRequest struct {
	Labels map[string]string
	// Sandbox confines the project (nil: the network only, for a
	// docker: true project in check).
	Sandbox *Sandbox
	Logf    func(format string, args ...any)
}

// Service is the learner's running service.
type Service interface {
	harness.Service
	// Command is how it was started, for the report.
	Command() string
	Stop(ctx context.Context) error
}

// Launcher loads, builds and starts a learner's project. A learner's
// problem is a *ProjectError; the environment's an *EnvError.
type Launcher interface {
	Load(dir string) (*Project, error)
	Build(ctx context.Context, l Launch) error
	Start(ctx context.Context, l Launch) (Service, error)
	// OpenBox makes a network for the project's containers.
	OpenBox(ctx context.Context, r BoxRequest) (Box, error)
}

// SourceHints is what a project's code says about how it runs: the route
// prefix its routes are registered under and the environment variables it
// reads, with the grader's value for each ("" when the grader has none).
// `grader init` proposes grader.yaml lines from them.
type SourceHints struct {
	BasePath string
	Env      map[string]string
	// Files says where each variable of Env was first read.
	Files map[string]string
}

// SourceScanner is a Launcher that can read a project's code for
// SourceHints (optional: init proposes nothing without it).
type SourceScanner interface {
	ScanSource(dir string) SourceHints
}

// System is the outside world of the commands.
type System struct {
	Services Services
	Launcher Launcher
}

// Limits are resource limits for every process of a submission's build
// and service (zero: none).
type Limits struct {
	CPUSeconds uint64 // CPU time of each process
	FileBytes  uint64 // the largest file a process may write
	OpenFiles  uint64 // open files per process
	DataBytes  uint64 // data segment and private writable memory
}

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool { return l == Limits{} }

func (l Limits) String() string {
	var parts []string
	if l.CPUSeconds > 0 {
		parts = append(parts, fmt.Sprintf("CPU time %ds", l.CPUSeconds))
	}
	if l.FileBytes > 0 {
		parts = append(parts, "file size "+formatBytes(l.FileBytes))
	}
	if l.OpenFiles > 0 {
		parts = append(parts, fmt.Sprintf("open files %d", l.OpenFiles))
	}
	if l.DataBytes > 0 {
		parts = append(parts, "data "+formatBytes(l.DataBytes))
	}
	return strings.Join(parts, ", ")
}

func formatBytes(n uint64) string {
	for _, u := range []struct {
		size uint64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Logger prints "[grader] ..." lines to w.
func Logger(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "[grader] "+format+"\n", args...)
	}
}
