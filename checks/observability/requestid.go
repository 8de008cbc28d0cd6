package observability

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// requestIDEcho: an incoming X-Request-ID comes back on the response and
// is on the request's log lines, whatever the answer.
func requestIDEcho(ctx context.Context, h *harness.H) error {
	o, err := watchOutput(h)
	if err != nil {
		return err
	}
	// A UUID, the shortest and the longest the grader sends (8 and 64
	// characters of letters, digits and dashes).
	long := []byte(newRequestID(h.Rand) + expect.RandomUUID(h.Rand) + expect.RandomUUID(h.Rand))[:64]
	long[63] = 'Z'
	ids := []string{expect.RandomUUID(h.Rand), expect.Word(h.Rand, 7) + "7", strings.ToUpper(string(long[:20])) + string(long[20:])}
	probes := []harness.Request{
		{Path: "/todos"},
		{Path: "/todos/" + expect.RandomUUID(h.Rand)},
		{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": ""}},
	}
	var reqs []sent
	for i, p := range probes {
		p.Header = http.Header{"X-Request-Id": {ids[i]}}
		resp, err := h.Do(ctx, p)
		if err != nil {
			return expect.Transport(err)
		}
		r := sent{method: resp.Method, path: p.Path, id: ids[i], status: resp.Status}
		reqs = append(reqs, r)
		if got := resp.Header.Values("X-Request-ID"); len(got) != 1 || got[0] != ids[i] {
			resp.MarkDecisive()
			return grader.Failf("%s with X-Request-ID: %s answered %d with %s, expected X-Request-ID: %s", r, ids[i], resp.Status, headerShown(got), ids[i]).
				WithHint("when a request carries X-Request-ID (8 to 64 letters, digits and dashes), use it as the request's id and send it back on the response, errors included")
		}
	}
	lines, err := o.waitFor(ctx, func(ls []logLine) bool {
		for _, r := range reqs {
			if len(withID(ls, r.id)) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if len(withID(lines, r.id)) == 0 {
			recordLines(h, "the JSON lines the service printed during this check", jsonLines(lines), true)
			return grader.Failf("%s with X-Request-ID: %s: echoed, but no JSON log line carries it within %s (as \"requestId\", \"request_id\", \"reqId\" or \"id\")", r, r.id, logWait).
				WithHint("put the incoming X-Request-ID on the request's log lines, so that a client's report can be found in the logs")
		}
	}
	return nil
}

func headerShown(vals []string) string {
	switch len(vals) {
	case 0:
		return "no X-Request-ID header"
	case 1:
		return "X-Request-ID: " + harness.Shorten(vals[0], 100)
	}
	return fmt.Sprintf("%d X-Request-ID headers", len(vals))
}

// requestIDGenerated: without X-Request-ID the service makes one, unique
// per request, sends it back and logs it.
func requestIDGenerated(ctx context.Context, h *harness.H) error {
	o, err := watchOutput(h)
	if err != nil {
		return err
	}
	seen := map[string]string{}
	var reqs []sent
	for _, p := range []harness.Request{
		{Path: "/todos"},
		{Path: "/todos/" + expect.RandomUUID(h.Rand)},
		{Path: "/todos"},
		{Method: http.MethodPost, Path: "/todos", JSON: map[string]any{"title": ""}},
	} {
		resp, err := h.Do(ctx, p)
		if err != nil {
			return expect.Transport(err)
		}
		r := sent{method: resp.Method, path: p.Path, status: resp.Status}
		got := resp.Header.Values("X-Request-ID")
		if len(got) != 1 || strings.TrimSpace(got[0]) == "" || len(got[0]) > 200 {
			resp.MarkDecisive()
			return grader.Failf("%s without X-Request-ID answered %d with %s, expected an X-Request-ID the service made", r, resp.Status, headerShown(got)).
				WithHint("when a request has no X-Request-ID, make one (a UUID will do), use it as the request's id in the logs and send it back on the response")
		}
		if prev, ok := seen[got[0]]; ok {
			resp.MarkDecisive()
			return grader.Failf("%s and %s, both without X-Request-ID, came back with the same X-Request-ID: %s", prev, r, harness.Shorten(got[0], 100)).
				WithHint("make a new id for every request (a random UUID), never a fixed or reused value: it has to single out one request in the logs")
		}
		seen[got[0]] = r.String()
		r.id = got[0]
		reqs = append(reqs, r)
	}
	lines, err := o.waitFor(ctx, func(ls []logLine) bool {
		for _, r := range reqs {
			if len(withID(ls, r.id)) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if len(withID(lines, r.id)) == 0 {
			recordLines(h, "the JSON lines the service printed during this check", jsonLines(lines), true)
			return grader.Failf("%s answered with X-Request-ID: %s, but no JSON log line carries that id within %s", r, harness.Shorten(r.id, 100), logWait).
				WithHint("log the id you made with the request (as \"requestId\"), the same one you send back")
		}
	}
	return nil
}

// traceID: a valid traceparent puts its trace id on the request's log
// lines; an invalid one (an all-zero trace id) is not taken.
func traceID(ctx context.Context, h *harness.H) error {
	o, err := watchOutput(h)
	if err != nil {
		return err
	}
	hexOf := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(h.Rand.IntN(256))
		}
		return hex.EncodeToString(b)
	}
	trace := hexOf(16)
	flags := []string{"00", "01"}[h.Rand.IntN(2)]
	zero := strings.Repeat("0", 32)
	var reqs []sent
	for _, tp := range []string{"00-" + trace + "-" + hexOf(8) + "-" + flags, "00-" + zero + "-" + hexOf(8) + "-01"} {
		if _, err := send(ctx, h, harness.Request{Path: "/todos", Header: http.Header{"Traceparent": {tp}}}, &reqs); err != nil {
			return expect.Transport(err)
		}
	}
	valid, invalid := reqs[0], reqs[1]
	lines, err := o.waitFor(ctx, func(ls []logLine) bool {
		return len(accessLines(ls, valid.id)) > 0 && len(accessLines(ls, invalid.id)) > 0
	})
	if err != nil {
		return err
	}
	acc := accessLines(lines, valid.id)
	if len(acc) == 0 {
		recordLines(h, "the JSON lines the service printed during this check", jsonLines(lines), false)
		return grader.Blockedf("observability.access-log", "no access line carries the request id of GET /todos (X-Request-ID: %s), so its trace id cannot be looked for", valid.id).
			WithHint("log one JSON access line per request with its request id: see observability.access-log")
	}
	for _, l := range withID(lines, valid.id) {
		v, ok := l.first(traceIDNames)
		if ok && text(v) == trace {
			continue
		}
		if !ok && len(accessLines([]logLine{l}, valid.id)) == 0 {
			continue // a line of the request that has no trace id at all
		}
		recordLines(h, fmt.Sprintf("the lines of GET /todos with traceparent 00-%s-…, X-Request-ID: %s", trace, valid.id), withID(lines, valid.id), true)
		return grader.Failf("GET /todos with traceparent 00-%s-…: expected its lines to carry \"traceId\" (or \"trace_id\") %s, got %s", trace, trace, show(v)).
			WithHint("read the incoming traceparent (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>) and log its trace id with each line of the request, the access line included")
	}
	for _, l := range withID(lines, invalid.id) {
		if l.has(traceIDNames, zero) {
			recordLines(h, "the lines of GET /todos with an all-zero trace id, X-Request-ID: "+invalid.id, withID(lines, invalid.id), true)
			return grader.Failf("GET /todos with traceparent 00-%s-…-01 (an all-zero trace id, which is invalid): its lines carry that trace id", zero).
				WithHint("check a traceparent before you use it (version 00, 32 and 16 lower-case hex digits, neither all zeros) and start a new trace when it is invalid")
		}
	}
	return nil
}
