// Package redis is the Redis backing service: its image and container,
// readiness, a logical database per run (claimed in db 0), and the
// environment a learner's service receives (REDIS_URL, REDIS_HOST,
// REDIS_PORT, REDIS_PASSWORD).
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/service"
)

// DefaultURL is the standard local address used in external mode.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Port is the container port.
const Port = "6379/tcp"

// Databases is how many logical databases the grader's own Redis has: one
// per concurrent run (db 0 holds the claims).
const Databases = 1024

// Disabled are the commands the grader's own Redis refuses, so that one
// submission cannot wipe, reconfigure or stop the server other runs share
// (DESIGN.md §6). The grader itself clears a database with SCAN + UNLINK.
var Disabled = []string{"FLUSHALL", "FLUSHDB", "CONFIG", "SWAPDB", "SHUTDOWN", "DEBUG"}

// Service is Redis, as the registry lists it.
var Service service.Service = rd{}

type rd struct{}

func (rd) Name() grader.Service { return grader.Redis }

func (rd) DefaultImage() string { return "redis:7-alpine" }

func (rd) External() service.External {
	return service.External{
		DefaultURL: DefaultURL, URLEnv: "GRADER_REDIS_URL", URLFlag: "--redis-url",
		Schemes: []string{"redis", "rediss"},
	}
}

// Container runs redis-server with many databases, no persistence, and the
// Disabled commands renamed away.
func (rd) Container() service.ContainerSpec {
	cmd := []string{"redis-server", "--databases", strconv.Itoa(Databases),
		"--save", "", "--appendonly", "no", "--protected-mode", "no"}
	for _, c := range Disabled {
		cmd = append(cmd, "--rename-command", c, "")
	}
	return service.ContainerSpec{
		Ports:        []string{Port},
		Cmd:          cmd,
		ReadyTimeout: 60 * time.Second,
		AdminURL:     func(addr func(string) string) string { return "redis://" + addr(Port) + "/0" },
	}
}

// Probe connects to url and sends PING.
func (rd) Probe(ctx context.Context, rawURL string) error {
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("bad redis url: %w", err)
	}
	// A plain TCP dial first: go-redis logs every failed dial on stderr.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", opt.Addr)
	if err != nil {
		return err
	}
	_ = conn.Close()
	opt.DialTimeout = 3 * time.Second
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	c := goredis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

// Env is REDIS_URL, REDIS_HOST and REDIS_PORT, and REDIS_PASSWORD when the
// URL has one.
func (rd) Env(rawURL string) map[string]string {
	env := map[string]string{"REDIS_URL": rawURL}
	p := service.Split(rawURL, "6379")
	if !p.OK {
		return env
	}
	env["REDIS_HOST"], env["REDIS_PORT"] = p.Host, p.Port
	if p.HasPassword && p.Password != "" {
		env["REDIS_PASSWORD"] = p.Password
	}
	return env
}

// Doctor says how many logical databases the server has.
func (rd) Doctor(ctx context.Context, srv service.Server) (string, error) {
	opt, err := goredis.ParseURL(srv.URL)
	if err != nil {
		return "", err
	}
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := goredis.NewClient(opt)
	defer c.Close()
	n, err := countDBs(ctx, c)
	if err != nil {
		return "", err
	}
	if n < 2 {
		return "", tooFew(srv.URL, n)
	}
	return fmt.Sprintf("answers, %d logical databases (up to %d concurrent runs)", n, n-1), nil
}

func tooFew(rawURL string, n int) error {
	return &service.EnvError{
		Message: fmt.Sprintf("redis at %s has only %d logical database; the grader needs one per run besides db 0", service.HostPort(rawURL), n),
		Fix:     "start it with 'databases 16' or more, or use --services docker",
	}
}

// Open connects to db 0 (the claims) and learns how many databases there
// are: the grader's own container has Databases; another server is asked.
func (rd) Open(ctx context.Context, srv service.Server) (service.Instance, error) {
	opt, err := goredis.ParseURL(srv.URL)
	if err != nil {
		return nil, &service.EnvError{Message: "bad redis url: " + service.OneLine(err), Fix: "give it as " + DefaultURL}
	}
	opt.DB = 0
	opt.PoolSize = 4
	in := &instance{url: srv.URL, meta: goredis.NewClient(opt), dbs: Databases}
	if srv.Isolation.ServerPerScope && srv.StartScoped != nil {
		in.startScoped = srv.StartScoped
		return in, nil
	}
	if srv.Container == nil {
		n, err := countDBs(ctx, in.meta)
		if err != nil {
			_ = in.meta.Close()
			return nil, &service.EnvError{Message: fmt.Sprintf("redis at %s: %s", service.HostPort(srv.URL), service.Friendly(err))}
		}
		in.dbs = n
	}
	if in.dbs < 2 {
		_ = in.meta.Close()
		return nil, tooFew(srv.URL, in.dbs)
	}
	denied, err := aclDenied(ctx, in.meta)
	switch {
	case err == nil:
		in.acl, in.denied = true, denied
	case srv.Isolation.Untrusted:
		_ = in.meta.Close()
		return nil, &service.EnvError{
			Message: fmt.Sprintf("redis at %s cannot give each submission a user of its own (ACL: %s)", service.HostPort(srv.URL), service.OneLine(err)),
			Fix:     "use Redis 6 or later with a user allowed to run ACL, or use --services docker (a Redis server per submission)",
		}
	default:
		in.notes = append(in.notes, "redis: no user per run ("+service.OneLine(err)+"): runs use the server's own credentials")
	}
	if srv.Container == nil && srv.Isolation.Untrusted {
		in.notes = append(in.notes, NoteSharedServer)
	}
	return in, nil
}

// NoteSharedServer says what a user per run on a shared server cannot do.
const NoteSharedServer = "redis: each submission has a logical database and a user of its own on a shared server; " +
	"the user may not wipe or reconfigure the server, but Redis cannot restrict SELECT to one database, " +
	"so a submission can read and write the others' databases (--services docker gives each a server of its own)"

type instance struct {
	url   string
	meta  *goredis.Client // db 0: claims of logical databases
	dbs   int             // number of logical databases
	notes []string
	// acl: each scope gets an ACL user with a random password, without
	// the denied commands.
	acl    bool
	denied []string
	// startScoped starts a server per scope (docker mode, ServerPerScope).
	startScoped func(ctx context.Context, scope string, spec service.ContainerSpec) (service.Scoped, error)
}

func (in *instance) Notes() []string { return in.notes }

func (in *instance) Close() error { return in.meta.Close() }

// Isolate claims a free logical database and clears it, and makes the
// scope's user when the server has ACLs; with a server per scope it starts
// one instead.
func (in *instance) Isolate(ctx context.Context, name string) (*service.Lease, error) {
	if in.startScoped != nil {
		return in.isolateServer(ctx, name)
	}
	n, claim, err := in.claim(ctx, name)
	if err != nil {
		return nil, err
	}
	url := service.WithCredentials(in.url, "", "", strconv.Itoa(n))
	dropUser := func(context.Context) error { return nil }
	if in.acl {
		password := service.RandomHex(16)
		if err := in.meta.Do(ctx, aclRules(name, password, in.denied)...).Err(); err != nil {
			_ = claim.release(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("redis: create user %s: %w", name, err)
		}
		dropUser = func(ctx context.Context) error {
			// Deleting a user also disconnects its clients.
			if err := in.meta.Do(ctx, "ACL", "DELUSER", name).Err(); err != nil {
				return fmt.Errorf("redis: delete user %s: %w", name, err)
			}
			return nil
		}
		url = service.WithCredentials(in.url, name, password, strconv.Itoa(n))
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		_ = dropUser(context.WithoutCancel(ctx))
		_ = claim.release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// The grader's checks bound their calls with contexts (a paused server
	// must not hold a check for the default read timeout and its retries).
	opt.ContextTimeoutEnabled = true
	client := goredis.NewClient(opt)
	var once sync.Once
	var relErr error
	release := func(ctx context.Context) error {
		once.Do(func() {
			_ = client.Close()
			uerr := dropUser(ctx)
			relErr = errors.Join(uerr, in.give(ctx, n, claim))
		})
		return relErr
	}
	return &service.Lease{URL: url, Handle: client, Release: release}, nil
}

// isolateServer starts a Redis server for the scope alone, with a password.
func (in *instance) isolateServer(ctx context.Context, name string) (*service.Lease, error) {
	password := service.RandomHex(16)
	spec := scopedSpec(password)
	sc, err := in.startScoped(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	opt, err := goredis.ParseURL(sc.URL)
	if err != nil {
		_ = sc.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	client := goredis.NewClient(opt)
	var once sync.Once
	var relErr error
	release := func(ctx context.Context) error {
		once.Do(func() {
			_ = client.Close()
			relErr = sc.Remove(ctx)
		})
		return relErr
	}
	return &service.Lease{URL: sc.URL, NetURL: sc.NetURL, Handle: client, Release: release}, nil
}

// scopedSpec is a small server for one scope: 16 databases, a password,
// the Disabled commands renamed away as on the shared server (the same
// behaviour in check and batch), and a memory cap.
func scopedSpec(password string) service.ContainerSpec {
	cmd := []string{"redis-server", "--requirepass", password, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--maxmemory", "256mb"}
	for _, c := range Disabled {
		cmd = append(cmd, "--rename-command", c, "")
	}
	return service.ContainerSpec{
		Ports:        []string{Port},
		Cmd:          cmd,
		ReadyTimeout: 60 * time.Second,
		// The user is named: redis-cli (7.0) sends AUTH "" <password> for
		// an empty one, which the server refuses.
		AdminURL: func(addr func(string) string) string {
			return "redis://default:" + password + "@" + addr(Port) + "/0"
		},
	}
}

// aclCandidates are the commands a scope's user may not run: wiping,
// reconfiguring, stopping or replicating the server, the ACLs themselves,
// watching every client, and moving keys to another database.
var aclCandidates = []string{"FLUSHALL", "FLUSHDB", "CONFIG", "SWAPDB", "SHUTDOWN", "DEBUG", "ACL",
	"MONITOR", "SAVE", "BGSAVE", "BGREWRITEAOF", "REPLICAOF", "SLAVEOF", "SYNC", "PSYNC",
	"MODULE", "FAILOVER", "MIGRATE", "MOVE", "CLUSTER"}

// aclDenied checks that the server has ACLs the grader's user may manage,
// and returns the aclCandidates it knows (a renamed-away command cannot be
// named in a rule).
func aclDenied(ctx context.Context, c *goredis.Client) ([]string, error) {
	if err := c.Do(ctx, "ACL", "WHOAMI").Err(); err != nil {
		return nil, err
	}
	if err := c.Do(ctx, "ACL", "USERS").Err(); err != nil {
		return nil, err
	}
	args := []any{"COMMAND", "INFO"}
	for _, n := range aclCandidates {
		args = append(args, n)
	}
	res, err := c.Do(ctx, args...).Slice()
	if err != nil {
		return nil, err
	}
	var known []string
	for i, r := range res {
		if r != nil && i < len(aclCandidates) {
			known = append(known, aclCandidates[i])
		}
	}
	return known, nil
}

// aclRules is the ACL SETUSER command of a scope's user: every key and
// channel, every command but the denied ones.
func aclRules(name, password string, denied []string) []any {
	args := []any{"ACL", "SETUSER", name, "reset", "on", ">" + password, "~*", "&*", "+@all"}
	for _, c := range denied {
		args = append(args, "-"+strings.ToLower(c))
	}
	return args
}
