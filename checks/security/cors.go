package security

import (
	"context"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// allowedOrigins reads CORS_ALLOWED_ORIGINS from the service's environment.
func allowedOrigins(h *harness.H) ([]string, error) {
	var out []string
	for _, o := range strings.Split(h.Env[OriginsVar], ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, grader.Errorf("%s is empty in the service's environment; the CORS checks need at least one origin (remove --env %s=... or give one)", OriginsVar, OriginsVar)
	}
	return out, nil
}

// preflight sends the OPTIONS request a browser sends before a
// cross-origin call with a token and a JSON body. Browsers send it without
// credentials.
func preflight(ctx context.Context, h *harness.H, origin, path, method string) (*harness.Response, error) {
	return h.Do(ctx, harness.Request{Method: http.MethodOptions, Path: path, NoAuth: true, Header: http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {method},
		"Access-Control-Request-Headers": {"authorization,content-type"},
	}})
}

// tokens splits a comma-separated header into lower-cased tokens.
func tokens(hd http.Header, name string) []string {
	var out []string
	for _, v := range hd.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func contains(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

const corsHint = "answer OPTIONS preflights before authentication: when Origin is one of CORS_ALLOWED_ORIGINS, echo it in Access-Control-Allow-Origin (never *) with Access-Control-Allow-Methods and Access-Control-Allow-Headers naming the method and the Authorization and Content-Type headers"

// corsAllowed: a preflight from each allowed origin is answered 2xx, echoes
// the origin (never *), allows the method and the Authorization and
// Content-Type headers; the actual request carries the origin too.
func corsAllowed(ctx context.Context, h *harness.H) error {
	origins, err := allowedOrigins(h)
	if err != nil {
		return err
	}
	_, t, err := create(ctx, h, "", "cors "+randWord(h.Rand, 6), "")
	if err != nil {
		return err
	}
	for _, o := range origins {
		for _, c := range []struct{ path, method string }{{"/todos", http.MethodPost}, {"/todos/" + t.ID, http.MethodPatch}} {
			resp, err := preflight(ctx, h, o, c.path, c.method)
			if err != nil {
				return err
			}
			if resp.Status < 200 || resp.Status > 299 {
				return grader.Failf("preflight OPTIONS %s from allowed origin %s (for %s): expected 200 or 204, got %d", c.path, o, c.method, resp.Status).WithHint("%s", corsHint)
			}
			if err := echoes(resp, o); err != nil {
				return err
			}
			if m := tokens(resp.Header, "Access-Control-Allow-Methods"); !contains(m, strings.ToLower(c.method)) && !contains(m, "*") {
				return grader.Failf("preflight OPTIONS %s from %s for %s: Access-Control-Allow-Methods does not allow %s (got %q)", c.path, o, c.method, c.method, resp.Header.Get("Access-Control-Allow-Methods")).WithHint("%s", corsHint)
			}
			hs := tokens(resp.Header, "Access-Control-Allow-Headers")
			if !contains(hs, "authorization") || !(contains(hs, "content-type") || contains(hs, "*")) {
				return grader.Failf("preflight OPTIONS %s from %s: Access-Control-Allow-Headers must name Authorization and Content-Type (a * does not cover Authorization), got %q", c.path, o, resp.Header.Get("Access-Control-Allow-Headers")).WithHint("%s", corsHint)
			}
		}
		resp, err := h.Do(ctx, harness.Request{Path: "/todos", Header: http.Header{"Origin": {o}}})
		if err != nil {
			return err
		}
		if err := echoes(resp, o); err != nil {
			return grader.Failf("the actual request after the preflight: %v", err).WithHint("the browser checks Access-Control-Allow-Origin on the real response too: set it on every response to an allowed origin, not only on OPTIONS")
		}
	}
	return nil
}

// echoes fails unless resp's Access-Control-Allow-Origin is exactly origin.
func echoes(resp *harness.Response, origin string) error {
	got := resp.Header.Values("Access-Control-Allow-Origin")
	switch {
	case len(got) == 1 && got[0] == origin:
		return nil
	case len(got) == 0:
		return grader.Failf("%s %s with Origin: %s (an allowed origin): no Access-Control-Allow-Origin header", resp.Method, resp.Path, origin).WithHint("%s", corsHint)
	case len(got) == 1 && got[0] == "*":
		return grader.Failf("%s %s with Origin: %s: Access-Control-Allow-Origin is *, expected the origin itself", resp.Method, resp.Path, origin).
			WithHint("* lets every website call the API from its visitors' browsers: compare Origin with CORS_ALLOWED_ORIGINS and echo only an allowed one (and add Vary: Origin)")
	default:
		return grader.Failf("%s %s with Origin: %s: expected Access-Control-Allow-Origin: %s, got %q", resp.Method, resp.Path, origin, origin, strings.Join(got, ", ")).WithHint("%s", corsHint)
	}
}

// corsOther: origins that are not allowed, including look-alikes of an
// allowed one, get no Access-Control-Allow-Origin at all.
func corsOther(ctx context.Context, h *harness.H) error {
	origins, err := allowedOrigins(h)
	if err != nil {
		return err
	}
	rw := randWord(h.Rand, 6)
	a := origins[h.Rand.IntN(len(origins))]
	others := []string{
		"https://evil-" + rw + ".example.net",
		a + ".evil-" + rw + ".net",
		// The allowed host with letters in front: a suffix match lets it in.
		strings.Replace(a, "://", "://evil"+rw, 1),
		strings.Replace(a, "https://", "http://", 1),
		"null",
	}
	for _, o := range others {
		resp, err := preflight(ctx, h, o, "/todos", http.MethodPost)
		if err != nil {
			return err
		}
		if err := noAllowOrigin(resp, o, origins); err != nil {
			return err
		}
		resp, err = h.Do(ctx, harness.Request{Path: "/todos", Header: http.Header{"Origin": {o}}})
		if err != nil {
			return err
		}
		if err := noAllowOrigin(resp, o, origins); err != nil {
			return err
		}
	}
	return nil
}

func noAllowOrigin(resp *harness.Response, origin string, allowed []string) error {
	got := resp.Header.Values("Access-Control-Allow-Origin")
	if len(got) == 0 || (len(got) == 1 && got[0] == "") {
		return nil
	}
	return grader.Failf("%s %s with Origin: %s, which is not in CORS_ALLOWED_ORIGINS (%s): expected no Access-Control-Allow-Origin, got %q",
		resp.Method, resp.Path, origin, strings.Join(allowed, ","), strings.Join(got, ", ")).
		WithHint("compare the whole Origin with each allowed origin for equality (no prefix or substring match, no reflecting, no *) and send no CORS headers when it does not match")
}
