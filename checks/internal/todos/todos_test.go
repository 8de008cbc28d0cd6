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
	want := "\n  title: expected \"x\", got \"y\"\n  status: expected \"todo\", got \"done\""
	if d := Diff(a, b); d != want {
		t.Errorf("Diff = %q, want %q", d, want)
	}
}
