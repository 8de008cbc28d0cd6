package events

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxDelivery bounds what the receiver keeps of one webhook request.
const maxDelivery = 64 << 10

// delivery is one request the service sent to the grader's receiver.
type delivery struct {
	Start, End time.Time
	Header     http.Header
	Body       []byte
	Answer     string // what the receiver did: 200, 500, 302, hang
}

// inbox is one webhook URL of the receiver and what it answers.
type inbox struct {
	plan func(n int) string // n from 1: "200", "500", "302", "hang"

	mu         sync.Mutex
	got        []delivery
	redirected int // requests that followed the 302
	changed    chan struct{}
}

func (b *inbox) snapshot() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.got...)
}

// wait blocks until cond holds for the deliveries or wait passes.
func (b *inbox) wait(ctx context.Context, wait time.Duration, cond func([]delivery) bool) []delivery {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		got, ch := append([]delivery(nil), b.got...), b.changed
		b.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			return b.snapshot()
		case <-ctx.Done():
			return b.snapshot()
		}
	}
}

func (b *inbox) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// receiver is the grader's webhook receiver: one HTTP server for the whole
// process, one random path per inbox. It listens on loopback and, on the
// same port, on each address where a service in a container reaches the
// grader (its network's gateway), so that WEBHOOK_ALLOW_HOSTS names one
// port whatever the host.
type receiver struct {
	port string
	err  error
	srv  *http.Server

	mu        sync.Mutex
	inboxes   map[string]*inbox
	listening map[string]error // host -> why it could not listen there (nil: it does)
}

var (
	recvOnce sync.Once
	recv     *receiver
)

// theReceiver starts the receiver on loopback on first use.
func theReceiver() *receiver {
	recvOnce.Do(func() {
		recv = &receiver{inboxes: map[string]*inbox{}, listening: map[string]error{}, port: "1"}
		recv.srv = &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			recv.err = err
			return
		}
		_, recv.port, _ = net.SplitHostPort(ln.Addr().String())
		recv.listening["127.0.0.1"] = nil
		go func() { _ = recv.srv.Serve(ln) }()
	})
	return recv
}

// listenOn makes the receiver answer on host too (idempotent).
func (r *receiver) listenOn(host string) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err, ok := r.listening[host]; ok {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, r.port))
	r.listening[host] = err
	if err == nil {
		go func() { _ = r.srv.Serve(ln) }()
	}
	return err
}

// newInbox registers a fresh path on host; plan says what each attempt gets.
func (r *receiver) newInbox(host string, rnd *rand.Rand, plan func(n int) string) (string, *inbox) {
	id := fmt.Sprintf("%016x", rnd.Uint64())
	b := &inbox{plan: plan, changed: make(chan struct{})}
	r.mu.Lock()
	r.inboxes[id] = b
	r.mu.Unlock()
	return "http://" + net.JoinHostPort(host, r.port) + "/hooks/" + id, b
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind, id, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	r.mu.Lock()
	b := r.inboxes[id]
	r.mu.Unlock()
	if b == nil || (kind != "hooks" && kind != "moved") {
		http.NotFound(w, req)
		return
	}
	start := time.Now()
	body, _ := io.ReadAll(io.LimitReader(req.Body, maxDelivery))
	if kind == "moved" {
		b.mu.Lock()
		b.redirected++
		b.notify()
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	b.mu.Lock()
	n := len(b.got) + 1
	b.mu.Unlock()
	answer := "200"
	if b.plan != nil {
		answer = b.plan(n)
	}
	switch answer {
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
	case "302":
		w.Header().Set("Location", "/moved/"+id)
		w.WriteHeader(http.StatusFound)
	case "hang":
		// Until the service gives up (its WEBHOOK_TIMEOUT_MS), or 30 s.
		t := time.NewTimer(30 * time.Second)
		select {
		case <-req.Context().Done():
		case <-t.C:
			w.WriteHeader(http.StatusOK)
		}
		t.Stop()
	default:
		w.WriteHeader(http.StatusOK)
	}
	b.mu.Lock()
	b.got = append(b.got, delivery{Start: start, End: time.Now(), Header: req.Header.Clone(), Body: body, Answer: answer})
	b.notify()
	b.mu.Unlock()
}
