package faults

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// TestAMQPIdleConnectionDown: the outbox check takes the broker away while
// the service's connection sits idle (a consumer waits, nothing is sent), so
// Down must end that connection at once, not when data next flows.
func TestAMQPIdleConnectionDown(t *testing.T) {
	direct := envOr("GRADER_AMQP_URL", defaultAMQPURL)
	other, err := amqp.DialConfig(direct, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		unavailable(t, "rabbitmq at %s is not reachable: %v", hostOf(direct), err)
	}
	defer other.Close()
	s, p := newSet(t, "rabbitmq", direct)
	proxied := s.RewriteURL("rabbitmq", direct)
	dial := func() (*amqp.Connection, error) {
		return amqp.DialConfig(proxied, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	}

	conn, err := dial()
	if err != nil {
		t.Fatalf("amqp through the proxy: %v", err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ctx := context.Background()
	if err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(soon):
		t.Fatalf("the idle connection was still open %v after Down", soon)
	}
	if c, err := dial(); err == nil {
		c.Close()
		t.Fatal("a new connection succeeded while the broker was down")
	}
	ch, err := other.Channel()
	if err != nil {
		t.Fatalf("a direct connection to the same broker failed: %v", err)
	}
	ch.Close()

	if err := p.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, soon, "amqp dial after restore", func(context.Context) error {
		c, err := dial()
		if err == nil {
			c.Close()
		}
		return err
	})
}
