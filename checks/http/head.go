package http

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// head: HEAD /health -> 200 with the Content-Type GET /health has (whether
// that is JSON is http.health's subject) and not a byte of body. Go's HTTP
// client never reads a HEAD response's body, so the request goes over a
// raw connection and whatever follows the headers is counted. (Other
// headers are not compared: a Content-Length may be there or not.)
func head(ctx context.Context, h *harness.H) error {
	base, err := url.Parse(h.Service.URL())
	if err != nil {
		return grader.Errorf("the service URL %q cannot be parsed: %v", h.Service.URL(), err)
	}
	curl := harness.Curl(http.MethodHead, h.URL("/health"), nil, nil)

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", base.Host)
	if err != nil {
		h.Record("http", curl, "(no response: "+err.Error()+")")
		return grader.Failf("HEAD /health: cannot connect: %v", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)

	fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", h.Path("/health"), base.Host, harness.UserAgents[h.Rand.IntN(len(harness.UserAgents))])
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		h.Record("http", curl, "(no response: "+err.Error()+")")
		hint := expect.TransportHint(err.Error())
		if hint == "" {
			hint = "answer HEAD like GET, without the body"
		}
		return grader.Failf("HEAD /health: expected an HTTP response, got %v", err).WithHint("%s", hint)
	}
	resp.Body.Close()
	// Connection: close was asked for: anything up to EOF is a body that
	// should not be there. A server that keeps the connection open anyway
	// is given a short while to send stray bytes.
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	extra, _ := io.ReadAll(io.LimitReader(br, 64<<10))

	out := harness.FormatResponse(resp.StatusCode, resp.Header, nil)
	if len(extra) > 0 {
		out += fmt.Sprintf("\n\n%s\n(%d bytes after the headers)", harness.Shorten(string(extra), 200), len(extra))
	}
	h.Record("http", curl, out)
	h.Answered(http.MethodHead, "/health", resp.StatusCode, false)

	if resp.StatusCode != http.StatusOK {
		f := grader.Failf("HEAD /health: expected status 200 OK, got %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNotImplemented {
			return f.WithHint("HEAD is GET without the body: a route or method check that accepts only GET rejects it; treat HEAD as GET (many routers do this for you)")
		}
		return f.WithHint("HEAD /health should answer exactly like GET /health, without the body")
	}
	if len(extra) > 0 {
		return grader.Failf("HEAD /health: expected no body, got %d bytes after the headers", len(extra)).
			WithHint("a response to HEAD carries the headers of GET but never a body: do not write the body for HEAD requests")
	}
	get, err := h.Do(ctx, harness.Request{Path: "/health", NoAuth: true})
	if err != nil || get.Status != http.StatusOK {
		return nil // http.health grades GET /health
	}
	if want, got := mediaType(get.Header), mediaType(resp.Header); got != want {
		return grader.Failf("HEAD /health: expected the headers of GET /health, Content-Type %s included, got %s", want, got).
			WithHint("HEAD is GET without the body: run the GET handler and let the server drop the body, rather than answering HEAD with a bare status")
	}
	return nil
}

// mediaType describes a response's media type, for comparing HEAD with GET.
func mediaType(hd http.Header) string {
	ct := hd.Get("Content-Type")
	if ct == "" {
		return "(no Content-Type header)"
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return fmt.Sprintf("%q", ct)
}
