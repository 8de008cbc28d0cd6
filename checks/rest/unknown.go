package rest

import (
	"context"
	"net/http"
	"strconv"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/harness"
)

// unknownID: GET, PUT and PATCH on a well-formed id that was never
// created -> 404. The id has the form of the service's own (a number when
// its ids are numbers, else a UUID); the error body is http.not-found's
// subject, not this check's.
func unknownID(ctx context.Context, h *harness.H) error {
	t, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	unknown := expect.RandomUUID(h.Rand)
	if n, err := strconv.ParseInt(id(t), 10, 64); err == nil {
		unknown = strconv.FormatInt(n+1_000_000+h.Rand.Int64N(1_000_000), 10)
	}
	path := todoPath(unknown)
	reqs := []struct {
		r    harness.Request
		hint string
	}{
		{harness.Request{Method: http.MethodGet, Path: path}, "a lookup that finds nothing is 404 with a message, not 200 with an empty or null body"},
		{harness.Request{Method: http.MethodPut, Path: path, JSON: map[string]any{"title": expect.Title(h.Rand)}}, "PUT on an id that does not exist is 404: ids are chosen by the server, so PUT never creates"},
		{harness.Request{Method: http.MethodPatch, Path: path, JSON: map[string]any{"title": expect.Title(h.Rand)}}, "PATCH on an id that does not exist is 404: check that the todo exists before changing it"},
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
	}
	return nil
}
