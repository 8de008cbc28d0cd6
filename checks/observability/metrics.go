package observability

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

const (
	requestsTotal   = "http_requests_total"
	requestDuration = "http_request_duration_seconds"
	// metricsWait is how long the counters have to show the requests sent.
	metricsWait = 2 * time.Second
)

// The label names each part of a series may have (STAGES.md §9).
var (
	methodLabels = []string{"method"}
	routeLabels  = []string{"route", "path", "handler"}
	statusLabels = []string{"status", "code"}
)

// scrape reads GET /metrics as Prometheus text format. /metrics is public
// like /health; a service that keeps it behind its login gets the token.
func scrape(ctx context.Context, h *harness.H) (map[string]*dto.MetricFamily, error) {
	r := harness.Request{Path: "/metrics", NoAuth: true, Header: http.Header{"Accept": {"text/plain;version=0.0.4"}}}
	resp, err := h.Do(ctx, r)
	if err != nil {
		return nil, expect.Transport(err)
	}
	if (resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden) && h.Auth {
		r.NoAuth = false
		if resp, err = h.Do(ctx, r); err != nil {
			return nil, expect.Transport(err)
		}
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return nil, expect.Hint(err, "serve GET /metrics in the Prometheus text format (a Prometheus client library's handler does it)")
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(resp.Body)))
	if err != nil {
		resp.MarkDecisive()
		return nil, grader.Failf("GET /metrics: the body is not Prometheus text format: %s", harness.Shorten(err.Error(), 300)).
			WithHint("serve the text exposition format (# HELP and # TYPE lines, then name{label=\"value\"} number), as a Prometheus client library's handler writes it")
	}
	return fams, nil
}

// scrapeFor is scrape for the checks that read /metrics along the way:
// a /metrics that cannot be read blocks them by metrics-format, which
// grades it.
func scrapeFor(ctx context.Context, h *harness.H) (map[string]*dto.MetricFamily, error) {
	fams, err := scrape(ctx, h)
	var f *grader.Failure
	if errors.As(err, &f) {
		return nil, grader.Blockedf("observability.metrics-format", "%s", f.Message).WithHint("see observability.metrics-format")
	}
	return fams, err
}

// label returns the value of the first of names the series has.
func label(m *dto.Metric, names []string) (string, bool) {
	for _, n := range names {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == n {
				return lp.GetValue(), true
			}
		}
	}
	return "", false
}

// routeKind is what a request's route label must stand for.
type routeKind int

const (
	collection routeKind = iota // /todos
	item                        // /todos/{id}
)

func (k routeKind) String() string {
	if k == item {
		return "/todos/{id}"
	}
	return "/todos"
}

// isTemplate reports whether a path segment is a route parameter: {id},
// :id, <id>, [id] or *.
func isTemplate(seg string) bool {
	switch {
	case seg == "*":
		return true
	case strings.HasPrefix(seg, ":") && len(seg) > 1:
		return true
	case len(seg) > 2 && (seg[0] == '{' && seg[len(seg)-1] == '}' || seg[0] == '<' && seg[len(seg)-1] == '>' || seg[0] == '[' && seg[len(seg)-1] == ']'):
		return true
	}
	return false
}

// routeOf reads a route label as one of the /todos routes: templated
// says whether it is a template (as it should be) or a raw path.
func routeOf(lbl, basePath string) (kind routeKind, templated, ok bool) {
	p := lbl
	if basePath != "" && strings.HasPrefix(p, basePath+"/") {
		p = strings.TrimPrefix(p, basePath)
	}
	p = strings.TrimSuffix(p, "/")
	if p == "/todos" {
		return collection, true, true
	}
	rest, found := strings.CutPrefix(p, "/todos/")
	if !found || rest == "" || strings.Contains(rest, "/") {
		return 0, false, false
	}
	return item, isTemplate(rest), true
}

// call is one kind of request a metrics check sends, and how many times.
type call struct {
	method string
	kind   routeKind
	status int
	n      int
}

func (c call) String() string {
	return fmt.Sprintf("method=%q,route=%q,status=\"%d\"", c.method, c.kind.String(), c.status)
}

// matches reports whether series m is one of c's: its method and status,
// and a route label for c's route (templated, or the raw path when raw).
func (c call) matches(m *dto.Metric, basePath string, raw bool) bool {
	meth, ok1 := label(m, methodLabels)
	st, ok2 := label(m, statusLabels)
	rt, ok3 := label(m, routeLabels)
	if !ok1 || !ok2 || !ok3 || meth != c.method || st != fmt.Sprint(c.status) {
		return false
	}
	kind, templated, ok := routeOf(rt, basePath)
	return ok && kind == c.kind && (templated || raw)
}

// seriesKey names a series by its labels, to compare two scrapes.
func seriesKey(m *dto.Metric) string {
	lps := slices.Clone(m.GetLabel())
	sort.Slice(lps, func(i, j int) bool { return lps[i].GetName() < lps[j].GetName() })
	var b strings.Builder
	for _, lp := range lps {
		fmt.Fprintf(&b, "%s=%q,", lp.GetName(), lp.GetValue())
	}
	return strings.TrimSuffix(b.String(), ",")
}

// counterValue is a counter's (or untyped) series value.
func counterValue(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// moved sums, over the series of fam that match c, how far value moved
// from before to after (a series new in after moved from 0).
func moved(before, after *dto.MetricFamily, c call, basePath string, raw bool, value func(*dto.Metric) float64) float64 {
	base := map[string]float64{}
	for _, m := range before.GetMetric() {
		base[seriesKey(m)] = value(m)
	}
	var d float64
	for _, m := range after.GetMetric() {
		if c.matches(m, basePath, raw) {
			d += value(m) - base[seriesKey(m)]
		}
	}
	return d
}

// sendCalls sends each call's requests one after another; a status other
// than the one planned changes the plan to what the service answered.
func sendCalls(ctx context.Context, h *harness.H, calls []call, paths []string, bodies []any) ([]call, error) {
	out := make([]call, 0, len(calls))
	for i, c := range calls {
		counts := map[int]int{}
		for j := 0; j < c.n; j++ {
			resp, err := h.Do(ctx, harness.Request{Method: c.method, Path: paths[i], JSON: bodies[i]})
			if err != nil {
				return nil, expect.Transport(err)
			}
			counts[resp.Status]++
		}
		for _, st := range slices.Sorted(mapKeys(counts)) {
			out = append(out, call{method: c.method, kind: c.kind, status: st, n: counts[st]})
		}
	}
	// Calls of the same series are one expectation.
	merged := map[call]int{}
	var order []call
	for _, c := range out {
		k := call{method: c.method, kind: c.kind, status: c.status}
		if _, ok := merged[k]; !ok {
			order = append(order, k)
		}
		merged[k] += c.n
	}
	for i := range order {
		order[i].n = merged[order[i]]
	}
	return order, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// newTodo creates a todo to use in a metrics check and returns its id.
func newTodo(ctx context.Context, h *harness.H) (string, error) {
	_, t, err := todos.Create[map[string]any](ctx, h, "", map[string]any{"title": expect.Title(h.Rand)})
	if err != nil {
		return "", expect.Transport(err)
	}
	return todos.ID(t), nil
}

// metricsFormat: GET /metrics is Prometheus text with the two families,
// of the right types and with the labels the stage names.
func metricsFormat(ctx context.Context, h *harness.H) error {
	if _, err := h.Do(ctx, harness.Request{Path: "/todos"}); err != nil {
		return expect.Transport(err)
	}
	var fams map[string]*dto.MetricFamily
	err := poll(ctx, func() (bool, error) {
		var err error
		if fams, err = scrape(ctx, h); err != nil {
			return false, err
		}
		return len(fams[requestsTotal].GetMetric()) > 0, nil
	})
	if err != nil {
		return err
	}
	total := fams[requestsTotal]
	switch {
	case total == nil:
		h.MarkDecisive()
		return grader.Failf("GET /metrics, after GET /todos: no %s in it (families: %s)", requestsTotal, familyNames(fams)).
			WithHint("count every request in a counter named %s with the labels method, route and status", requestsTotal)
	case total.GetType() != dto.MetricType_COUNTER:
		h.MarkDecisive()
		return grader.Failf("GET /metrics: %s is a %s, expected a counter", requestsTotal, typeName(total.GetType())).
			WithHint("declare it with # TYPE %s counter (a client library's counter does it): it only ever goes up", requestsTotal)
	}
	for _, m := range total.GetMetric() {
		for _, want := range [][]string{methodLabels, routeLabels, statusLabels} {
			if _, ok := label(m, want); !ok {
				h.MarkDecisive()
				return grader.Failf("GET /metrics: the series %s{%s} has no %s label", requestsTotal, harness.Shorten(seriesKey(m), 200), strings.Join(want, " or ")).
					WithHint("label every series of %s with method, route (the route's template) and status (the numeric code)", requestsTotal)
			}
		}
	}
	dur := fams[requestDuration]
	switch {
	case dur == nil:
		h.MarkDecisive()
		return grader.Failf("GET /metrics: no %s in it (families: %s)", requestDuration, familyNames(fams)).
			WithHint("observe how long each request takes, in seconds, in a histogram named %s", requestDuration)
	case dur.GetType() != dto.MetricType_HISTOGRAM:
		h.MarkDecisive()
		return grader.Failf("GET /metrics: %s is a %s, expected a histogram", requestDuration, typeName(dur.GetType())).
			WithHint("make %s a histogram (_bucket{le=...}, _sum and _count series): unlike a summary, its buckets can be added up across instances", requestDuration)
	}
	return nil
}

func typeName(t dto.MetricType) string { return strings.ToLower(t.String()) }

func familyNames(fams map[string]*dto.MetricFamily) string {
	if len(fams) == 0 {
		return "none"
	}
	names := slices.Sorted(mapKeys(fams))
	if len(names) > 15 {
		return strings.Join(names[:15], ", ") + fmt.Sprintf(", ... (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}

// poll calls try until it says done, or metricsWait has passed.
func poll(ctx context.Context, try func() (bool, error)) error {
	deadline := time.Now().Add(metricsWait)
	for {
		done, err := try()
		if err != nil || done || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// family returns fams[name] as a counter or histogram the check can read,
// or the failure that says why not (metrics-format grades the form).
func family(fams map[string]*dto.MetricFamily, name string, t dto.MetricType) (*dto.MetricFamily, error) {
	f := fams[name]
	if f == nil || f.GetType() != t && !(t == dto.MetricType_COUNTER && f.GetType() == dto.MetricType_UNTYPED) {
		return nil, grader.Blockedf("observability.metrics-format", "GET /metrics has no %s %s to read", typeName(t), name).
			WithHint("see observability.metrics-format")
	}
	return f, nil
}

// plan is the requests a counting check sends: reads of one todo, of the
// list, of an unknown id and an update, a random number of each.
func plan(ctx context.Context, h *harness.H) ([]call, []string, []any, error) {
	id, err := newTodo(ctx, h)
	if err != nil {
		return nil, nil, nil, err
	}
	n := func() int { return 1 + h.Rand.IntN(3) }
	calls := []call{
		{method: http.MethodGet, kind: item, status: 200, n: n() + 1},
		{method: http.MethodGet, kind: collection, status: 200, n: n()},
		{method: http.MethodGet, kind: item, status: 404, n: n()},
		{method: http.MethodPatch, kind: item, status: 200, n: n()},
	}
	paths := []string{"/todos/" + url.PathEscape(id), "/todos", "/todos/" + expect.RandomUUID(h.Rand), "/todos/" + url.PathEscape(id)}
	bodies := []any{nil, nil, nil, map[string]any{"title": expect.Title(h.Rand)}}
	return calls, paths, bodies, nil
}

// metricsCount: http_requests_total moves by exactly the requests sent,
// series by series (method, route, status).
func metricsCount(ctx context.Context, h *harness.H) error {
	calls, paths, bodies, err := plan(ctx, h)
	if err != nil {
		return err
	}
	fams, err := scrapeFor(ctx, h)
	if err != nil {
		return err
	}
	before, err := family(fams, requestsTotal, dto.MetricType_COUNTER)
	if err != nil {
		return err
	}
	if calls, err = sendCalls(ctx, h, calls, paths, bodies); err != nil {
		return err
	}
	var got []float64
	err = poll(ctx, func() (bool, error) {
		fams, err := scrapeFor(ctx, h)
		if err != nil {
			return false, err
		}
		after, err := family(fams, requestsTotal, dto.MetricType_COUNTER)
		if err != nil {
			return false, err
		}
		got = got[:0]
		done := true
		for _, c := range calls {
			d := moved(before, after, c, h.BasePath, true, counterValue)
			got = append(got, d)
			done = done && d == float64(c.n)
		}
		return done, nil
	})
	if err != nil {
		return err
	}
	var wrong []string
	for i, c := range calls {
		if got[i] != float64(c.n) {
			wrong = append(wrong, fmt.Sprintf("%s{%s}: sent %d, it moved by %s", requestsTotal, c, c.n, num(got[i])))
		}
	}
	if len(wrong) > 0 {
		h.MarkDecisive()
		return grader.Failf("after these requests, sent one after another, %s did not move by the number sent within %s:\n  %s",
			requestsTotal, metricsWait, strings.Join(wrong, "\n  ")).
			WithHint("increment %s once per request, after the handler has answered, with the request's method, its route template and the status it sent", requestsTotal)
	}
	return nil
}

func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%g", f)
}

// metricsRoutes: route labels are templates: two todos read by id share
// one series, and no label holds a raw id.
func metricsRoutes(ctx context.Context, h *harness.H) error {
	var ids []string
	for range 2 {
		id, err := newTodo(ctx, h)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	unknown := expect.RandomUUID(h.Rand)
	for _, p := range []string{"/todos/" + url.PathEscape(ids[0]), "/todos/" + url.PathEscape(ids[1]), "/todos/" + unknown} {
		if _, err := h.Do(ctx, harness.Request{Path: p}); err != nil {
			return expect.Transport(err)
		}
	}
	ids = append(ids, unknown)
	read := call{method: http.MethodGet, kind: item, status: 200}
	var total *dto.MetricFamily
	var raw string
	err := poll(ctx, func() (bool, error) {
		fams, err := scrapeFor(ctx, h)
		if err != nil {
			return false, err
		}
		if total, err = family(fams, requestsTotal, dto.MetricType_COUNTER); err != nil {
			return false, err
		}
		for _, f := range []*dto.MetricFamily{total, fams[requestDuration]} {
			for _, m := range f.GetMetric() {
				for _, lp := range m.GetLabel() {
					if !slices.Contains(routeLabels, lp.GetName()) {
						continue
					}
					for _, id := range ids {
						if slices.Contains(strings.Split(lp.GetValue(), "/"), id) || slices.Contains(strings.Split(lp.GetValue(), "/"), url.PathEscape(id)) {
							raw = fmt.Sprintf("%s{%s}", f.GetName(), harness.Shorten(seriesKey(m), 300))
							return true, nil
						}
					}
				}
			}
		}
		return slices.ContainsFunc(total.GetMetric(), func(m *dto.Metric) bool { return read.matches(m, h.BasePath, false) }), nil
	})
	if err != nil {
		return err
	}
	if raw != "" {
		h.MarkDecisive()
		return grader.Failf("GET /metrics: a series is labelled with a todo's id: %s", raw).
			WithHint("label requests with the route's template (/todos/{id}, as your router names it), never the path as sent: one series per id grows without bound and cannot be added up")
	}
	if !slices.ContainsFunc(total.GetMetric(), func(m *dto.Metric) bool { return read.matches(m, h.BasePath, false) }) {
		h.MarkDecisive()
		return grader.Failf("GET /metrics, after GET /todos/<id> of two todos: no series of %s with method=\"GET\", status=\"200\" and a route template for /todos/<id> (such as /todos/{id} or /todos/:id)", requestsTotal).
			WithHint("label requests with the route's template as your router knows it, e.g. route=\"/todos/{id}\"")
	}
	return nil
}

// metricsDuration: http_request_duration_seconds observes every request:
// its count moves by the requests sent, its sum by their time, its
// buckets add up.
func metricsDuration(ctx context.Context, h *harness.H) error {
	id, err := newTodo(ctx, h)
	if err != nil {
		return err
	}
	fams, err := scrapeFor(ctx, h)
	if err != nil {
		return err
	}
	before, err := family(fams, requestDuration, dto.MetricType_HISTOGRAM)
	if err != nil {
		return err
	}
	c := call{method: http.MethodGet, kind: item, status: 200, n: 3 + h.Rand.IntN(3)}
	calls, err := sendCalls(ctx, h, []call{c}, []string{"/todos/" + url.PathEscape(id)}, []any{nil})
	if err != nil {
		return err
	}
	if len(calls) != 1 || calls[0].status != 200 {
		return grader.Blockedf("rest.get", "GET /todos/<id> of a todo just created did not answer 200 each time").
			WithHint("this check needs GET /todos/{id} to work: see rest.get")
	}
	// A histogram labelled like the counter must move by exactly the
	// requests sent; one without those labels by at least as many (it
	// may count /metrics too).
	exact := true
	var count, sum float64
	var after *dto.MetricFamily
	err = poll(ctx, func() (bool, error) {
		fams, err := scrapeFor(ctx, h)
		if err != nil {
			return false, err
		}
		if after, err = family(fams, requestDuration, dto.MetricType_HISTOGRAM); err != nil {
			return false, err
		}
		count, sum, exact = histogramMoved(before, after, c, h.BasePath)
		if exact {
			return count == float64(c.n), nil
		}
		return count >= float64(c.n), nil
	})
	if err != nil {
		return err
	}
	switch {
	case exact && count != float64(c.n) || !exact && count < float64(c.n):
		h.MarkDecisive()
		return grader.Failf("after %d GET /todos/<id> requests, %s_count{%s} moved by %s within %s", c.n, requestDuration, c, num(count), metricsWait).
			WithHint("observe every request's duration in %s, once, after the handler has answered", requestDuration)
	case sum <= 0 || sum > float64(c.n)*60:
		h.MarkDecisive()
		return grader.Failf("after %d GET /todos/<id> requests, %s_sum moved by %s seconds: expected their total duration, in seconds", c.n, requestDuration, num(sum)).
			WithHint("observe each request's duration in seconds (time.Since(start).Seconds(), not milliseconds or a constant)")
	}
	for _, m := range after.GetMetric() {
		if msg := bucketProblem(m.GetHistogram()); msg != "" {
			h.MarkDecisive()
			return grader.Failf("GET /metrics: %s{%s}: %s", requestDuration, harness.Shorten(seriesKey(m), 200), msg).
				WithHint("let a client library's histogram keep the buckets: each bucket counts every observation up to its bound, so they only grow towards _count")
		}
	}
	return nil
}

// histogramMoved sums how far the matching series' count and sum moved;
// exact says every matching series has the counter's three labels.
func histogramMoved(before, after *dto.MetricFamily, c call, basePath string) (count, sum float64, exact bool) {
	base := map[string]*dto.Histogram{}
	for _, m := range before.GetMetric() {
		base[seriesKey(m)] = m.GetHistogram()
	}
	exact = true
	for _, m := range after.GetMetric() {
		_, hasM := label(m, methodLabels)
		_, hasR := label(m, routeLabels)
		_, hasS := label(m, statusLabels)
		if hasM && hasR && hasS {
			if !c.matches(m, basePath, true) {
				continue
			}
		} else {
			if !partialMatch(m, c, basePath) {
				continue
			}
			exact = false
		}
		b := base[seriesKey(m)]
		count += float64(m.GetHistogram().GetSampleCount()) - float64(b.GetSampleCount())
		sum += m.GetHistogram().GetSampleSum() - b.GetSampleSum()
	}
	return count, sum, exact
}

// partialMatch: the labels series m has agree with c.
func partialMatch(m *dto.Metric, c call, basePath string) bool {
	if v, ok := label(m, methodLabels); ok && v != c.method {
		return false
	}
	if v, ok := label(m, statusLabels); ok && v != fmt.Sprint(c.status) {
		return false
	}
	if v, ok := label(m, routeLabels); ok {
		if kind, _, ok := routeOf(v, basePath); !ok || kind != c.kind {
			return false
		}
	}
	return true
}

// bucketProblem says what is wrong with a histogram's buckets ("" when nothing).
func bucketProblem(hg *dto.Histogram) string {
	bs := hg.GetBucket()
	if len(bs) == 0 {
		return "no buckets (_bucket{le=\"...\"} series)"
	}
	var prev uint64
	for i, b := range bs {
		if i > 0 && b.GetUpperBound() <= bs[i-1].GetUpperBound() {
			return "its buckets' le bounds do not increase"
		}
		if b.GetCumulativeCount() < prev {
			return fmt.Sprintf("the bucket le=\"%g\" counts %d, fewer than the bucket below it (%d)", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if prev > hg.GetSampleCount() {
		return fmt.Sprintf("its buckets count %d observations, more than its _count (%d)", prev, hg.GetSampleCount())
	}
	return ""
}
