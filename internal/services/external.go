package services

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/grader"
)

// startExternal checks that the needed external servers answer and connects
// the grader's administrative handles to them.
func (s *Servers) startExternal(ctx context.Context, o Options) error {
	u := o.external()
	flags := map[grader.Service]string{grader.Postgres: "--postgres-url or GRADER_POSTGRES_URL",
		grader.Redis: "--redis-url or GRADER_REDIS_URL", grader.RabbitMQ: "--amqp-url or GRADER_AMQP_URL"}
	urls := map[grader.Service]string{grader.Postgres: u.postgres, grader.Redis: u.redis, grader.RabbitMQ: u.amqp}
	for _, svc := range serviceOrder {
		if !s.need[svc] {
			continue
		}
		if err := checkScheme(svc, urls[svc]); err != nil {
			return err
		}
		if !u.given[svc] {
			s.notes = append(s.notes, fmt.Sprintf("%s: the standard local address %s (no %s given)", svc, hostPort(urls[svc]), flags[svc]))
		}
	}
	s.pgAdminURL, s.redisURL, s.amqpURL = u.postgres, u.redis, u.amqp
	if !s.need[grader.Postgres] {
		s.pgAdminURL = ""
	}
	if !s.need[grader.Redis] {
		s.redisURL = ""
	}
	if !s.need[grader.RabbitMQ] {
		s.amqpURL = ""
	}

	// Probe in parallel: each unreachable server is one line of the error.
	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	for _, svc := range serviceOrder {
		if !s.need[svc] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := probeExternal(pctx, svc, urls[svc]); err != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s at %s: %s", svc, hostPort(urls[svc]), friendly(err)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(problems) > 0 {
		return &EnvError{
			Message: "external services are not reachable: " + strings.Join(problems, "; "),
			Fix:     "start them, point the grader at yours (--postgres-url, --redis-url, --amqp-url or GRADER_*_URL), or let it start its own with --services docker",
		}
	}

	if s.need[grader.RabbitMQ] {
		if u.mgmt == "" {
			s.notes = append(s.notes, "broker state is shared: no --amqp-management-url, so every run uses the broker's default vhost")
		} else {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := mgmtCheck(pctx, u.mgmt, u.amqp)
			cancel()
			if err != nil {
				return &EnvError{
					Message: fmt.Sprintf("the RabbitMQ management API at %s does not answer: %s", redactURL(u.mgmt), friendly(err)),
					Fix:     "enable it (rabbitmq-plugins enable rabbitmq_management) and check the URL and credentials, or leave --amqp-management-url out (runs then share the default vhost)",
				}
			}
			s.mgmtURL = u.mgmt
		}
	}
	s.notes = append(s.notes, "services: external (no fault injection: checks that stop a service are skipped)")
	return s.connectAdmin(ctx)
}

func checkScheme(svc grader.Service, raw string) error {
	schemes := map[grader.Service][]string{
		grader.Postgres: {"postgres", "postgresql"},
		grader.Redis:    {"redis", "rediss"},
		grader.RabbitMQ: {"amqp", "amqps"},
	}[svc]
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" {
		for _, sc := range schemes {
			if u.Scheme == sc {
				return nil
			}
		}
	}
	return &EnvError{
		Message: fmt.Sprintf("the %s url %q is not a %s:// URL", svc, redactURL(raw), schemes[0]),
		Fix:     fmt.Sprintf("give it as %s", map[grader.Service]string{grader.Postgres: DefaultPostgresURL, grader.Redis: DefaultRedisURL, grader.RabbitMQ: DefaultAMQPURL}[svc]),
	}
}

func probeExternal(ctx context.Context, svc grader.Service, raw string) error {
	switch svc {
	case grader.Postgres:
		return pingPostgres(ctx, raw)
	case grader.Redis:
		return pingRedis(ctx, raw)
	default:
		return dialAMQP(ctx, raw)
	}
}

// connectAdmin opens the grader's administrative handles: a Postgres pool
// allowed to create roles and databases, a Redis client on db 0 (claims).
func (s *Servers) connectAdmin(ctx context.Context) error {
	if s.pgAdminURL != "" {
		cfg, err := pgxpool.ParseConfig(s.pgAdminURL)
		if err != nil {
			return &EnvError{Message: "bad postgres url: " + oneLine(err), Fix: "give it as " + DefaultPostgresURL}
		}
		cfg.MaxConns = 4
		cfg.MinConns = 0
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return &EnvError{Message: "postgres: " + oneLine(err)}
		}
		s.pgAdmin = pool
		var user string
		var ok bool
		err = pool.QueryRow(ctx, `SELECT current_user::text, rolsuper OR (rolcreaterole AND rolcreatedb)
			FROM pg_roles WHERE rolname = current_user`).Scan(&user, &ok)
		if err != nil {
			return &EnvError{Message: fmt.Sprintf("postgres at %s: %s", hostPort(s.pgAdminURL), friendly(err)),
				Fix: "check the URL and that the server accepts connections"}
		}
		if !ok {
			return &EnvError{
				Message: fmt.Sprintf("postgres user %q may not create roles and databases, which the grader needs to give each run its own", user),
				Fix:     "give --postgres-url a superuser, or a user WITH CREATEROLE CREATEDB",
			}
		}
	}
	if s.redisURL != "" {
		opt, err := redis.ParseURL(s.redisURL)
		if err != nil {
			return &EnvError{Message: "bad redis url: " + oneLine(err), Fix: "give it as " + DefaultRedisURL}
		}
		opt.DB = 0
		opt.PoolSize = 4
		s.redisMeta = redis.NewClient(opt)
		if s.redisDBs == 0 {
			n, err := countRedisDBs(ctx, s.redisMeta)
			if err != nil {
				return &EnvError{Message: fmt.Sprintf("redis at %s: %s", hostPort(s.redisURL), friendly(err))}
			}
			s.redisDBs = n
		}
		if s.redisDBs < 2 {
			return &EnvError{
				Message: fmt.Sprintf("redis at %s has only %d logical database; the grader needs one per run besides db 0", hostPort(s.redisURL), s.redisDBs),
				Fix:     "start it with 'databases 16' or more, or use --services docker",
			}
		}
	}
	return nil
}

// withCredentials returns raw with user, password and path replaced.
func withCredentials(raw, user, password, path string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	u.Path = "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	return u.String()
}

// withHost returns raw with its host (not port) replaced.
func withHost(raw, host string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	port := u.Port()
	if port == "" {
		u.Host = host
	} else {
		u.Host = net.JoinHostPort(host, port)
	}
	return u.String()
}

// netURL is how a learner's container reaches the server behind raw: by the
// service's alias on the grader's network (docker mode, the container port),
// or through host.docker.internal for a server on the host's loopback.
func (s *Servers) netURL(raw string, svc grader.Service, port string) string {
	if s.docker != nil {
		u, err := url.Parse(raw)
		if err != nil {
			return raw
		}
		u.Host = net.JoinHostPort(string(svc), port)
		return u.String()
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" {
		return withHost(raw, "host.docker.internal")
	}
	return raw
}
