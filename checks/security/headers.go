package security

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// xssEcho stores script tags and event handlers: they come back byte-exact
// (after JSON decoding) in responses typed application/json, from the
// create, the read and the list. Escaping is the job of whoever renders
// HTML; a JSON API returns data.
func xssEcho(ctx context.Context, h *harness.H) error {
	rw := randWord(h.Rand, 8)
	title := `<script>alert("` + rw + `")</script>`
	desc := `<img src=x onerror="alert(document.cookie)"></textarea><svg/onload=alert('` + rw + `')> & more`
	want := func(t todo) todo { return todo{ID: t.ID, Title: title, Description: desc, Status: t.Status} }

	resp, t, err := createSubject(ctx, h, "", title, desc)
	if err != nil {
		return err
	}
	if err := sameText(resp, want(t), t); err != nil {
		return err
	}
	resp, err = h.Get(ctx, "/todos/"+t.ID)
	if err != nil {
		return err
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return err
	}
	var got todo
	if err := expect.Decode(resp, &got); err != nil {
		return err
	}
	if err := sameText(resp, want(t), got); err != nil {
		return err
	}
	resp, l, err := search(ctx, h, "", rw)
	if err != nil {
		return err
	}
	if len(l.Data) != 1 {
		return grader.Failf("GET /todos?term=%s: expected the one todo holding that text, got %d", rw, len(l.Data))
	}
	return sameText(resp, want(t), l.Data[0])
}

// sameText checks the content type and the decoded title and description.
func sameText(resp *harness.Response, want, got todo) error {
	if err := expect.JSONContentType(resp); err != nil {
		return expect.Hint(err, "with Content-Type application/json a browser never renders the body as HTML; text/html would run the script")
	}
	if d := todos.Diff(want, got); d != "" {
		return grader.Failf("%s: the title and description did not come back exactly as sent (compared after JSON decoding):%s", expect.Request(resp), d).
			WithHint("store and return text as it was sent: escaping for HTML is the job of the page that renders it, and an API that rewrites input corrupts the data")
	}
	return nil
}

// probe is one request whose response headers are examined.
type probe struct {
	name string
	req  harness.Request
}

// probes are requests across the API: success (the same GET once in a
// browser's User-Agent and once in another client's: the second form of
// DESIGN §3.2), not found, an error, no token, and the responses without a
// JSON body the stage names: a 304 (when GET /todos/{id} has an ETag) and a
// CORS preflight from an allowed origin.
func probes(ctx context.Context, h *harness.H) ([]probe, error) {
	_, t, err := create(ctx, h, "", "headers "+expect.Title(h.Rand), "")
	if err != nil {
		return nil, err
	}
	browser, tool := harness.BrowserAndToolUserAgents(h.Rand)
	ps := []probe{
		{"GET /health", harness.Request{Path: "/health"}},
		{"GET /todos", harness.Request{Path: "/todos"}},
		{"GET /todos/{id} from a browser", harness.Request{Path: "/todos/" + t.ID, Header: http.Header{"User-Agent": {browser}}}},
		{"GET /todos/{id} from another client", harness.Request{Path: "/todos/" + t.ID, Header: http.Header{"User-Agent": {tool}}}},
		{"the 404 of GET /todos/{unknown id}", harness.Request{Path: "/todos/" + expect.RandomUUID(h.Rand)}},
		{"the 404 of an unknown path", harness.Request{Path: "/no-such-page-" + randWord(h.Rand, 6)}},
		{"the 400 of POST /todos with malformed JSON", harness.Request{Method: http.MethodPost, Path: "/todos",
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"title": `)}},
	}
	if h.Auth {
		ps = append(ps, probe{"the 401 of GET /todos without a token", harness.Request{Path: "/todos", NoAuth: true}})
	}
	// A 304 where the service has ETags (caching grades whether it does).
	resp, err := h.Do(ctx, harness.Request{Path: "/todos/" + t.ID})
	if err != nil {
		return nil, err
	}
	if e := resp.Header.Get("ETag"); resp.Status == http.StatusOK && e != "" {
		ps = append(ps, probe{"the 304 of GET /todos/{id} with If-None-Match", harness.Request{Path: "/todos/" + t.ID, Header: http.Header{"If-None-Match": {e}}}})
	}
	if origins, err := allowedOrigins(h); err == nil {
		ps = append(ps, probe{"the CORS preflight OPTIONS /todos", harness.Request{Method: http.MethodOptions, Path: "/todos", NoAuth: true, Header: http.Header{
			"Origin":                         {origins[h.Rand.IntN(len(origins))]},
			"Access-Control-Request-Method":  {http.MethodPost},
			"Access-Control-Request-Headers": {"authorization,content-type"},
		}}})
	}
	return ps, nil
}

// examine sends every probe and returns one line per problem found, with
// the probes that showed it ("on all N responses checked" when all did).
// It re-sends the first failing probe last, so that the report shows its
// exchange.
func examine(ctx context.Context, h *harness.H, ps []probe, problems func(*harness.Response) []string) ([]string, error) {
	var order []string
	where := map[string][]string{}
	first := -1
	for i, p := range ps {
		resp, err := h.Do(ctx, p.req)
		if err != nil {
			return nil, err
		}
		for _, pr := range problems(resp) {
			if _, ok := where[pr]; !ok {
				order = append(order, pr)
			}
			where[pr] = append(where[pr], p.name)
			if first < 0 {
				first = i
			}
		}
	}
	if first >= 0 && first != len(ps)-1 {
		if _, err := h.Do(ctx, ps[first].req); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(order))
	for i, pr := range order {
		on := "on " + strings.Join(where[pr], ", ")
		if len(where[pr]) == len(ps) {
			on = fmt.Sprintf("on all %d responses checked", len(ps))
		}
		out[i] = pr + " (" + on + ")"
	}
	return out, nil
}

// securityHeaders: nosniff, no framing and a locked-down CSP on every
// response, errors included.
func securityHeaders(ctx context.Context, h *harness.H) error {
	ps, err := probes(ctx, h)
	if err != nil {
		return err
	}
	problems, err := examine(ctx, h, ps, headerProblems)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return grader.Failf("security headers are missing:\n- %s", strings.Join(problems, "\n- ")).
			WithHint("set the headers in a middleware that wraps every route, so that 404s, errors and 401s from other middleware get them too: X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Content-Security-Policy: default-src 'none'; frame-ancestors 'none'")
	}
	return nil
}

// headerProblems lists what is missing from one response.
func headerProblems(resp *harness.Response) []string {
	var out []string
	if v := strings.TrimSpace(resp.Header.Get("X-Content-Type-Options")); !strings.EqualFold(v, "nosniff") {
		out = append(out, "expected X-Content-Type-Options: nosniff, got "+describe(resp.Header, "X-Content-Type-Options"))
	}
	csp := cspDirectives(resp.Header.Values("Content-Security-Policy"))
	if !strings.EqualFold(strings.TrimSpace(resp.Header.Get("X-Frame-Options")), "DENY") && !hasSource(csp["frame-ancestors"], "'none'") {
		out = append(out, "expected X-Frame-Options: DENY (or CSP frame-ancestors 'none'), got "+describe(resp.Header, "X-Frame-Options"))
	}
	if !hasSource(csp["default-src"], "'none'") {
		out = append(out, "expected a Content-Security-Policy with default-src 'none', got "+describe(resp.Header, "Content-Security-Policy"))
	}
	return out
}

func describe(hd http.Header, name string) string {
	vs := hd.Values(name)
	if len(vs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%q", strings.Join(vs, ", "))
}

// cspDirectives parses Content-Security-Policy values into directive ->
// sources (names lower-cased).
func cspDirectives(values []string) map[string][]string {
	out := map[string][]string{}
	for _, v := range values {
		for _, d := range strings.Split(v, ";") {
			f := strings.Fields(d)
			if len(f) == 0 {
				continue
			}
			name := strings.ToLower(f[0])
			out[name] = append(out[name], f[1:]...)
		}
	}
	return out
}

func hasSource(sources []string, s string) bool {
	for _, v := range sources {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// versionRe finds a version number in a Server header ("nginx/1.25.3",
// "Werkzeug/3.0.1 Python/3.12").
var versionRe = regexp.MustCompile(`/\s*v?\d|\d+\.\d+`)

// noFingerprint: no X-Powered-By, and a Server header (if any) without a
// version, on ordinary and error responses.
func noFingerprint(ctx context.Context, h *harness.H) error {
	ps, err := probes(ctx, h)
	if err != nil {
		return err
	}
	problems, err := examine(ctx, h, ps, func(resp *harness.Response) []string {
		var out []string
		if vs := resp.Header.Values("X-Powered-By"); len(vs) > 0 {
			out = append(out, "X-Powered-By: "+strings.Join(vs, ", "))
		}
		for _, s := range resp.Header.Values("Server") {
			if versionRe.MatchString(s) {
				out = append(out, "Server: "+s+" names a version")
			}
		}
		return out
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return grader.Failf("responses tell attackers what software runs the service:\n- %s", strings.Join(problems, "\n- ")).
			WithHint("drop X-Powered-By (e.g. app.disable('x-powered-by') in Express) and send no Server header, or one without a version, so scanners cannot match your versions against known vulnerabilities")
	}
	return nil
}
