package security

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// MiB is the body limit the stage asks for.
const MiB = 1 << 20

// bodyLimit posts a JSON todo a little over 1 MiB with a Content-Length.
// The service must answer 413, before or after the body has been sent; a
// connection closed without any response is a fail. Then it posts the same
// body chunked (no Content-Length): a limit that only reads Content-Length
// lets it through; a 413 or a closed connection pass. It uses a raw
// connection so that a response arriving mid-body is read, not lost.
func bodyLimit(ctx context.Context, h *harness.H) error {
	base, err := url.Parse(h.Service.URL())
	if err != nil {
		return grader.Errorf("the service's URL %q: %v", h.Service.URL(), err)
	}
	size := MiB + 1024 + h.Rand.IntN(64<<10)
	prefix, suffix := `{"title":"big body `+randWord(h.Rand, 6)+`","description":"`, `"}`
	body := make([]byte, 0, size)
	body = append(body, prefix...)
	body = append(body, strings.Repeat("a", size-len(prefix)-len(suffix))...)
	body = append(body, suffix...)

	header := http.Header{"Content-Type": {"application/json"}}
	if h.Auth {
		u, err := h.User(ctx)
		if err != nil {
			return err
		}
		header.Set("Authorization", "Bearer "+u.Token)
	}
	curl := harness.Curl(http.MethodPost, h.URL("/todos"), header, body)

	status, respHeader, respBody, sent, err := postRaw(ctx, base.Host, h.Path("/todos"), header, body, false)
	if err != nil {
		h.Record("http", curl, fmt.Sprintf("(no response: %v; %d of the %d body bytes had been sent)", err, sent, len(body)))
		return grader.Failf("POST /todos with a %d-byte body (over 1 MiB): the connection ended without any response (%v), expected 413 Payload Too Large", len(body), err).
			WithHint("cap the body at 1 MiB (e.g. a max-bytes reader) and answer 413 with a JSON message; dropping the connection leaves the client without an answer")
	}
	h.Record("http", curl, harness.FormatResponse(status, respHeader, respBody))
	h.Answered(http.MethodPost, "/todos", status, h.Auth)
	if status != http.StatusRequestEntityTooLarge {
		return grader.Failf("POST /todos with a %d-byte body (over 1 MiB): expected 413 Payload Too Large, got %s", len(body), expect.StatusText(status)).
			WithHint("cap request bodies at 1 MiB (http.MaxBytesReader, express.json({limit: '1mb'}), MAX_CONTENT_LENGTH...) and answer 413 when a body is larger, so a client cannot exhaust the service's memory")
	}

	// The same body chunked: no Content-Length to trust.
	chunkedHeader := header.Clone()
	chunkedHeader.Set("Transfer-Encoding", "chunked")
	curl = harness.Curl(http.MethodPost, h.URL("/todos"), chunkedHeader, body)
	status, respHeader, respBody, sent, err = postRaw(ctx, base.Host, h.Path("/todos"), header, body, true)
	if err != nil {
		h.Record("http", curl, fmt.Sprintf("(no response: %v; %d of the %d body bytes had been sent) — a closed connection is fine here", err, sent, len(body)))
		return nil
	}
	h.Record("http", curl, harness.FormatResponse(status, respHeader, respBody))
	if status != http.StatusRequestEntityTooLarge {
		return grader.Failf("POST /todos with a %d-byte body sent chunked (Transfer-Encoding: chunked, no Content-Length): expected 413 Payload Too Large or a closed connection, got %s", len(body), expect.StatusText(status)).
			WithHint("limit the bytes read from the body, not only the Content-Length header: a chunked body has none (http.MaxBytesReader, a body parser's limit)")
	}
	return nil
}

// postRaw sends POST /todos with body over a fresh connection while reading
// the response concurrently. It returns the response, or an error when the
// connection ended without one, and how many body bytes were written.
// With chunked the body goes as Transfer-Encoding: chunked, without a
// Content-Length.
func postRaw(ctx context.Context, host, path string, header http.Header, body []byte, chunked bool) (int, http.Header, []byte, int, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return 0, nil, nil, 0, fmt.Errorf("could not connect: %v", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)

	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- result{err: err}
			_ = conn.SetWriteDeadline(time.Now())
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		done <- result{resp: resp, body: b}
		// The answer is in: stop a writer the server no longer reads from.
		_ = conn.SetWriteDeadline(time.Now())
	}()

	var head strings.Builder
	head.WriteString("POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for k, vs := range header {
		for _, v := range vs {
			head.WriteString(k + ": " + v + "\r\n")
		}
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	} else {
		head.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	}
	sent := 0
	if _, err := io.WriteString(conn, head.String()); err == nil {
		for sent < len(body) {
			part := body[sent:min(sent+32<<10, len(body))]
			if chunked {
				if _, err := fmt.Fprintf(conn, "%x\r\n", len(part)); err != nil {
					break
				}
			}
			n, err := conn.Write(part)
			sent += n
			if err != nil {
				break
			}
			if chunked {
				if _, err := io.WriteString(conn, "\r\n"); err != nil {
					break
				}
			}
		}
		if chunked && sent == len(body) {
			_, _ = io.WriteString(conn, "0\r\n\r\n")
		}
	}
	select {
	case r := <-done:
		if r.err != nil {
			return 0, nil, nil, sent, describe413Err(r.err)
		}
		return r.resp.StatusCode, r.resp.Header, r.body, sent, nil
	case <-ctx.Done():
		return 0, nil, nil, sent, errors.New("the grader gave up waiting")
	}
}

func describe413Err(err error) error {
	s := err.Error()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the service closed the connection")
	case strings.Contains(s, "reset"):
		return errors.New("the service reset the connection")
	case strings.Contains(s, "timeout"):
		return errors.New("no answer within 15 s")
	}
	return err
}
