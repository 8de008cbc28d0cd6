package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/backend-grader/grader/internal/verdict"
)

// ErrNoBroker is returned by h.AMQP when the run has no RabbitMQ.
var ErrNoBroker error = &verdict.Environment{Reason: "this run has no RabbitMQ (grader bug: the stage should declare it)"}

// ErrNoManagement is returned by AMQP.QueueInfo when the run knows no
// management API (the report says how to give one: --amqp-management-url).
var ErrNoManagement = errors.New("reading queue arguments needs the RabbitMQ management API (--amqp-management-url)")

// MaxAMQPBody is how much of a message's body a Message keeps; a learner's
// service may publish anything, the grader holds no more than this of it.
const MaxAMQPBody = 1 << 20

// AMQP is a recorded client on the run's broker, for one check: every
// operation is a step of the check's transcript, written as the
// rabbitmqadmin command a learner can run (or, where rabbitmqadmin has no
// such command, the AMQP method in words). The caller must Close it (defer
// it right after h.AMQP); until h.Cleanup exists the harness does not.
type AMQP struct {
	h       *H
	url     string
	vhost   string
	user    string
	admin   string // the rabbitmqadmin invocation
	timeout time.Duration

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel
	n    int // consumers started, for unique tags
}

// Message is a message the grader publishes or received.
type Message struct {
	// Exchange and RoutingKey are where a received message was published.
	Exchange, RoutingKey string
	ContentType          string
	MessageID            string
	CorrelationID        string
	Type                 string
	// Persistent is delivery mode 2.
	Persistent bool
	Headers    map[string]any
	Timestamp  time.Time
	Body       []byte
	// BodySize is the body's size in bytes; Body holds at most MaxAMQPBody of it.
	BodySize    int
	Redelivered bool
}

// ExchangeOptions are an exchange's properties for DeclareExchange.
type ExchangeOptions struct {
	Durable, AutoDelete, Internal bool
	Args                          map[string]any
}

// QueueOptions are a queue's properties for DeclareQueue.
type QueueOptions struct {
	Durable, AutoDelete, Exclusive bool
	Args                           map[string]any
}

// Queue is what the broker says of a queue it declared.
type Queue struct {
	Name      string
	Messages  int
	Consumers int
}

// AMQP connects to the run's broker (its vhost) within ctx's deadline or
// ten seconds, and records the step. The connection is closed when the
// check ends (h.Cleanup); closing it earlier is fine.
func (h *H) AMQP(ctx context.Context) (*AMQP, error) {
	if h.AMQPURL == "" {
		return nil, ErrNoBroker
	}
	uri, err := amqp.ParseURI(h.AMQPURL)
	if err != nil {
		return nil, fmt.Errorf("the run's broker url is not an amqp url: %v", err)
	}
	a := &AMQP{h: h, url: h.AMQPURL, vhost: uri.Vhost, user: uri.Username, timeout: 10 * time.Second}
	if a.vhost == "" {
		a.vhost = "/"
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < a.timeout {
		a.timeout = max(time.Until(d), 100*time.Millisecond)
	}
	a.admin = a.adminLine()
	words := fmt.Sprintf("connection.open(host=%s, vhost=%s, user=%s)", shellArg(net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))), shellArg(a.vhost), shellArg(uri.Username))
	err = a.do(ctx, func() error { return a.connect() })
	if err != nil {
		h.Record("amqp", words, errorReply(err))
		return nil, fmt.Errorf("connecting to the run's broker: %w", err)
	}
	h.Record("amqp", words, "connected")
	h.Cleanup(func(context.Context) error { return a.Close() })
	return a, nil
}

// adminLine is the rabbitmqadmin invocation for this vhost and management
// API: the host and port when they are not the defaults, the user (never
// its password: a learner exports RABBITMQ_PASSWORD).
func (a *AMQP) adminLine() string {
	parts := []string{"rabbitmqadmin"}
	if m, err := url.Parse(a.h.AMQPManagementURL); err == nil && m.Host != "" {
		host, port := m.Hostname(), m.Port()
		if host != "" && host != "localhost" && host != "127.0.0.1" {
			parts = append(parts, "-H", shellArg(host))
		}
		if port != "" && port != "15672" {
			parts = append(parts, "-P", shellArg(port))
		}
	}
	if user, _ := mgmtUser(a.h.AMQPManagementURL, a.url); user != "guest" {
		parts = append(parts, "-u", shellArg(user), `-p "$RABBITMQ_PASSWORD"`)
	}
	if a.vhost != "/" {
		parts = append(parts, "-V", shellArg(a.vhost))
	}
	return strings.Join(parts, " ")
}

func (a *AMQP) connect() error {
	conn, err := amqp.DialConfig(a.url, amqp.Config{Dial: amqp.DefaultDial(a.timeout), Heartbeat: 10 * time.Second, Locale: "en_US"})
	if err != nil {
		return err
	}
	a.conn = conn
	return nil
}

// channel returns an open channel in confirm mode, opening a new one (and a
// new connection) when the broker closed the last: a passive declare of
// something that does not exist closes the channel.
func (a *AMQP) channel() (*amqp.Channel, error) {
	if a.ch != nil && !a.ch.IsClosed() {
		return a.ch, nil
	}
	if a.conn == nil || a.conn.IsClosed() {
		if err := a.connect(); err != nil {
			return nil, err
		}
	}
	ch, err := a.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	// Deliveries in flight to the grader: a few at a time.
	if err := ch.Qos(10, 0, false); err != nil {
		ch.Close()
		return nil, err
	}
	a.ch = ch
	return ch, nil
}

// do runs fn, which may block on the broker, until ctx ends; then it closes
// the connection so that fn returns, and reports the context's error.
func (a *AMQP) do(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		a.closeConn()
		<-done
		return fmt.Errorf("no answer from the broker: %w", ctx.Err())
	}
}

func (a *AMQP) closeConn() {
	if c := a.conn; c != nil {
		_ = c.Close()
	}
}

// op runs one recorded operation on a channel.
func (a *AMQP) op(ctx context.Context, command string, fn func(ch *amqp.Channel) (string, error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out string
	err := a.do(ctx, func() error {
		ch, err := a.channel()
		if err != nil {
			return err
		}
		out, err = fn(ch)
		return err
	})
	if err != nil {
		a.h.Record("amqp", command, errorReply(err))
		return err
	}
	a.h.Record("amqp", command, out)
	return nil
}

// errorReply renders a broker error as the broker said it
// ("NOT_FOUND - no queue 'x' in vhost '/'"), escaped and cut.
func errorReply(err error) string {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return "(error) " + Shorten(printableText(ae.Reason), shownRedisValue)
	}
	return "(error) " + Shorten(printableText(err.Error()), shownRedisValue)
}

// isNotFound: the broker answered 404 NOT_FOUND (a passive declare).
func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// kv is one name=value argument of rabbitmqadmin, quoted for the shell.
func kv(name, value string) string { return shellArg(name + "=" + value) }

func argsJSON(args map[string]any) string {
	b, err := json.Marshal(args)
	if err != nil {
		return fmt.Sprint(args)
	}
	return string(b)
}

// DeclareExchange declares an exchange (exchange.declare), as rabbitmqadmin
// declare exchange.
func (a *AMQP) DeclareExchange(ctx context.Context, name, kind string, o ExchangeOptions) error {
	cmd := a.admin + " declare exchange " + kv("name", name) + " " + kv("type", kind) + " " + kv("durable", strconv.FormatBool(o.Durable))
	if o.AutoDelete {
		cmd += " auto_delete=true"
	}
	if o.Internal {
		cmd += " internal=true"
	}
	if len(o.Args) > 0 {
		cmd += " " + kv("arguments", argsJSON(o.Args))
	}
	return a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		return "exchange declared", ch.ExchangeDeclare(name, kind, o.Durable, o.AutoDelete, o.Internal, false, amqp.Table(o.Args))
	})
}

// ExchangeExists asks the broker whether an exchange exists, with a
// passive exchange.declare (which changes nothing).
func (a *AMQP) ExchangeExists(ctx context.Context, name string) (bool, error) {
	cmd := "exchange.declare(exchange=" + shellArg(name) + ", passive=true)  # does it exist? (rabbitmqadmin list exchanges)"
	err := a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		return "it exists", ch.ExchangeDeclarePassive(name, "", false, false, false, false, nil)
	})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// DeclareQueue declares a queue (queue.declare), as rabbitmqadmin declare
// queue; "" lets the broker name it. The Queue says what the broker holds.
func (a *AMQP) DeclareQueue(ctx context.Context, name string, o QueueOptions) (Queue, error) {
	var cmd string
	if name == "" || o.Exclusive {
		cmd = fmt.Sprintf("queue.declare(queue=%s, durable=%t, exclusive=%t, auto_delete=%t", shellArg(name), o.Durable, o.Exclusive, o.AutoDelete)
		if len(o.Args) > 0 {
			cmd += ", arguments=" + shellArg(argsJSON(o.Args))
		}
		cmd += ")"
	} else {
		cmd = a.admin + " declare queue " + kv("name", name) + " " + kv("durable", strconv.FormatBool(o.Durable))
		if o.AutoDelete {
			cmd += " auto_delete=true"
		}
		if len(o.Args) > 0 {
			cmd += " " + kv("arguments", argsJSON(o.Args))
		}
	}
	var q Queue
	err := a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		r, err := ch.QueueDeclare(name, o.Durable, o.AutoDelete, o.Exclusive, false, amqp.Table(o.Args))
		q = Queue{Name: r.Name, Messages: r.Messages, Consumers: r.Consumers}
		return fmt.Sprintf("queue %s declared: %d messages, %d consumers", shellArg(r.Name), r.Messages, r.Consumers), err
	})
	return q, err
}

// InspectQueue asks the broker for a queue with a passive queue.declare
// (which changes nothing): whether it exists, and its message and consumer
// counts.
func (a *AMQP) InspectQueue(ctx context.Context, name string) (Queue, bool, error) {
	cmd := "queue.declare(queue=" + shellArg(name) + ", passive=true)  # does it exist? (rabbitmqadmin list queues name messages consumers)"
	var q Queue
	err := a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		r, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		q = Queue{Name: r.Name, Messages: r.Messages, Consumers: r.Consumers}
		return fmt.Sprintf("%d messages, %d consumers", r.Messages, r.Consumers), err
	})
	if isNotFound(err) {
		return Queue{}, false, nil
	}
	return q, err == nil, err
}

// Bind binds a queue to an exchange with a routing key (queue.bind), as
// rabbitmqadmin declare binding.
func (a *AMQP) Bind(ctx context.Context, queue, exchange, key string, args map[string]any) error {
	cmd := a.admin + " declare binding " + kv("source", exchange) + " " + kv("destination", queue) + " " + kv("routing_key", key)
	if len(args) > 0 {
		cmd += " " + kv("arguments", argsJSON(args))
	}
	return a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		return "binding declared", ch.QueueBind(queue, key, exchange, false, amqp.Table(args))
	})
}

// Publish publishes m to an exchange ("" is the default exchange, whose
// routing key is a queue name) and waits for the broker's confirm.
func (a *AMQP) Publish(ctx context.Context, exchange, key string, m Message) error {
	props := map[string]any{}
	if m.ContentType != "" {
		props["content_type"] = m.ContentType
	}
	if m.MessageID != "" {
		props["message_id"] = m.MessageID
	}
	if m.CorrelationID != "" {
		props["correlation_id"] = m.CorrelationID
	}
	if m.Type != "" {
		props["type"] = m.Type
	}
	if m.Persistent {
		props["delivery_mode"] = 2
	}
	if len(m.Headers) > 0 {
		props["headers"] = m.Headers
	}
	if !m.Timestamp.IsZero() {
		props["timestamp"] = m.Timestamp.Unix()
	}
	cmd := a.admin + " publish " + kv("exchange", exchange) + " " + kv("routing_key", key)
	if utf8.Valid(m.Body) {
		cmd += " " + kv("payload", Shorten(string(m.Body), MaxBodyShown))
	} else {
		cmd += " " + kv("payload", Shorten(base64.StdEncoding.EncodeToString(m.Body), MaxBodyShown)) + " payload_encoding=base64"
	}
	if len(props) > 0 {
		cmd += " " + kv("properties", argsJSON(props))
	}
	pub := amqp.Publishing{
		ContentType: m.ContentType, MessageId: m.MessageID, CorrelationId: m.CorrelationID, Type: m.Type,
		Headers: amqp.Table(m.Headers), Timestamp: m.Timestamp, Body: m.Body,
	}
	if m.Persistent {
		pub.DeliveryMode = amqp.Persistent
	}
	return a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, pub)
		if err != nil {
			return "", err
		}
		ok, err := conf.WaitContext(ctx)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", errors.New("the broker refused the message (basic.nack)")
		}
		return "message published (confirmed by the broker)", nil
	})
}

// Get takes one message from a queue (basic.get, acknowledged), polling
// until one is there or wait has passed; nil when none came.
func (a *AMQP) Get(ctx context.Context, queue string, wait time.Duration) (*Message, error) {
	cmd := a.admin + " get " + kv("queue", queue) + " ackmode=ack_requeue_false"
	if wait > 0 {
		cmd += fmt.Sprintf("  # repeated for up to %s until a message is there", wait)
	}
	var got *Message
	deadline := time.Now().Add(wait)
	err := a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		for {
			d, ok, err := ch.Get(queue, false)
			if err != nil {
				return "", err
			}
			if ok {
				if err := d.Ack(false); err != nil {
					return "", err
				}
				got = fromDelivery(d)
				return Shorten(FormatMessage(got), 3*MaxBodyShown), nil
			}
			if !time.Now().Before(deadline) {
				return fmt.Sprintf("(no message within %s)", wait), nil
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return got, err
}

// Consume subscribes to a queue (basic.consume) and collects up to n
// messages, each acknowledged, for at most wait; then it cancels the
// consumer. The step shows the messages, cut.
func (a *AMQP) Consume(ctx context.Context, queue string, n int, wait time.Duration) ([]Message, error) {
	a.mu.Lock()
	a.n++
	tag := "grader-" + strconv.Itoa(a.n)
	a.mu.Unlock()
	cmd := fmt.Sprintf("basic.consume(queue=%s) for up to %s or %d messages, acknowledging each  # no rabbitmqadmin equivalent; see it with: %s get %s", shellArg(queue), wait, n, a.admin, kv("queue", queue))
	var msgs []Message
	err := a.op(ctx, cmd, func(ch *amqp.Channel) (string, error) {
		deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
		if err != nil {
			return "", err
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
	loop:
		for len(msgs) < n {
			select {
			case d, ok := <-deliveries:
				if !ok {
					break loop
				}
				if err := d.Ack(false); err != nil {
					return "", err
				}
				msgs = append(msgs, *fromDelivery(d))
			case <-timer.C:
				break loop
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		if err := ch.Cancel(tag, false); err != nil {
			return "", err
		}
		// Deliveries already on their way go back to the queue; the
		// library closes the channel of deliveries once the cancel is done.
		for d := range deliveries {
			_ = d.Nack(false, true)
		}
		return FormatMessages(msgs, wait), nil
	})
	return msgs, err
}

// Purge removes every ready message from a queue (queue.purge), as
// rabbitmqadmin purge queue; it returns how many were removed.
func (a *AMQP) Purge(ctx context.Context, queue string) (int, error) {
	var n int
	err := a.op(ctx, a.admin+" purge queue "+kv("name", queue), func(ch *amqp.Channel) (string, error) {
		var err error
		n, err = ch.QueuePurge(queue, false)
		return fmt.Sprintf("%d messages purged", n), err
	})
	return n, err
}

// DeleteQueue deletes a queue (queue.delete), as rabbitmqadmin delete
// queue; it returns how many messages it held.
func (a *AMQP) DeleteQueue(ctx context.Context, queue string) (int, error) {
	var n int
	err := a.op(ctx, a.admin+" delete queue "+kv("name", queue), func(ch *amqp.Channel) (string, error) {
		var err error
		n, err = ch.QueueDelete(queue, false, false, false)
		return fmt.Sprintf("queue deleted (%d messages)", n), err
	})
	return n, err
}

// DeleteExchange deletes an exchange (exchange.delete), as rabbitmqadmin
// delete exchange.
func (a *AMQP) DeleteExchange(ctx context.Context, name string) error {
	return a.op(ctx, a.admin+" delete exchange "+kv("name", name), func(ch *amqp.Channel) (string, error) {
		return "exchange deleted", ch.ExchangeDelete(name, false, false)
	})
}

// Close closes the client's channel and connection. It is not recorded.
func (a *AMQP) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil || a.conn.IsClosed() {
		return nil
	}
	err := a.conn.Close()
	a.conn, a.ch = nil, nil
	return err
}

func fromDelivery(d amqp.Delivery) *Message {
	m := &Message{
		Exchange: d.Exchange, RoutingKey: d.RoutingKey, ContentType: d.ContentType, MessageID: d.MessageId,
		CorrelationID: d.CorrelationId, Type: d.Type, Persistent: d.DeliveryMode == amqp.Persistent,
		Headers: map[string]any(d.Headers), Timestamp: d.Timestamp, BodySize: len(d.Body), Redelivered: d.Redelivered,
	}
	if len(d.Body) > MaxAMQPBody {
		m.Body = append([]byte(nil), d.Body[:MaxAMQPBody]...)
	} else {
		m.Body = d.Body
	}
	return m
}

// FormatMessage renders a message for a transcript, everything the
// learner's service chose escaped and cut.
func FormatMessage(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exchange=%s routing_key=%s redelivered=%t", shellArg(m.Exchange), shellArg(m.RoutingKey), m.Redelivered)
	var props []string
	if m.ContentType != "" {
		props = append(props, "content_type="+shellArg(m.ContentType))
	}
	if m.Persistent {
		props = append(props, "delivery_mode=2")
	} else {
		props = append(props, "delivery_mode=1 (not persistent)")
	}
	if m.MessageID != "" {
		props = append(props, "message_id="+shellArg(m.MessageID))
	}
	if m.CorrelationID != "" {
		props = append(props, "correlation_id="+shellArg(m.CorrelationID))
	}
	if m.Type != "" {
		props = append(props, "type="+shellArg(m.Type))
	}
	fmt.Fprintf(&b, "\nproperties: %s", strings.Join(props, " "))
	if len(m.Headers) > 0 {
		names := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		var hs []string
		for i, k := range names {
			if i == shownRedisItems {
				hs = append(hs, fmt.Sprintf("... and %d more", len(names)-i))
				break
			}
			hs = append(hs, shellArg(k)+"="+shellArg(Shorten(fmt.Sprint(m.Headers[k]), shownRedisValue)))
		}
		fmt.Fprintf(&b, "\nheaders: %s", strings.Join(hs, " "))
	}
	fmt.Fprintf(&b, "\npayload (%d bytes):", m.BodySize)
	if m.BodySize > 0 {
		b.WriteString("\n" + bodyText(m.Body, m.BodySize))
	}
	return b.String()
}

// FormatMessages renders what a consumer received, the first few in full.
func FormatMessages(msgs []Message, wait time.Duration) string {
	if len(msgs) == 0 {
		return fmt.Sprintf("(no message within %s)", wait)
	}
	var b strings.Builder
	for i := range msgs {
		if i == 5 {
			fmt.Fprintf(&b, "\n... and %d more messages", len(msgs)-i)
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "message %d: %s", i+1, FormatMessage(&msgs[i]))
	}
	return Shorten(b.String(), 3*MaxBodyShown)
}

// bodyText is a payload as text: cut to MaxBodyShown, control characters
// (but newlines and tabs) escaped; a payload that is not UTF-8 as base64.
func bodyText(body []byte, size int) string {
	cut := body
	if len(cut) > MaxBodyShown {
		cut = cut[:MaxBodyShown]
		for len(cut) > 0 && !utf8.RuneStart(body[len(cut)]) {
			cut = cut[:len(cut)-1]
		}
	}
	more := ""
	if size > len(cut) {
		more = fmt.Sprintf("... (%d bytes in all)", size)
	}
	if !utf8.Valid(cut) {
		return "(not UTF-8, base64) " + base64.StdEncoding.EncodeToString(cut) + more
	}
	lines := strings.Split(string(cut), "\n")
	for i, l := range lines {
		lines[i] = printableText(strings.TrimSuffix(l, "\r"))
	}
	return strings.Join(lines, "\n") + more
}

// QueueInfo is what the management API says of a queue.
type QueueInfo struct {
	Type      string         `json:"type"` // classic, quorum, stream
	Durable   bool           `json:"durable"`
	Arguments map[string]any `json:"arguments"`
}

// QueueInfo reads a queue's type, durability and arguments through the
// management API (GET /api/queues/{vhost}/{name}), recorded as the curl
// line; found is false when the broker has no such queue.
func (a *AMQP) QueueInfo(ctx context.Context, queue string) (info QueueInfo, found bool, err error) {
	if a.h.AMQPManagementURL == "" {
		return QueueInfo{}, false, ErrNoManagement
	}
	m, err := url.Parse(a.h.AMQPManagementURL)
	if err != nil || m.Host == "" {
		return QueueInfo{}, false, fmt.Errorf("bad management url: want http://host:15672")
	}
	user, pass := mgmtUser(a.h.AMQPManagementURL, a.url)
	m.User = nil
	m.RawQuery, m.Fragment = "", ""
	target := strings.TrimRight(m.String(), "/") + "/api/queues/" + url.PathEscape(a.vhost) + "/" + url.PathEscape(queue)
	curl := "curl -s -u " + shellArg(user) + " " + shellArg(target)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return QueueInfo{}, false, err
	}
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		msg := describeTransportError(err)
		a.h.Record("http", curl, "(no response: "+msg+")")
		return QueueInfo{}, false, fmt.Errorf("the management api: %s", msg)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		a.h.Record("http", curl, "(the body was cut off: "+describeTransportError(err)+")")
		return QueueInfo{}, false, fmt.Errorf("the management api: %s", describeTransportError(err))
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		a.h.Record("http", curl, FormatResponse(resp.StatusCode, nil, body))
		return QueueInfo{}, false, nil
	case resp.StatusCode != http.StatusOK:
		a.h.Record("http", curl, FormatResponse(resp.StatusCode, nil, body))
		return QueueInfo{}, false, fmt.Errorf("the management api answered %d to GET /api/queues/...", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		a.h.Record("http", curl, FormatResponse(resp.StatusCode, nil, body))
		return QueueInfo{}, false, fmt.Errorf("the management api's answer is not the json expected: %v", err)
	}
	shown, _ := json.Marshal(info)
	a.h.Record("http", curl, "HTTP 200 OK\n\n"+Shorten(printableText(string(shown)), MaxBodyShown)+"\n(type, durable and arguments of the answer)")
	return info, true, nil
}

// mgmtUser: the management URL's credentials, else the AMQP URL's, else guest.
func mgmtUser(mgmt, amqpURL string) (string, string) {
	for _, raw := range []string{mgmt, amqpURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil && u.User.Username() != "" {
			p, _ := u.User.Password()
			return u.User.Username(), p
		}
	}
	return "guest", "guest"
}
