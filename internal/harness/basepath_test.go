package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// With a base path every route the checks name is requested under it,
// setup (register) included; full URLs (another instance) are left alone.
func TestBasePathPrefixesEveryRoute(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, BasePath: "/api/v1"}).ForCheck("x.y")
	if got := h.URL("/todos"); got != srv.URL+"/api/v1/todos" {
		t.Errorf("URL(/todos) = %q", got)
	}
	if got := h.Path("/login"); got != "/api/v1/login" {
		t.Errorf("Path(/login) = %q", got)
	}
	for _, p := range []string{"/health", "/todos?page=2", srv.URL + "/api/v1/todos/7"} {
		if _, err := h.Do(context.Background(), Request{Path: p}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/api/v1/health", "/api/v1/todos?page=2", "/api/v1/todos/7"}
	if len(paths) != len(want) {
		t.Fatalf("requested %q, want %q", paths, want)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Errorf("request %d went to %q, want %q", i, paths[i], want[i])
		}
	}
}

// A run value is made once and shared by every check's copy of h.
func TestRunValueIsSharedAcrossChecks(t *testing.T) {
	h := New(Options{Service: urlService{"http://127.0.0.1:1"}})
	var made atomic.Int32
	mk := func() any { made.Add(1); return new(int) }
	a := h.ForCheck("a.b").RunValue("k", mk)
	b := h.ForCheck("c.d").RunValue("k", mk)
	if a != b || made.Load() != 1 {
		t.Errorf("run value made %d times (%p, %p), want once and shared", made.Load(), a, b)
	}
}
