package http

import (
	"context"
	"net/http"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// The http checks send no token even when the run includes auth: these
// routes are public, and a broken /register must not fail them.

// listens: the grader started the service and saw $PORT accept connections;
// here any HTTP response to GET /health counts.
func listens(ctx context.Context, h *harness.H) error {
	_, err := h.Do(ctx, harness.Request{Path: "/health", NoAuth: true})
	if err == nil {
		return nil
	}
	hint := expect.TransportHint(err.Error())
	if hint == "" {
		hint = "the service must accept HTTP/1.1 connections on $PORT (all interfaces) and answer every request"
	}
	return grader.Failf("expected an HTTP response to GET /health, got none: %v", err).WithHint("%s", hint)
}

// health: GET /health -> 200, application/json, {"status":"ok"}.
func health(ctx context.Context, h *harness.H) error {
	resp, err := h.Do(ctx, harness.Request{Path: "/health", NoAuth: true})
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return err
	}
	body, err := expect.Object(resp)
	if err != nil {
		return expect.Hint(err, `answer {"status":"ok"} encoded as JSON, not plain text`)
	}
	if d := expect.Fields(map[string]any{"status": "ok"}, body); d != "" {
		return grader.Failf("GET /health: unexpected body %s", d).
			WithHint(`the body is the JSON object {"status":"ok"}: the key is "status" and the value the lower-case string "ok"`)
	}
	return nil
}
