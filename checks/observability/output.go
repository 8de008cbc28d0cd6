package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// logWait is how long the service has to print the lines of a request it
// has answered (its output travels through a pipe and the grader's reader).
const logWait = 2 * time.Second

// output reads the service's output from a mark on.
type output struct {
	h    *harness.H
	r    harness.OutputReader
	mark uint64
}

// watchOutput marks the service's output now: the lines printed from here
// on are what the check looks at.
func watchOutput(h *harness.H) (*output, error) {
	r, ok := h.Service.(harness.OutputReader)
	if !ok {
		return nil, grader.Errorf("the grader cannot read this service's output from a point on (a grader bug, please report it)")
	}
	return &output{h: h, r: r, mark: r.OutputMark()}, nil
}

// lines returns what the service printed since the mark. More lines than
// the grader keeps is the learner's to fix (a service that prints hundreds
// of lines for a handful of requests).
func (o *output) lines() ([]string, error) {
	lines, lost := o.r.OutputSince(o.mark)
	if lost > 0 {
		return lines, grader.Failf("the service printed %d lines during this check, more than the grader keeps (the last %d): it could not see every line of the requests it sent", uint64(len(lines))+lost, len(lines)).
			WithHint("log one access line per request and a few lines for what matters, not every detail: an operator reads these lines too")
	}
	return lines, nil
}

// waitFor reads the output until done says it holds what the check waits
// for, or logWait has passed; it returns the last lines read either way.
func (o *output) waitFor(ctx context.Context, done func(lines []logLine) bool) ([]logLine, error) {
	deadline := time.Now().Add(logWait)
	for {
		raw, err := o.lines()
		if err != nil {
			return nil, err
		}
		ls := parseLines(raw)
		if done(ls) || time.Now().After(deadline) {
			return ls, nil
		}
		select {
		case <-ctx.Done():
			return ls, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logLine is one line of output; obj is set when it parses as a JSON object.
type logLine struct {
	raw string
	obj map[string]any
}

func parseLines(raw []string) []logLine {
	out := make([]logLine, 0, len(raw))
	for _, r := range raw {
		l := logLine{raw: r}
		s := strings.TrimSpace(r)
		if strings.HasPrefix(s, "{") {
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if dec.Decode(&m) == nil && !dec.More() {
				l.obj = m
			}
		}
		out = append(out, l)
	}
	return out
}

// The names a field may have (STAGES.md §9), and where it may sit: at the
// top level or one level under one of nests.
var (
	timeNames     = []string{"time", "ts", "timestamp"}
	levelNames    = []string{"level", "severity"}
	methodNames   = []string{"method"}
	pathNames     = []string{"path", "url"}
	statusNames   = []string{"status", "statusCode"}
	durationNames = []string{"durationMs", "duration_ms", "responseTime", "latency"}
	reqIDNames    = []string{"requestId", "request_id", "reqId", "id"}
	traceIDNames  = []string{"traceId", "trace_id"}
	nests         = []string{"req", "res", "request", "response", "http"}
)

// values returns every value of the fields named names in the line, the
// top level first, then one level down.
func (l logLine) values(names []string) []any {
	if l.obj == nil {
		return nil
	}
	var out []any
	for _, n := range names {
		if v, ok := l.obj[n]; ok {
			out = append(out, v)
		}
	}
	for _, nest := range nests {
		m, _ := l.obj[nest].(map[string]any)
		for _, n := range names {
			if v, ok := m[n]; ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// first returns the first value of names, and whether there is one.
func (l logLine) first(names []string) (any, bool) {
	vs := l.values(names)
	if len(vs) == 0 {
		return nil, false
	}
	return vs[0], true
}

// has reports whether one of the fields named names holds want (compared
// as text: "abc", 42 and "42" are what they print as).
func (l logLine) has(names []string, want string) bool {
	for _, v := range l.values(names) {
		if text(v) == want {
			return true
		}
	}
	return false
}

// text renders a JSON scalar as it reads ("" for objects and lists).
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// number reads a JSON number (or a string holding one).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// logTime reads a time field: RFC 3339 text, or epoch seconds or
// milliseconds (a number, told apart by size).
func logTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	case json.Number:
		f, err := x.Float64()
		if err != nil || f <= 0 {
			return time.Time{}, false
		}
		if f > 1e11 { // milliseconds (1e11 s is the year 5138)
			return time.UnixMilli(int64(f)), true
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
	return time.Time{}, false
}

// withID returns the lines that carry request id id.
func withID(lines []logLine, id string) []logLine {
	var out []logLine
	for _, l := range lines {
		if l.has(reqIDNames, id) {
			out = append(out, l)
		}
	}
	return out
}

// accessLines returns the lines that carry request id id and a status:
// the request's access lines.
func accessLines(lines []logLine, id string) []logLine {
	var out []logLine
	for _, l := range withID(lines, id) {
		if _, ok := l.first(statusNames); ok {
			out = append(out, l)
		}
	}
	return out
}

// maxShown bounds how many lines, and how much of each, a transcript shows.
const (
	maxShownLines = 12
	maxShownBytes = 400
)

// recordLines adds the lines to the transcript as the service printed
// them (bounded), with what they are, and marks the step decisive when
// the check fails on it.
func recordLines(h *harness.H, what string, lines []logLine, decisive bool) {
	var b strings.Builder
	if len(lines) == 0 {
		b.WriteString("(no such line)")
	}
	for i, l := range lines {
		if i == maxShownLines {
			fmt.Fprintf(&b, "... (%d lines in all)", len(lines))
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(harness.Shorten(l.raw, maxShownBytes))
	}
	h.Record("output", what, b.String())
	if decisive {
		h.MarkDecisive()
	}
}

// jsonLines returns the lines that parse as JSON objects.
func jsonLines(lines []logLine) []logLine {
	var out []logLine
	for _, l := range lines {
		if l.obj != nil {
			out = append(out, l)
		}
	}
	return out
}
