package submission

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestLineRing(t *testing.T) {
	r := newLineRing(3)
	if got := r.last(5); len(got) != 0 {
		t.Errorf("empty ring: %q", got)
	}
	for i := 1; i <= 5; i++ {
		r.add(fmt.Sprint(i))
	}
	if got := strings.Join(r.last(0), ","); got != "3,4,5" {
		t.Errorf("last(0) = %s", got)
	}
	if got := strings.Join(r.last(2), ","); got != "4,5" {
		t.Errorf("last(2) = %s", got)
	}
}

func TestPumpAndEchoCap(t *testing.T) {
	var out bytes.Buffer
	echo := newEchoer(&out)
	echo.limit = 100
	ring := newLineRing(10)
	long := strings.Repeat("y", maxLineBytes+10)
	input := "one\r\ntwo\n" + long + "\n" + strings.Repeat("line\n", 50) + "last without newline"
	done := make(chan struct{})
	pump(strings.NewReader(input), ring, echo, "[p] ", done)
	<-done

	got := out.String()
	if !strings.HasPrefix(got, "[p] one\n[p] two\n") {
		t.Errorf("echo starts %q", got[:min(len(got), 40)])
	}
	if strings.Count(got, "[grader] output truncated") != 1 || len(got) > 100+200 {
		t.Errorf("echo not capped once at 100 bytes: %d bytes, %q", len(got), got)
	}
	last := ring.last(0)
	if last[len(last)-1] != "last without newline" {
		t.Errorf("ring ends %q", last[len(last)-1])
	}
	if echo.written > 100 {
		t.Errorf("echoed %d bytes, cap 100", echo.written)
	}
	// A line longer than maxLineBytes is split, never dropped.
	ring = newLineRing(10)
	done = make(chan struct{})
	pump(strings.NewReader(long+"\n"), ring, newEchoer(io.Discard), "", done)
	<-done
	if n := len(strings.Join(ring.last(0), "")); n != len(long) {
		t.Errorf("split long line keeps %d bytes, want %d", n, len(long))
	}
}

func TestLineRingSince(t *testing.T) {
	r := newLineRing(3)
	r.add("a")
	m := r.mark()
	if got, lost := r.since(m); len(got) != 0 || lost != 0 {
		t.Fatalf("since(now) = %q, %d", got, lost)
	}
	r.add("b")
	r.add("c")
	if got, lost := r.since(m); strings.Join(got, ",") != "b,c" || lost != 0 {
		t.Fatalf("since = %q, %d; want b,c 0", got, lost)
	}
	r.add("d")
	r.add("e")
	if got, lost := r.since(m); strings.Join(got, ",") != "c,d,e" || lost != 1 {
		t.Fatalf("since after wrap = %q, %d; want c,d,e 1", got, lost)
	}
}
