package security

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bigBody is a JSON body a little over 1 MiB.
func bigBody() []byte {
	return []byte(`{"title":"t","description":"` + strings.Repeat("a", MiB+1000) + `"}`)
}

func post(t *testing.T, host string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, _, _, _, err := postRaw(ctx, host, "/todos", http.Header{"Content-Type": {"application/json"}}, bigBody(), false)
	return status, err
}

// TestPostRawSeesTheStatus: postRaw reports the status whether the server
// refuses after reading past the limit, refuses on Content-Length alone, or
// accepts the body.
func TestPostRawSeesTheStatus(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    int
	}{
		{"413 after the body", func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MiB))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, `{"message":"too large"}`, http.StatusRequestEntityTooLarge)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}, http.StatusRequestEntityTooLarge},
		{"413 before the body", func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > MiB {
				http.Error(w, `{"message":"too large"}`, http.StatusRequestEntityTooLarge)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}, http.StatusRequestEntityTooLarge},
		{"other statuses", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
		}, http.StatusCreated},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			status, err := post(t, srv.Listener.Addr().String())
			if err != nil || status != c.want {
				t.Fatalf("got %d, %v; want %d", status, err, c.want)
			}
		})
	}
}

func TestPostRawReportsAClosedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.Read(buf) // the request head, then hang up without a word
			c.Close()
		}
	}()
	status, err := post(t, ln.Addr().String())
	if err == nil {
		t.Fatalf("got status %d, want an error for a connection closed without a response", status)
	}
}
