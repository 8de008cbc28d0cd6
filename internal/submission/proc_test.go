package submission

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gateWriter holds the echo of the first line containing gate until
// release is closed, as a slow terminal would: the output is then not yet
// read to its end although the process is long gone.
type gateWriter struct {
	gate     string
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	received []string
}

func (w *gateWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.gate) {
		w.once.Do(func() {
			close(w.entered)
			<-w.release
		})
	}
	w.mu.Lock()
	w.received = append(w.received, string(p))
	w.mu.Unlock()
	return len(p), nil
}

// A process's end is visible (done, exitReason) only once its output is in
// the ring: whoever sees the crash also sees its last words.
func TestExitVisibleOnlyAfterOutputRead(t *testing.T) {
	t.Parallel()
	w := &gateWriter{gate: "first", entered: make(chan struct{}), release: make(chan struct{})}
	ring := newLineRing(10)
	p, err := startProc(t.TempDir(), "echo first; echo 'panic: last words'; exit 2", Limits{}, os.Environ(), ring, newEchoer(w), "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first line never reached the echo")
	}
	// The shell is reaped (its pid gone) while the echo still holds the reader.
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			close(w.release)
			t.Fatalf("process %d was not reaped within 10s", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Within the drain grace it must not look gone yet.
	select {
	case <-p.done():
		close(w.release)
		t.Fatalf("done before the output was read (exitReason %q, ring %q)", p.exitReason(), ring.last(0))
	case <-time.After(drainGrace / 10):
	}
	if why := p.exitReason(); why != "" {
		t.Errorf("exitReason = %q while the output is still being read", why)
	}
	// A stop now (the grader gives up on a service that looks alive) does
	// not turn the crash into "stopped by the grader".
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop(t.Context()) }()
	for !p.stopping.Load() {
		time.Sleep(time.Millisecond)
	}
	close(w.release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return 10s after the output was released")
	}
	if why := p.exitReason(); why != "exited with code 2" {
		t.Errorf("exitReason = %q, want exited with code 2", why)
	}
	if got := strings.Join(ring.last(0), "|"); got != "first|panic: last words" {
		t.Errorf("ring = %q, want both lines", got)
	}
}

func TestLoopbackOnly(t *testing.T) {
	lo, any4, any6 := net.ParseIP("127.0.0.1"), net.ParseIP("0.0.0.0"), net.ParseIP("::")
	for _, c := range []struct {
		ls   []listener
		want bool
	}{
		{nil, false},
		{[]listener{{lo, 8080}}, true},
		{[]listener{{lo, 8080}, {any4, 9090}}, true},
		{[]listener{{lo, 8080}, {any6, 8080}}, false},
		{[]listener{{any4, 8080}}, false},
	} {
		if got := loopbackOnly(c.ls, 8080); got != c.want {
			t.Errorf("loopbackOnly(%v) = %v, want %v", c.ls, got, c.want)
		}
	}
}

func TestExitHintSaysLoopbackIsTheContainer(t *testing.T) {
	p := &Process{m: &Manifest{Run: "./server"}}
	for log, loopback := range map[string]bool{
		"panic: dial tcp 127.0.0.1:3306: connect: connection refused": true,
		"Error: connect ECONNREFUSED ::1:5432 (localhost)":            true,
		"panic: runtime error: index out of range":                    false,
	} {
		got := strings.Contains(p.exitHint(log), "127.0.0.1 and localhost are the container itself")
		if got != loopback {
			t.Errorf("exitHint(%q) speaks of loopback: %v, want %v", log, got, loopback)
		}
	}
}
