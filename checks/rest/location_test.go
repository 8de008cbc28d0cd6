package rest

import "testing"

func TestResolve(t *testing.T) {
	const base = "http://127.0.0.1:41234"
	ok := map[string]string{
		"/todos/abc":                       "/todos/abc",
		"todos/abc":                        "/todos/abc",
		"http://127.0.0.1:41234/todos/abc": "/todos/abc",
		"http://localhost:41234/todos/abc": "/todos/abc",
		"//localhost:41234/todos/abc?x=1":  "/todos/abc?x=1",
		"http://[::1]:41234/todos/a%20b":   "/todos/a%20b",
	}
	for loc, want := range ok {
		got, err := resolve(base, loc)
		if err != nil || got != want {
			t.Errorf("resolve(%q) = %q, %v; want %q", loc, got, err, want)
		}
	}
	for _, loc := range []string{"http://localhost:8080/todos/abc", "https://example.com/todos/abc", "http://10.0.0.5:41234/todos/abc"} {
		if got, err := resolve(base, loc); err == nil {
			t.Errorf("resolve(%q) = %q, want an error (not the service)", loc, got)
		}
	}
}
