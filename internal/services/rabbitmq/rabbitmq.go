// Package rabbitmq is the RabbitMQ backing service: its image and
// container, readiness, a vhost per run (through the management API, or
// rabbitmqctl in the grader's own container), and the environment a
// learner's service receives (AMQP_URL).
package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/service"
)

// DefaultURL is the standard local address used in external mode.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// Container ports: AMQP and the management API.
const (
	Port           = "5672/tcp"
	ManagementPort = "15672/tcp"
)

// SettingManagementURL is the key of the management API's URL in
// Options.Settings (flag --amqp-management-url).
const SettingManagementURL = "amqp-management-url"

// NoteShared is said in the report when runs share the default vhost.
const NoteShared = "broker state is shared: no --amqp-management-url, so every run uses the broker's default vhost"

// Service is RabbitMQ, as the registry lists it.
var Service service.Service = rmq{}

type rmq struct{}

func (rmq) Name() grader.Service { return grader.RabbitMQ }

func (rmq) DefaultImage() string { return "rabbitmq:3.13-management-alpine" }

func (rmq) External() service.External {
	return service.External{
		DefaultURL: DefaultURL, URLEnv: "GRADER_AMQP_URL", URLFlag: "--amqp-url",
		Schemes:  []string{"amqp", "amqps"},
		Settings: []service.Setting{{Key: SettingManagementURL, Env: "GRADER_AMQP_MANAGEMENT_URL", Flag: "--amqp-management-url"}},
	}
}

// Container runs the image with an administrator of its own instead of
// guest (RABBITMQ_DEFAULT_USER/PASS, which the official and the local
// images honour): guest/guest would let anyone who reaches the broker,
// through a submission's own proxy included, into every vhost.
func (rmq) Container() service.ContainerSpec {
	user, password := "grader-admin", service.RandomHex(12)
	return service.ContainerSpec{
		Ports:        []string{Port, ManagementPort},
		Env:          map[string]string{"RABBITMQ_DEFAULT_USER": user, "RABBITMQ_DEFAULT_PASS": password},
		ReadyTimeout: 120 * time.Second,
		AdminURL: func(addr func(string) string) string {
			return "amqp://" + user + ":" + password + "@" + addr(Port) + "/"
		},
	}
}

// Probe opens (and closes) a connection to the broker.
func (rmq) Probe(ctx context.Context, rawURL string) error {
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

// Env is AMQP_URL.
func (rmq) Env(rawURL string) map[string]string { return map[string]string{"AMQP_URL": rawURL} }

// Doctor dials the broker and, when a management URL is given, its API.
func (r rmq) Doctor(ctx context.Context, srv service.Server) (string, error) {
	if err := r.Probe(ctx, srv.URL); err != nil {
		return "", err
	}
	mgmt := srv.Get(SettingManagementURL)
	if mgmt == "" {
		return "answers; no --amqp-management-url: in external mode every run shares the default vhost", nil
	}
	if err := mgmtCheck(ctx, mgmt, srv.URL); err != nil {
		return "", mgmtError(mgmt, err)
	}
	return fmt.Sprintf("answers; the management API at %s answers: each run gets its own vhost", service.Redact(mgmt)), nil
}

func mgmtError(mgmt string, err error) error {
	return &service.EnvError{
		Message: fmt.Sprintf("the RabbitMQ management API at %s does not answer: %s", service.Redact(mgmt), service.Friendly(err)),
		Fix:     "enable it (rabbitmq-plugins enable rabbitmq_management) and check the URL and credentials, or leave --amqp-management-url out (runs then share the default vhost)",
	}
}

// Open decides how vhosts are made: through the management API (external
// mode with a management URL; docker mode when the image has the plugin, as
// the default and local images do: milliseconds), else through rabbitmqctl
// in the grader's own container (a second or two, an Erlang VM per call).
// Otherwise runs share the broker's default vhost, and the notes say so.
func (rmq) Open(ctx context.Context, srv service.Server) (service.Instance, error) {
	in := &instance{url: srv.URL, ctr: srv.Container}
	if srv.Container != nil {
		mgmt := "http://" + srv.Container.Addr(ManagementPort)
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := mgmtCheck(mctx, mgmt, srv.URL)
		cancel()
		if err == nil {
			in.mgmt = mgmt
		} else {
			srv.Log("rabbitmq: no management API (%s): vhosts through rabbitmqctl", service.OneLine(err))
		}
		return in, nil
	}
	mgmt := srv.Get(SettingManagementURL)
	if mgmt == "" {
		if srv.Isolation.Untrusted {
			return nil, &service.EnvError{
				Message: "rabbitmq: without --amqp-management-url every submission would share the default vhost and the administrator's credentials",
				Fix:     "give --amqp-management-url (rabbitmq-plugins enable rabbitmq_management) so that each submission gets a user and a vhost of its own, or use --services docker",
			}
		}
		in.notes = []string{NoteShared}
		return in, nil
	}
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := mgmtCheck(mctx, mgmt, srv.URL)
	cancel()
	if err != nil {
		return nil, mgmtError(mgmt, err)
	}
	if srv.Isolation.Untrusted && !srv.Isolation.AllowTrust && guestLogsIn(ctx, srv.URL) {
		return nil, &service.EnvError{
			Message: fmt.Sprintf("rabbitmq at %s lets guest/guest in from this machine: a submission (through its own connection, which the grader relays from this machine) could use every vhost", service.HostPort(srv.URL)),
			Fix:     "give the broker an administrator of your own (rabbitmqctl add_user NAME PASSWORD; set_user_tags NAME administrator; set_permissions -p / NAME '.*' '.*' '.*'), pass it in --amqp-url and --amqp-management-url, and delete guest (rabbitmqctl delete_user guest); or use --services docker; to grade trusted code anyway, pass --allow-trusting-servers",
		}
	}
	in.mgmt = mgmt
	return in, nil
}

// guestLogsIn reports whether guest/guest opens a connection to the broker
// at rawURL's address.
func guestLogsIn(ctx context.Context, rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	u.User = url.UserPassword("guest", "guest")
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rmq{}.Probe(pctx, u.String()) == nil
}

type instance struct {
	url   string
	mgmt  string            // management API base ("" when none)
	ctr   service.Container // the grader's own container (nil: external)
	notes []string
}

func (in *instance) Notes() []string { return in.notes }

func (in *instance) Close() error { return nil }

// Leftovers are the grader_* vhosts and users (through the management API;
// without it the grader made none in external mode; in docker mode they go
// with the container).
func (in *instance) Leftovers(ctx context.Context) ([]service.Leftover, error) {
	if in.mgmt == "" || in.ctr != nil {
		return nil, nil
	}
	var out []service.Leftover
	for _, kind := range []string{"vhosts", "users"} {
		var items []struct {
			Name string `json:"name"`
		}
		if err := mgmtGet(ctx, in.mgmt, in.url, "/api/"+kind, &items); err != nil {
			return nil, fmt.Errorf("rabbitmq: list the %s: %w", kind, err)
		}
		for _, it := range items {
			if !strings.HasPrefix(it.Name, service.ScopePrefix) {
				continue
			}
			path := "/api/" + kind + "/" + url.PathEscape(it.Name)
			out = append(out, service.Leftover{Scope: it.Name,
				What: "rabbitmq " + strings.TrimSuffix(kind, "s") + " " + it.Name,
				Drop: func(ctx context.Context) error { return mgmtDo(ctx, in.mgmt, in.url, http.MethodDelete, path, nil) }})
		}
	}
	return out, nil
}

// mgmtGet GETs a management API path and decodes its JSON into v.
func mgmtGet(ctx context.Context, mgmt, amqpURL, path string, v any) error {
	u, err := url.Parse(mgmt)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad management url %q: want http://host:15672", service.Redact(mgmt))
	}
	user, pass := mgmtCredentials(mgmt, amqpURL)
	u.User, u.RawPath = nil, ""
	u.Path = strings.TrimRight(u.Path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

// ManagementURL is the management API the instance makes vhosts with ("":
// none). Tests use it.
func ManagementURL(i service.Instance) string {
	if in, ok := i.(*instance); ok {
		return in.mgmt
	}
	return ""
}

// Isolate creates the vhost name and a user of the same name with a random
// password and every permission on that vhost only (tagged "management":
// the management API shows it its own vhost, which is how the checks read
// queue arguments with the run's credentials); the scope's URL carries
// that user, never the administrator. Without a way to make vhosts (external
// mode without the management API) the lease is the broker's default vhost
// with the URL as given, and Open refused that for untrusted code.
func (in *instance) Isolate(ctx context.Context, name string) (*service.Lease, error) {
	password := service.RandomHex(16)
	perm := []string{".*", ".*", ".*"}
	var steps []step
	switch {
	case in.mgmt != "":
		vhost, user := "/api/vhosts/"+url.PathEscape(name), "/api/users/"+url.PathEscape(name)
		steps = []step{
			{"create vhost " + name,
				func(ctx context.Context) error { return mgmtDo(ctx, in.mgmt, in.url, http.MethodPut, vhost, nil) },
				func(ctx context.Context) error { return mgmtDo(ctx, in.mgmt, in.url, http.MethodDelete, vhost, nil) }},
			{"create user " + name,
				func(ctx context.Context) error {
					return mgmtDo(ctx, in.mgmt, in.url, http.MethodPut, user, map[string]string{"password": password, "tags": "management"})
				},
				func(ctx context.Context) error { return mgmtDo(ctx, in.mgmt, in.url, http.MethodDelete, user, nil) }},
			{"permissions of " + name + " on its vhost",
				func(ctx context.Context) error {
					return mgmtDo(ctx, in.mgmt, in.url, http.MethodPut, "/api/permissions/"+url.PathEscape(name)+"/"+url.PathEscape(name),
						map[string]string{"configure": perm[0], "write": perm[1], "read": perm[2]})
				}, nil},
		}
	case in.ctr != nil:
		steps = []step{
			{"create vhost " + name,
				func(ctx context.Context) error { return rabbitctl(ctx, in.ctr, "add_vhost", name) },
				func(ctx context.Context) error { return rabbitctl(ctx, in.ctr, "delete_vhost", name) }},
			{"create user " + name,
				func(ctx context.Context) error {
					if err := rabbitctl(ctx, in.ctr, "add_user", name, password); err != nil {
						return err
					}
					return rabbitctl(ctx, in.ctr, "set_user_tags", name, "management")
				},
				func(ctx context.Context) error { return rabbitctl(ctx, in.ctr, "delete_user", name) }},
			{"permissions of " + name + " on its vhost",
				func(ctx context.Context) error {
					return rabbitctl(ctx, in.ctr, append([]string{"set_permissions", "-p", name, name}, perm...)...)
				}, nil},
		}
	default:
		return &service.Lease{URL: in.url, Handle: in.url, Release: func(context.Context) error { return nil }}, nil
	}
	var undo []step
	release := func(ctx context.Context) error {
		var errs []string
		for i := len(undo) - 1; i >= 0; i-- {
			if undo[i].undo == nil {
				continue
			}
			if err := undo[i].undo(ctx); err != nil {
				errs = append(errs, fmt.Sprintf("rabbitmq: undo %s: %s", undo[i].what, service.OneLine(err)))
			}
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	}
	for _, st := range steps {
		if err := st.do(ctx); err != nil {
			_ = release(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("rabbitmq: %s: %w", st.what, err)
		}
		undo = append(undo, st)
	}
	u := service.WithCredentials(in.url, name, password, name)
	var once sync.Once
	var relErr error
	return &service.Lease{URL: u, Handle: u, Release: func(ctx context.Context) error {
		once.Do(func() { relErr = release(ctx) })
		return relErr
	}}, nil
}

// step is one thing Isolate does, and how to undo it (nil: goes with the
// others).
type step struct {
	what string
	do   func(context.Context) error
	undo func(context.Context) error
}

// rabbitctl runs rabbitmqctl in the broker's container.
func rabbitctl(ctx context.Context, c service.Container, args ...string) error {
	cmd := append([]string{"rabbitmqctl", "-q"}, args...)
	if _, err := c.Exec(ctx, cmd...); err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	return nil
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
		return fmt.Errorf("bad management url %q: want http://host:15672", service.Redact(mgmt))
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
