package rest

import (
	"context"
	"net/http"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/harness"
)

// unknownID: GET, PUT and PATCH on a well-formed UUID that was never
// created -> 404 with a message.
func unknownID(ctx context.Context, h *harness.H) error {
	path := todoPath(expect.RandomUUID(h.Rand))
	reqs := []struct {
		r    harness.Request
		hint string
	}{
		{harness.Request{Method: http.MethodGet, Path: path}, "a lookup that finds nothing is 404 with a message, not 200 with an empty or null body"},
		{harness.Request{Method: http.MethodPut, Path: path, JSON: map[string]any{"title": expect.Title(h.Rand)}}, "PUT on an id that does not exist is 404: ids are chosen by the server, so PUT never creates"},
		{harness.Request{Method: http.MethodPatch, Path: path, JSON: map[string]any{"status": "done"}}, "PATCH on an id that does not exist is 404: check that the todo exists before changing it"},
	}
	for _, q := range reqs {
		resp, err := h.Do(ctx, q.r)
		if err != nil {
			return expect.Transport(err)
		}
		if err := expect.Status(resp, http.StatusNotFound); err != nil {
			if resp.Status < 300 {
				return expect.Hint(err, "%s", q.hint)
			}
			return err
		}
		if err := expect.Message(resp); err != nil {
			return err
		}
	}
	return nil
}
