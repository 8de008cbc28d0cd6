package submission

import (
	"context"
	"net"
	"regexp"
	"testing"
	"time"
)

// A fixed port is said about a second after the service listens on it,
// not after the startup timeout.
func TestStartFixedPortIsToldWithinASecond(t *testing.T) {
	t.Parallel()
	dir := project(t, map[string]string{
		"grader.yaml": "run: python3 server.py\nstartupTimeout: 30s\n",
		"server.py": "import socket, time\n" +
			"s = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 0))\ns.listen()\nprint('listening', flush=True)\ntime.sleep(60)\n",
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Start(context.Background(), Config{Manifest: m})
	pe := projectError(t, err, "start")
	if !regexp.MustCompile(`^your service listens on port \d+, not on \$PORT \(=\d+\): read the port from the PORT environment variable$`).MatchString(pe.Message) {
		t.Errorf("message = %q (log %q)", pe.Message, pe.Log)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("told after %s: a fixed port should be said about a second after the service listens, not after the 30s startup timeout", d)
	}
	assertNothingLeft(t, dir)
}

func TestWrongPlaceSettlesAfterASecondOfListeningElsewhere(t *testing.T) {
	w := wrongPlace{port: 4000}
	at := time.Unix(1000, 0)
	other := []listener{{IP: net.IPv4zero, Port: 8080}}
	steps := []struct {
		ls   []listener
		dt   time.Duration
		want bool
	}{
		{nil, 0, false},                        // not listening yet
		{other, 100 * time.Millisecond, false}, // listens elsewhere: the clock starts
		{nil, 500 * time.Millisecond, false},   // gone again: the clock stops
		{other, 100 * time.Millisecond, false}, // elsewhere again, from here
		{other, 900 * time.Millisecond, false}, // 0.9 s
		{other, 200 * time.Millisecond, true},  // 1.1 s: settled
	}
	for i, s := range steps {
		at = at.Add(s.dt)
		if got := w.seen(s.ls, at); got != s.want {
			t.Fatalf("step %d: seen = %v, want %v", i, got, s.want)
		}
	}
	if !w.settled() || len(w.listeners) != 1 || w.listeners[0].Port != 8080 {
		t.Errorf("settled %v with %v", w.settled(), w.listeners)
	}
}
