package rabbitmq

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/backend-grader/grader/internal/services/service"
	"github.com/backend-grader/grader/internal/services/servicetest"
)

// openLocal opens the machine's broker with its management API (external
// mode, GRADER_AMQP_URL and GRADER_AMQP_MANAGEMENT_URL or the standard ones).
func openLocal(t *testing.T, iso service.Isolation) service.Instance {
	t.Helper()
	amqpURL, mgmt := os.Getenv("GRADER_AMQP_URL"), os.Getenv("GRADER_AMQP_MANAGEMENT_URL")
	if amqpURL == "" {
		amqpURL = DefaultURL
	}
	if mgmt == "" {
		mgmt = "http://127.0.0.1:15672"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Service.Probe(ctx, amqpURL); err != nil {
		servicetest.Unavailable(t, "rabbitmq at %s is not reachable: %v", service.HostPort(amqpURL), err)
	}
	if err := mgmtCheck(ctx, mgmt, amqpURL); err != nil {
		servicetest.Unavailable(t, "the rabbitmq management API at %s does not answer (rabbitmq-plugins enable rabbitmq_management): %v", mgmt, err)
	}
	settings := map[string]string{SettingManagementURL: mgmt}
	inst, err := Service.Open(ctx, service.Server{URL: amqpURL, Isolation: iso, Setting: func(k string) string { return settings[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// Each run gets a user of its own, limited to its own vhost.
func TestUserPerRun(t *testing.T) {
	inst := openLocal(t, service.Isolation{Untrusted: true, AllowTrust: true}) // the machine's broker has guest/guest
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	suffix := service.RandomHex(3)
	var leases []*service.Lease
	for _, n := range []string{"grader_testa_" + suffix, "grader_testb_" + suffix} {
		l, err := inst.Isolate(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	a, b := service.Split(leases[0].URL, "5672"), service.Split(leases[1].URL, "5672")
	admin := service.Split(DefaultURL, "5672")
	if a.User == admin.User || a.User == b.User || a.Password == "" || a.Password == admin.Password {
		t.Fatalf("scope URLs %s and %s: want a user and a password of their own", service.Redact(leases[0].URL), service.Redact(leases[1].URL))
	}
	// A on its own vhost: it may declare and publish.
	conn, err := amqp.Dial(leases[0].URL)
	if err != nil {
		t.Fatalf("run A on its own vhost: %v", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare("q", false, true, false, false, nil)
	}
	if err == nil {
		err = ch.PublishWithContext(ctx, "", "q", false, false, amqp.Publishing{Body: []byte("x")})
	}
	conn.Close()
	if err != nil {
		t.Fatalf("run A publishing on its own vhost: %v", err)
	}
	// A's user on B's vhost: refused when the connection opens, so nothing
	// can be published there.
	cross := service.WithCredentials(leases[0].URL, a.User, a.Password, b.Path)
	if c, err := amqp.Dial(cross); err == nil {
		c.Close()
		t.Fatal("run A's user opened run B's vhost")
	} else if !strings.Contains(err.Error(), "access to vhost") && !errors.Is(err, amqp.ErrVhost) {
		t.Fatalf("run A's user on run B's vhost: %v; want the vhost refused", err)
	}
	// Nor on the default vhost. The management API (the checks read queue
	// arguments with the run's own credentials) shows A its own vhost only.
	if c, err := amqp.Dial(service.WithCredentials(leases[0].URL, a.User, a.Password, "")); err == nil {
		c.Close()
		t.Fatal("run A's user opened the default vhost")
	}
	mgmtStatus := func(vhost string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:15672/api/queues/"+url.PathEscape(vhost), nil)
		req.SetBasicAuth(a.User, a.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("management API: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := mgmtStatus(strings.TrimPrefix(a.Path, "/")); st != http.StatusOK {
		t.Errorf("run A's user reading its own vhost's queues through the management API: %d, want 200", st)
	}
	for _, other := range []string{strings.TrimPrefix(b.Path, "/"), "/"} {
		if st := mgmtStatus(other); st < 400 {
			t.Errorf("run A's user read vhost %q's queues through the management API: %d", other, st)
		}
	}
	// Release removes the user and the vhost.
	for _, l := range leases {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := amqp.Dial(leases[0].URL); err == nil {
		c.Close()
		t.Fatal("a released run's user still connects")
	}
}

// Untrusted code without a management API would share the administrator.
func TestUntrustedNeedsManagement(t *testing.T) {
	_, err := Service.Open(context.Background(), service.Server{URL: DefaultURL, Isolation: service.Isolation{Untrusted: true}})
	var ee *service.EnvError
	if !errors.As(err, &ee) || !strings.Contains(ee.Fix, "--amqp-management-url") {
		t.Fatalf("Open for untrusted code without a management API = %v; want an EnvError naming --amqp-management-url", err)
	}
}
