package services

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/backend-grader/grader/internal/grader"
)

// isolateRabbit gives the scope a vhost of its own where the grader can
// make one: through the management API (external mode with a management
// URL; docker mode when the image has the plugin, as the default images
// do: milliseconds), else through rabbitmqctl in the grader's own container
// (docker mode: a second or two, an Erlang VM per call). Otherwise the scope
// uses the broker's default vhost, and the Servers' notes say so.
func (s *Servers) isolateRabbit(ctx context.Context, sc *Scope) error {
	user := amqpUser(s.amqpURL)
	switch {
	case s.mgmtURL == "" && s.docker != nil:
		c := s.docker.container(grader.RabbitMQ)
		if c == nil {
			return fmt.Errorf("rabbitmq: no container")
		}
		if err := rabbitctl(ctx, c, "add_vhost", sc.id); err != nil {
			return err
		}
		sc.vhost = sc.id
		if err := rabbitctl(ctx, c, "set_permissions", "-p", sc.id, user, ".*", ".*", ".*"); err != nil {
			return err
		}
	case s.mgmtURL != "":
		if err := mgmtDo(ctx, s.mgmtURL, s.amqpURL, http.MethodPut, "/api/vhosts/"+url.PathEscape(sc.id), nil); err != nil {
			return fmt.Errorf("rabbitmq: create vhost %s: %w", sc.id, err)
		}
		sc.vhost = sc.id
		perm := map[string]string{"configure": ".*", "write": ".*", "read": ".*"}
		if err := mgmtDo(ctx, s.mgmtURL, s.amqpURL, http.MethodPut, "/api/permissions/"+url.PathEscape(sc.id)+"/"+url.PathEscape(user), perm); err != nil {
			return fmt.Errorf("rabbitmq: permissions on vhost %s: %w", sc.id, err)
		}
	}
	u := s.amqpURL
	if sc.vhost != "" {
		u = withCredentials(s.amqpURL, "", "", sc.vhost)
	}
	sc.AMQPURL = u
	sc.Env["AMQP_URL"] = u
	sc.NetEnv["AMQP_URL"] = s.netURL(u, "rabbitmq", "5672")
	return nil
}

func (s *Servers) releaseRabbit(ctx context.Context, sc *Scope) error {
	if sc.vhost == "" {
		return nil
	}
	switch {
	case s.mgmtURL == "" && s.docker != nil:
		c := s.docker.container(grader.RabbitMQ)
		if c == nil {
			return nil
		}
		return rabbitctl(ctx, c, "delete_vhost", sc.vhost)
	case s.mgmtURL != "":
		if err := mgmtDo(ctx, s.mgmtURL, s.amqpURL, http.MethodDelete, "/api/vhosts/"+url.PathEscape(sc.vhost), nil); err != nil {
			return fmt.Errorf("rabbitmq: delete vhost %s: %w", sc.vhost, err)
		}
	}
	return nil
}

// rabbitctl runs rabbitmqctl in the broker's container.
func rabbitctl(ctx context.Context, c *svcContainer, args ...string) error {
	cmd := append([]string{"rabbitmqctl", "-q"}, args...)
	code, out, err := c.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return fmt.Errorf("rabbitmq: %s: %w", strings.Join(cmd, " "), err)
	}
	if code != 0 {
		b, _ := io.ReadAll(out)
		return fmt.Errorf("rabbitmq: %s exited with code %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(string(b)))
	}
	return nil
}

// amqpUser is the user of an AMQP URL (guest when none).
func amqpUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.User.Username() == "" {
		return "guest"
	}
	return u.User.Username()
}

// mgmtCredentials: the management URL's own, else the AMQP URL's, else guest.
func mgmtCredentials(mgmt, amqpURL string) (string, string) {
	for _, raw := range []string{mgmt, amqpURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil && u.User.Username() != "" {
			p, _ := u.User.Password()
			return u.User.Username(), p
		}
	}
	return "guest", "guest"
}

// mgmtDo sends one request to the management API; body is JSON-encoded.
func mgmtDo(ctx context.Context, mgmt, amqpURL, method, path string, body any) error {
	u, err := url.Parse(mgmt)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad management url %q: want http://host:15672", redactURL(mgmt))
	}
	user, pass := mgmtCredentials(mgmt, amqpURL)
	u.User = nil
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	target := u.String() + path
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// mgmtCheck verifies that the management API answers with these credentials.
func mgmtCheck(ctx context.Context, mgmt, amqpURL string) error {
	return mgmtDo(ctx, mgmt, amqpURL, http.MethodGet, "/api/whoami", nil)
}
