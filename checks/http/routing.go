package http

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// notFound: a path the service does not serve -> 404 with a JSON message,
// whoever asks and however: the same GET in a browser's User-Agent and in a
// command-line client's (the second form of DESIGN §3.2), and a POST to
// another unknown path.
func notFound(ctx context.Context, h *harness.H) error {
	path := fmt.Sprintf("/no-such-route-%06x/%d", h.Rand.IntN(1<<24), h.Rand.IntN(1000))
	other := fmt.Sprintf("/no-such-page-%06x", h.Rand.IntN(1<<24))
	browser, tool := harness.BrowserAndToolUserAgents(h.Rand)
	if h.Rand.IntN(2) == 0 {
		browser, tool = tool, browser
	}
	probes := []harness.Request{
		{Path: path, NoAuth: true, Header: http.Header{"User-Agent": {browser}}},
		{Path: path, NoAuth: true, Header: http.Header{"User-Agent": {tool}}},
		{Method: http.MethodPost, Path: other, NoAuth: true, JSON: map[string]string{"name": "probe"}},
	}
	for i, p := range probes {
		if err := notFoundJSON(ctx, h, p); err != nil {
			if i > 0 {
				return expect.Hint(err, "every path the service does not serve answers 404 with a JSON message, whatever the method and whoever asks: install one not-found handler for all methods and clients")
			}
			return err
		}
	}
	return nil
}

// notFoundJSON sends r to a path the service does not serve: 404 JSON with
// a message.
func notFoundJSON(ctx context.Context, h *harness.H, r harness.Request) error {
	resp, err := h.Do(ctx, r)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusNotFound); err != nil {
		if resp.Status < 300 {
			return expect.Hint(err, "a catch-all route answers every path: answer 404 for any path your service does not serve")
		}
		return err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return expect.Hint(err, `the 404 came with your framework's default (plain text or HTML) body: install a not-found handler that answers JSON {"message": "..."}`)
	}
	return expect.Message(resp)
}

// methodNotAllowed: POST, PUT, PATCH and DELETE on /health -> 405 with an
// Allow header that lists GET (every method the path does not accept, not
// only the two one tries first).
func methodNotAllowed(ctx context.Context, h *harness.H) error {
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		resp, err := h.Do(ctx, harness.Request{Method: m, Path: "/health", NoAuth: true})
		if err != nil {
			return expect.Transport(err)
		}
		if err := expect.Status(resp, http.StatusMethodNotAllowed); err != nil {
			switch {
			case resp.Status < 300:
				return expect.Hint(err, "your router matched /health for every method: check the method and answer 405 with an Allow header")
			case resp.Status == http.StatusNotFound:
				return expect.Hint(err, "%s", notFoundHint(ctx, h))
			case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
				return expect.Hint(err, "/health needs no authentication, whatever the method: the grader sent no credentials, and a wrong method is 405 before any auth check")
			}
			return err
		}
		allow := strings.Join(resp.Header.Values("Allow"), ",")
		if !allowsGet(allow) {
			got := fmt.Sprintf("Allow: %q", allow)
			if len(resp.Header.Values("Allow")) == 0 {
				got = "no Allow header"
			}
			return grader.Failf("%s /health: expected a 405 with an Allow header listing GET, got %s", m, got).
				WithHint("a 405 response must say which methods the path supports, e.g. \"Allow: GET, HEAD\"")
		}
	}
	return nil
}

// notFoundHint explains a 404 to a wrong method on /health: only the
// method is wrong when GET /health exists, else the route itself is missing.
func notFoundHint(ctx context.Context, h *harness.H) string {
	get, err := h.Do(ctx, harness.Request{Path: "/health", NoAuth: true})
	if err == nil && get.Status == http.StatusNotFound {
		return "GET /health answers 404 too: the route does not exist yet (see http.health); once it does, other methods on it answer 405"
	}
	return "the path exists, only the method is wrong: that is 405, not 404 (in Go, a catch-all \"/\" route hides ServeMux's automatic 405)"
}

// allowsGet reports whether an Allow value lists GET (case-insensitive).
func allowsGet(allow string) bool {
	for _, m := range strings.Split(allow, ",") {
		if strings.EqualFold(strings.TrimSpace(m), http.MethodGet) {
			return true
		}
	}
	return false
}
