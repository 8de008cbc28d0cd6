package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

const (
	testAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"
	testMgmtURL = "http://127.0.0.1:15672"
)

// machineBroker connects a recorded client to the machine's RabbitMQ and
// returns a unique name prefix; the test deletes what it declares.
func machineBroker(t *testing.T, mgmt string) (*H, *AMQP, string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second); err != nil {
		t.Skipf("no RabbitMQ at 127.0.0.1:5672: %v", err)
	} else {
		c.Close()
	}
	h := New(Options{AMQPURL: testAMQPURL, AMQPManagementURL: mgmt}).ForCheck("events.x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := h.AMQP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return h, a, fmt.Sprintf("grader-harness-test.%d.", time.Now().UnixNano())
}

func TestAMQPRecordsDeclarePublishGetAndConsume(t *testing.T) {
	h, a, p := machineBroker(t, testMgmtURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, q, dlx := p+"events", p+"q", p+"dlx"
	defer func() {
		a.DeleteQueue(context.Background(), q)
		a.DeleteExchange(context.Background(), ex)
	}()

	if err := a.DeclareExchange(ctx, ex, "topic", ExchangeOptions{Durable: false, AutoDelete: true}); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.ExchangeExists(ctx, ex); !ok || err != nil {
		t.Fatalf("ExchangeExists(declared) = %v, %v", ok, err)
	}
	// A passive declare of nothing closes the channel; the client goes on.
	if ok, err := a.ExchangeExists(ctx, p+"nothing"); ok || err != nil {
		t.Fatalf("ExchangeExists(missing) = %v, %v", ok, err)
	}
	if s := lastStep(t, h); !strings.Contains(s.Output, "NOT_FOUND") || !strings.Contains(s.Command, "passive=true") {
		t.Errorf("passive declare step = %q -> %q", s.Command, s.Output)
	}
	if _, err := a.DeclareQueue(ctx, q, QueueOptions{AutoDelete: false, Args: map[string]any{"x-dead-letter-exchange": dlx}}); err != nil {
		t.Fatal(err)
	}
	if s := lastStep(t, h); s.Command != "rabbitmqadmin declare queue name="+q+" durable=false "+`'arguments={"x-dead-letter-exchange":"`+dlx+`"}'` {
		t.Errorf("declare queue step = %q", s.Command)
	}
	if err := a.Bind(ctx, q, ex, "todo.*", nil); err != nil {
		t.Fatal(err)
	}
	body := `{"id":"1","type":"todo.created","title":"it's"}`
	if err := a.Publish(ctx, ex, "todo.created", Message{Body: []byte(body), ContentType: "application/json", MessageID: "m-1", Persistent: true,
		Headers: map[string]any{"traceparent": "00-abc-def-01"}}); err != nil {
		t.Fatal(err)
	}
	s := lastStep(t, h)
	if want := "rabbitmqadmin publish exchange=" + ex + " routing_key=todo.created 'payload=" + `{"id":"1","type":"todo.created","title":"it'\''s"}` + "' " +
		`'properties={"content_type":"application/json","delivery_mode":2,"headers":{"traceparent":"00-abc-def-01"},"message_id":"m-1"}'`; s.Command != want {
		t.Errorf("publish step =\n%s\nwant\n%s", s.Command, want)
	}
	if qs, ok, err := a.InspectQueue(ctx, q); err != nil || !ok || qs.Messages != 1 {
		t.Errorf("InspectQueue = %+v, %v, %v; want 1 message", qs, ok, err)
	}
	m, err := a.Get(ctx, q, 2*time.Second)
	if err != nil || m == nil {
		t.Fatalf("Get = %v, %v", m, err)
	}
	if string(m.Body) != body || m.MessageID != "m-1" || !m.Persistent || m.RoutingKey != "todo.created" || m.Headers["traceparent"] != "00-abc-def-01" {
		t.Errorf("Get = %+v", m)
	}
	s = lastStep(t, h)
	if !strings.HasPrefix(s.Command, "rabbitmqadmin get queue="+q+" ackmode=ack_requeue_false") ||
		!strings.Contains(s.Output, "routing_key=todo.created") || !strings.Contains(s.Output, "message_id=m-1") || !strings.HasSuffix(s.Output, body) {
		t.Errorf("get step = %q ->\n%s", s.Command, s.Output)
	}
	if m, err := a.Get(ctx, q, 200*time.Millisecond); m != nil || err != nil {
		t.Errorf("Get on an empty queue = %v, %v", m, err)
	}
	if s := lastStep(t, h); s.Output != "(no message within 200ms)" {
		t.Errorf("empty get step = %q", s.Output)
	}

	for i := range 3 {
		if err := a.Publish(ctx, "", q, Message{Body: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := a.Consume(ctx, q, 2, 3*time.Second)
	if err != nil || len(msgs) != 2 || string(msgs[0].Body) != "0" || string(msgs[1].Body) != "1" {
		t.Fatalf("Consume = %v, %v", msgs, err)
	}
	if s := lastStep(t, h); !strings.HasPrefix(s.Command, "basic.consume(queue="+q+")") || !strings.Contains(s.Output, "message 2: ") {
		t.Errorf("consume step = %q ->\n%s", s.Command, s.Output)
	}
	if n, err := a.Purge(ctx, q); err != nil || n != 1 {
		t.Errorf("Purge = %d, %v; want the 1 message left", n, err)
	}

	info, found, err := a.QueueInfo(ctx, q)
	if err != nil || !found || info.Arguments["x-dead-letter-exchange"] != dlx || info.Durable {
		t.Errorf("QueueInfo = %+v, %v, %v", info, found, err)
	}
	s = lastStep(t, h)
	if s.Kind != "http" || s.Command != "curl -s -u guest http://127.0.0.1:15672/api/queues/%2F/"+q || !strings.Contains(s.Output, `"x-dead-letter-exchange":"`+dlx+`"`) {
		t.Errorf("management step = %q -> %q", s.Command, s.Output)
	}
	if _, found, err := a.QueueInfo(ctx, p+"nothing"); found || err != nil {
		t.Errorf("QueueInfo(missing) = %v, %v", found, err)
	}
	if n, err := a.DeleteQueue(ctx, q); err != nil || n != 0 {
		t.Errorf("DeleteQueue = %d, %v", n, err)
	}
	if _, ok, err := a.InspectQueue(ctx, q); ok || err != nil {
		t.Errorf("InspectQueue after delete = %v, %v", ok, err)
	}
	for _, s := range h.Transcript() {
		if strings.Contains(s.Command, "guest:guest") || strings.Contains(s.Command, ":guest@") {
			t.Errorf("a step shows the password: %q", s.Command)
		}
	}
}

func TestAMQPBoundsHostileMessages(t *testing.T) {
	h, a, p := machineBroker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := p + "big"
	defer a.DeleteQueue(context.Background(), q)
	if _, err := a.DeclareQueue(ctx, q, QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("\x1b[2J"), (MaxAMQPBody+4096)/4)
	if err := a.Publish(ctx, "", q, Message{Body: big, Type: "\x1b]0;title\x07", Headers: map[string]any{"h": strings.Repeat("v", 5000)}}); err != nil {
		t.Fatal(err)
	}
	m, err := a.Get(ctx, q, 2*time.Second)
	if err != nil || m == nil {
		t.Fatalf("Get = %v, %v", m, err)
	}
	if len(m.Body) != MaxAMQPBody || m.BodySize != len(big) {
		t.Errorf("Get kept %d of %d bytes, want %d", len(m.Body), m.BodySize, MaxAMQPBody)
	}
	for _, s := range h.Transcript() {
		if len(s.Command) > 3*MaxBodyShown || len(s.Output) > 3*MaxBodyShown+100 {
			t.Errorf("a step is not bounded: %d bytes of command, %d of output", len(s.Command), len(s.Output))
		}
		if strings.ContainsAny(s.Output, "\x1b\x07") {
			t.Errorf("a step shows raw control characters: %.120q", s.Output)
		}
	}
	if _, _, err := a.QueueInfo(ctx, q); err != ErrNoManagement {
		t.Errorf("QueueInfo without a management url = %v", err)
	}
}

func TestAMQPErrorsAndTimeouts(t *testing.T) {
	if _, err := New(Options{}).AMQP(context.Background()); err != ErrNoBroker {
		t.Errorf("AMQP without a broker = %v", err)
	}
	h := New(Options{AMQPURL: "amqp://u:secret@127.0.0.1:1/run-7"}).ForCheck("x")
	if _, err := h.AMQP(context.Background()); err == nil {
		t.Fatal("connecting to a closed port succeeded")
	}
	s := lastStep(t, h)
	if !strings.HasPrefix(s.Command, "connection.open(host=127.0.0.1:1, vhost=run-7, user=u)") || !strings.HasPrefix(s.Output, "(error) ") || strings.Contains(s.Command+s.Output, "secret") {
		t.Errorf("connect step = %q -> %q", s.Command, s.Output)
	}

	h, a, p := machineBroker(t, "")
	q := p + "slow"
	defer a.DeleteQueue(context.Background(), q)
	if _, err := a.DeclareQueue(context.Background(), q, QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	// The check's time runs out while it waits for a message.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.Get(ctx, q, time.Minute); err == nil {
		t.Error("Get past the deadline succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Get returned %s after its deadline", d)
	}
	if s := lastStep(t, h); !strings.HasPrefix(s.Output, "(error) ") {
		t.Errorf("timed-out get step = %q", s.Output)
	}
	// The client reconnects for the next operation.
	if _, ok, err := a.InspectQueue(context.Background(), q); !ok || err != nil {
		t.Errorf("InspectQueue after a timeout = %v, %v", ok, err)
	}
	if got := (&AMQP{h: New(Options{AMQPManagementURL: "http://admin:pw@mq.example:8080"}), url: "amqp://x", vhost: "run-1"}).adminLine(); got != `rabbitmqadmin -H mq.example -P 8080 -u admin -p "$RABBITMQ_PASSWORD" -V run-1` {
		t.Errorf("adminLine = %q", got)
	}
}
