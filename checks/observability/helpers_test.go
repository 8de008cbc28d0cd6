package observability

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func TestFieldsAtTopOrOneLevelDown(t *testing.T) {
	ls := parseLines([]string{
		`{"level":30,"time":1767225600123,"req":{"id":"abc-123","method":"GET","url":"/todos?limit=5"},"res":{"statusCode":200},"responseTime":4}`,
		`{"ts":"2026-01-01T00:00:00Z","severity":"INFO","request_id":"xyz","status":"404"}`,
		`plain text {"status":200}`,
		`{"status":200} trailing`,
	})
	if ls[2].obj != nil || ls[3].obj != nil {
		t.Error("a line that is not one JSON object was taken as a log line")
	}
	if got := accessLines(ls, "abc-123"); len(got) != 1 {
		t.Fatalf("access lines of abc-123: %d, want 1", len(got))
	}
	if !samePath(text(mustFirst(t, ls[0], pathNames)), "/todos", "") {
		t.Error("a path with its query string was not taken as the path")
	}
	if !sameNumber(mustFirst(t, ls[1], statusNames), 404) {
		t.Error("status \"404\" is not 404")
	}
	if tm, ok := logTime(mustFirst(t, ls[0], timeNames)); !ok || tm.Year() != 2026 {
		t.Errorf("epoch milliseconds read as %v, %v", tm, ok)
	}
	if _, ok := logTime(mustFirst(t, ls[1], timeNames)); !ok {
		t.Error("RFC 3339 time not read")
	}
}

func mustFirst(t *testing.T, l logLine, names []string) any {
	t.Helper()
	v, ok := l.first(names)
	if !ok {
		t.Fatalf("no %v in %s", names, l.raw)
	}
	return v
}

func TestLogTimeEpochSeconds(t *testing.T) {
	ls := parseLines([]string{`{"time":1767225600.5}`})
	tm, ok := logTime(mustFirst(t, ls[0], timeNames))
	if !ok || !tm.Equal(time.Unix(1767225600, 5e8)) {
		t.Errorf("epoch seconds read as %v, %v", tm, ok)
	}
}

func TestSamePath(t *testing.T) {
	for _, c := range []struct {
		logged, sent, base string
		want               bool
	}{
		{"/todos/1", "/todos/1", "", true},
		{"/api/v1/todos/1?x=1", "/todos/1", "/api/v1", true},
		{"/todos/1", "/todos/1", "/api/v1", true},
		{"http://127.0.0.1:8080/todos/1", "/todos/1", "", true},
		{"/todos/12", "/todos/1", "", false},
		{"/todos/{id}", "/todos/1", "", false},
	} {
		if got := samePath(c.logged, c.sent, c.base); got != c.want {
			t.Errorf("samePath(%q, %q, %q) = %v", c.logged, c.sent, c.base, got)
		}
	}
}

func TestRouteOf(t *testing.T) {
	for _, c := range []struct {
		label, base     string
		kind            routeKind
		templated, isTo bool
	}{
		{"/todos", "", collection, true, true},
		{"/api/v1/todos/{id}", "/api/v1", item, true, true},
		{"/todos/:id", "", item, true, true},
		{"/todos/<id>", "", item, true, true},
		{"/todos/3f0c", "", item, false, true},
		{"/health", "", 0, false, false},
		{"/todos/1/comments", "", 0, false, false},
	} {
		k, tpl, ok := routeOf(c.label, c.base)
		if ok != c.isTo || ok && (k != c.kind || tpl != c.templated) {
			t.Errorf("routeOf(%q) = %v %v %v", c.label, k, tpl, ok)
		}
	}
}

func TestRequestIDsAreInTheStagesForm(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for range 200 {
		id := newRequestID(r)
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("request id %q: not 8-64 of [A-Za-z0-9-], or repeated", id)
		}
		seen[id] = true
	}
}

const exposition = `# TYPE http_requests_total counter
http_requests_total{method="GET",route="/todos/{id}",status="200"} 5
http_requests_total{method="GET",route="/todos/abc",status="200"} 2
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 3
http_request_duration_seconds_bucket{le="1"} 2
http_request_duration_seconds_bucket{le="+Inf"} 4
http_request_duration_seconds_sum 0.5
http_request_duration_seconds_count 4
`

func TestSeriesMatchingAndBuckets(t *testing.T) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	empty := &dto.MetricFamily{}
	c := call{method: "GET", kind: item, status: 200}
	if got := moved(empty, fams[requestsTotal], c, "", false, counterValue); got != 5 {
		t.Errorf("templated series moved %v, want 5", got)
	}
	if got := moved(empty, fams[requestsTotal], c, "", true, counterValue); got != 7 {
		t.Errorf("templated and raw series moved %v, want 7", got)
	}
	if msg := bucketProblem(fams[requestDuration].GetMetric()[0].GetHistogram()); !strings.Contains(msg, "fewer") {
		t.Errorf("decreasing buckets: %q", msg)
	}
}
