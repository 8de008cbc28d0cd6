package rest

import (
	"context"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// deleteTodo: DELETE -> 204 without a body; then GET -> 404 and a second
// DELETE -> 404.
func deleteTodo(ctx context.Context, h *harness.H) error {
	t, err := createTodo(ctx, h, newTodo(h))
	if err != nil {
		return err
	}
	path := todoPath(id(t))
	resp, err := h.Do(ctx, harness.Request{Method: http.MethodDelete, Path: path})
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusNoContent); err != nil {
		if resp.Status == http.StatusOK || resp.Status == http.StatusAccepted {
			return expect.Hint(err, "a successful DELETE answers 204 No Content, with an empty body")
		}
		return err
	}
	if len(strings.TrimSpace(string(resp.Body))) > 0 {
		return grader.Failf("DELETE %s: expected 204 with an empty body, got %d bytes of body", path, len(resp.Body)).
			WithHint("204 No Content has no body: write the status and nothing else")
	}
	resp, err = h.Get(ctx, path)
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusNotFound); err != nil {
		if resp.Status == http.StatusOK {
			err = expect.Hint(err, "the todo is still served after its DELETE answered 204: remove it from the store")
		}
		return expect.Note(err, "after the todo was deleted")
	}
	resp, err = h.Do(ctx, harness.Request{Method: http.MethodDelete, Path: path})
	if err != nil {
		return expect.Transport(err)
	}
	if err := expect.Status(resp, http.StatusNotFound); err != nil {
		if resp.Status < 300 {
			err = expect.Hint(err, "deleting a todo that does not exist (any more) is 404: check whether the delete removed anything")
		}
		return expect.Note(err, "the same DELETE a second time")
	}
	return nil
}
