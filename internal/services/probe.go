package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// pingPostgres connects to url and runs a query.
func pingPostgres(ctx context.Context, rawURL string) error {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return fmt.Errorf("bad postgres url: %w", err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// pingRedis connects to url and sends PING.
func pingRedis(ctx context.Context, rawURL string) error {
	opt, err := redis.ParseURL(rawURL)
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
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

// dialAMQP opens (and closes) a connection to the broker.
func dialAMQP(ctx context.Context, rawURL string) error {
	deadline := 5 * time.Second
	if d, ok := ctx.Deadline(); ok && time.Until(d) < deadline {
		deadline = max(time.Until(d), 100*time.Millisecond)
	}
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Dial:      amqp.DefaultDial(deadline),
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
	})
	if err != nil {
		return err
	}
	return conn.Close()
}

// redactURL hides the password of a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// hostPort is the host:port of a URL, for messages.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redactURL(raw)
	}
	return u.Host
}

// friendly shortens common connection errors.
func friendly(err error) string {
	var ne net.Error
	s := oneLine(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "no answer (timeout): " + s
	case strings.Contains(s, "connection refused"):
		return "connection refused: nothing listens there"
	}
	return s
}
