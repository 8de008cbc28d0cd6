package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Request is one HTTP request a check sends to the service.
type Request struct {
	Method string
	// Path is relative to the service's URL ("/todos?page=2"), or a full URL
	// (for a second instance).
	Path   string
	Header http.Header
	// JSON, when not nil, is marshalled as the body with Content-Type
	// application/json. Use Body for anything else (malformed JSON, other types).
	JSON any
	Body []byte
	// Token overrides the Bearer token. "" means the run's default user when
	// the run includes auth.
	Token string
	// NoAuth sends no Authorization header at all.
	NoAuth bool
}

// Response is what came back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Curl is the request as a curl command line.
	Curl string
	// Method and Path are the request's, as given in Request (for messages
	// such as "GET /todos/1: expected 200, got 404").
	Method string
	Path   string
	// SentToken is true when the request carried an Authorization header.
	SentToken bool

	// mark marks this exchange's step in the transcript as decisive.
	mark func()
}

// MarkDecisive marks the transcript step of this exchange as the one that
// decided the check's failure (the assertions of package expect do it when
// they fail). It does nothing for a response the harness did not record.
func (r *Response) MarkDecisive() {
	if r != nil && r.mark != nil {
		r.mark()
	}
}

// recordStep is Record that returns a function marking that step decisive.
func (h *H) recordStep(kind, command, output string) func() {
	h.check.mu.Lock()
	defer h.check.mu.Unlock()
	h.check.steps = append(h.check.steps, Step{Kind: kind, Command: command, Output: output})
	i := len(h.check.steps) - 1
	return func() {
		h.check.mu.Lock()
		defer h.check.mu.Unlock()
		if i < len(h.check.steps) {
			h.check.steps[i].Decisive = true
		}
	}
}

// MaxBodyShown is how much of a body a transcript keeps.
const MaxBodyShown = 2048

// Do sends r, records the exchange in the transcript and returns the
// response. The error is a transport error (connection refused, timeout) in
// words a learner understands.
func (h *H) Do(ctx context.Context, r Request) (*Response, error) {
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	url := r.Path
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		url = h.URL(r.Path)
	}
	body := r.Body
	header := http.Header{}
	for k, v := range r.Header {
		header[k] = append([]string(nil), v...)
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", h.nextUserAgent())
	}
	if r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, fmt.Errorf("grader bug: cannot encode request body: %w", err)
		}
		body = b
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json")
		}
	}
	loginTok := false
	if !r.NoAuth && header.Get("Authorization") == "" {
		tok := r.Token
		if tok == "" && h.Auth {
			u, err := h.User(ctx)
			if err != nil {
				return nil, err
			}
			tok = u.Token
		}
		if tok != "" {
			header.Set("Authorization", "Bearer "+tok)
			loginTok = h.loginToken(tok)
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("grader bug: bad request %s %s: %w", r.Method, url, err)
	}
	if body == nil {
		req.Body = nil
		req.ContentLength = 0
	}
	req.Header = header
	if host := header.Get("Host"); host != "" {
		req.Host = host
	}
	curl := Curl(r.Method, url, header, body)
	resp, err := h.client.Do(req)
	if err != nil {
		msg := describeTransportError(err)
		h.Record("http", curl, "(no response: "+msg+")")
		return nil, fmt.Errorf("%s %s: no response: %s", r.Method, r.Path, msg)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		h.Record("http", curl, FormatResponse(resp.StatusCode, resp.Header, rb)+"\n(the body was cut off: "+describeTransportError(err)+")")
		return nil, fmt.Errorf("%s %s: the response body could not be read: %s", r.Method, r.Path, describeTransportError(err))
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: rb, Curl: curl, Method: r.Method, Path: r.Path,
		SentToken: header.Get("Authorization") != ""}
	out.mark = h.recordStep("http", curl, FormatResponse(resp.StatusCode, resp.Header, rb))
	h.notice(r, resp.StatusCode, out.SentToken, loginTok)
	return out, nil
}

// Get is Do with GET.
func (h *H) Get(ctx context.Context, path string) (*Response, error) {
	return h.Do(ctx, Request{Method: http.MethodGet, Path: path})
}

// Curl renders a request as a curl command line the learner can paste.
func Curl(method, url string, header http.Header, body []byte) string {
	var b strings.Builder
	b.WriteString("curl -i")
	if method != http.MethodGet || len(body) > 0 {
		if method == http.MethodHead {
			b.WriteString(" -I")
		} else {
			b.WriteString(" -X " + method)
		}
	}
	b.WriteString(" " + shellQuote(url))
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range header[k] {
			if k == "Authorization" {
				v = ShortenCredential(v)
			}
			b.WriteString(" -H " + shellQuote(k+": "+v))
		}
	}
	if len(body) > 0 {
		s := string(body)
		if len(s) > MaxBodyShown {
			s = s[:MaxBodyShown] + fmt.Sprintf("...(%d bytes in all)", len(body))
		}
		b.WriteString(" --data-raw " + shellQuote(s))
	}
	return b.String()
}

// ShortenCredential shortens the token of an Authorization value for a
// transcript: "Bearer eyJhbGciOiJIUzI1NiIs…(183 chars)". A short value
// (a forged or malformed token a check sent on purpose) is kept whole.
func ShortenCredential(v string) string {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok {
		scheme, tok = "", v
	} else {
		scheme += " "
	}
	const keep = 20
	if len(tok) <= 2*keep+8 {
		return v
	}
	return fmt.Sprintf("%s%s…(%d chars)", scheme, tok[:keep], len(tok))
}

// FormatResponse renders a response as the learner would see it with curl -i,
// the body cut to MaxBodyShown.
func FormatResponse(status int, header http.Header, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d %s", status, http.StatusText(status))
	keys := make([]string, 0, len(header))
	for k := range header {
		if k == "Date" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range header[k] {
			fmt.Fprintf(&b, "\n%s: %s", k, v)
		}
	}
	if len(body) > 0 {
		b.WriteString("\n\n")
		b.WriteString(Shorten(string(body), MaxBodyShown))
	}
	return b.String()
}

// Shorten cuts s to at most n bytes (on a rune boundary) and says how long it was.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes in all)", len(s))
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func describeTransportError(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return "connection refused (is the service still running and listening on $PORT?)"
	case strings.Contains(s, "Client.Timeout") || strings.Contains(s, "deadline exceeded"):
		return "timed out waiting for the response"
	case strings.Contains(s, "EOF") || strings.Contains(s, "connection reset"):
		return "the connection was closed without a complete response"
	}
	return s
}
