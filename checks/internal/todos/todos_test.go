package todos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/created":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"a1","title":"t","status":"todo"}`))
		case "/garbage":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`<html>`))
		default:
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	h := harness.New(harness.Options{Seed: 1})
	ctx := context.Background()
	post := func(path string) harness.Request {
		return harness.Request{Method: http.MethodPost, Path: srv.URL + path, JSON: map[string]string{"title": "t"}}
	}

	resp, got, err := Send[Todo](ctx, h, post("/created"), http.StatusCreated)
	if err != nil || resp == nil || got != (Todo{ID: "a1", Title: "t", Status: "todo"}) {
		t.Fatalf("Send = %v, %+v, %v", resp, got, err)
	}

	var f *grader.Failure
	resp, got, err = Send[Todo](ctx, h, post("/other"), http.StatusCreated)
	if !errors.As(err, &f) || !strings.Contains(f.Message, "expected status 201 Created, got 200 OK") || resp == nil || got != (Todo{}) {
		t.Fatalf("wrong status: %v, %+v, %v", resp, got, err)
	}

	resp, got, err = Send[Todo](ctx, h, post("/garbage"), http.StatusCreated)
	if !errors.As(err, &f) || resp == nil || resp.Status != http.StatusCreated || got != (Todo{}) {
		t.Fatalf("bad JSON: %v, %+v, %v", resp, got, err)
	}

	srv.Close()
	resp, _, err = Send[Todo](ctx, h, post("/created"), http.StatusCreated)
	if err == nil || resp != nil || errors.As(err, &f) {
		t.Fatalf("no server: want a plain transport error and no response, got %v, %v", resp, err)
	}
}

func TestDiff(t *testing.T) {
	a := Todo{ID: "1", Title: "x", Description: "d", Status: "todo"}
	if d := Diff(a, a); d != "" {
		t.Errorf("equal todos: %q", d)
	}
	b := a
	b.Title, b.Status = "y", "done"
	want := "\n  $.title: expected \"x\", got \"y\"\n  $.status: expected \"todo\", got \"done\""
	if d := Diff(a, b); d != want {
		t.Errorf("Diff = %q, want %q", d, want)
	}
}

// Create prepares a check: any 2xx with an id (string or number) will do,
// and a todo that cannot be had blocks the check by rest.create.
func TestCreateIsLenientAndBlocks(t *testing.T) {
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		sent = append(sent, string(b[:n]))
		switch r.Header.Get("X-Case") {
		case "numeric":
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"id":7,"title":"t"}`))
		case "no-id":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"title":"t"}`))
		case "needs-description":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"message":"description is required"}`))
		default:
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`Internal Server Error`))
		}
	}))
	defer srv.Close()
	h := harness.New(harness.Options{Seed: 1, Service: fixedURL(srv.URL)})
	ctx := context.Background()

	do := func(c string) (Todo, error) {
		_, got, err := createWithHeader(ctx, h, c)
		return got, err
	}
	got, err := do("numeric")
	if err != nil || got.ID != "7" {
		t.Fatalf("a 200 with a numeric id is a todo: %+v, %v", got, err)
	}
	for c, words := range map[string]string{
		"no-id": `POST /todos answered 201 Created without an "id": {"title":"t"}`,
		"500":   "POST /todos answered 500 Internal Server Error",
	} {
		_, err := do(c)
		var p *grader.Precondition
		if !errors.As(err, &p) || p.By != harness.CreateCheck || !strings.Contains(p.Reason, words) {
			t.Errorf("%s: expected blocked by %s saying %q, got %v", c, harness.CreateCheck, words, err)
		}
	}
	if strings.Contains(sent[0], "status") {
		t.Errorf("setup sent a status: %s", sent[0])
	}
	// A 400 to a title alone is creating without a description refused.
	_, err = do("needs-description")
	var p *grader.Precondition
	if !errors.As(err, &p) || p.By != DefaultsCheck || !strings.Contains(p.Reason, "400 Bad Request") {
		t.Errorf("a 400 to a title alone: expected blocked by %s, got %v", DefaultsCheck, err)
	}
}

type fixedURL string

func (u fixedURL) URL() string                 { return string(u) }
func (fixedURL) Restart(context.Context) error { return nil }
func (fixedURL) Logs(int) []string             { return nil }
func (fixedURL) Exited() error                 { return nil }
func (fixedURL) StartInstance(context.Context, map[string]string) (harness.Instance, error) {
	return nil, nil
}

// createWithHeader is Create with a header telling the test server which
// answer to give.
func createWithHeader(ctx context.Context, h *harness.H, c string) (*harness.Response, Todo, error) {
	return createVia[Todo](ctx, h, harness.Request{Method: http.MethodPost, Path: "/todos",
		Header: http.Header{"X-Case": {c}}, JSON: map[string]string{"title": "t"}})
}
