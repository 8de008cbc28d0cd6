package harness

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backend-grader/grader/internal/verdict"
)

func jwtWith(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
}

func TestFindTokenLooksWhereProjectsPutIt(t *testing.T) {
	for body, where := range map[string]string{
		`{"token":"a.b.c"}`:                       "$.token",
		`{"accessToken":"a.b.c","user":{}}`:       "$.accessToken",
		`{"data":{"access_token":"a.b.c"}}`:       "$.data.access_token",
		`{"message":"ok","data":{"jwt":"a.b.c"}}`: "$.data.jwt",
	} {
		tok, at := FindTokenAt([]byte(body))
		if tok != "a.b.c" || at != where {
			t.Errorf("%s: token %q at %q, want a.b.c at %s", body, tok, at, where)
		}
	}
	for _, body := range []string{``, `not json`, `{"token":""}`, `{"token":5}`, `{"user":{"token":"x"}}`, `["token"]`} {
		if tok := FindToken([]byte(body)); tok != "" {
			t.Errorf("%s: found %q", body, tok)
		}
	}
}

// A project that answers register 200 with the token under data and
// numeric user ids is a fine setup: the user is had, its id is the sub.
func TestUserIsLenientAboutRegister(t *testing.T) {
	token := jwtWith(`{"sub": 42, "exp": 1999999999}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"user":{"id":42},"accessToken":"`+token+`"}}`)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, Auth: true})
	u, err := h.User(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != token || u.ID != "42" {
		t.Errorf("user %+v, want the token under data and id 42", u)
	}
}

// Register without a token, then login with one: setup logs in.
func TestUserLogsInWhenRegisterGivesNoToken(t *testing.T) {
	token := jwtWith(`{"sub":"u-1"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/register" {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"u-1","email":"x"}`)
			return
		}
		io.WriteString(w, `{"token":"`+token+`"}`)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, Auth: true})
	u, err := h.User(context.Background())
	if err != nil || u.Token != token || u.ID != "u-1" {
		t.Fatalf("user %+v, err %v", u, err)
	}
}

// A register that fails blocks every check that needs a user, by
// auth.register-login, and is not tried again for each check.
func TestFailedRegistrationIsRememberedAndBlocks(t *testing.T) {
	var registers atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/register" {
			registers.Add(1)
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"boom"}`)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, Auth: true})
	for i, c := range []*H{h.ForCheck("a.one"), h.ForCheck("b.two"), h.ForCheck("c.three")} {
		var err error
		if i == 1 {
			_, err = c.NewUser(context.Background())
		} else {
			_, err = c.Get(context.Background(), "/todos")
		}
		var p *verdict.Precondition
		if !errors.As(err, &p) {
			t.Fatalf("check %d: expected blocked, got %T %v", i, err, err)
		}
		if p.By != RegisterCheck || !strings.Contains(p.Reason, "POST /register answered 500 Internal Server Error") {
			t.Errorf("check %d: blocked by %q: %q", i, p.By, p.Reason)
		}
		if len(c.Transcript()) == 0 {
			t.Errorf("check %d: nothing in the transcript says why", i)
		}
	}
	if n := registers.Load(); n != 1 {
		t.Errorf("POST /register sent %d times, want once", n)
	}
}

// A 429 during setup is the project's own limiter: blocked by the check
// that grades the limit, and not remembered (it passes with the window).
func TestSetup429IsBlockedByTheLimitCheck(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, `{"token":"`+jwtWith(`{"sub":"s"}`)+`"}`)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, Auth: true})
	_, err := h.User(context.Background())
	var p *verdict.Precondition
	if !errors.As(err, &p) || p.By != LimitCheck {
		t.Fatalf("expected blocked by %s, got %v", LimitCheck, err)
	}
	if _, err := h.User(context.Background()); err != nil {
		t.Errorf("a 429 must not be remembered: %v", err)
	}
}

func TestBodyErrorsSpeakJSON(t *testing.T) {
	r := &Response{Body: []byte("Internal Server Error: \x00 at line 3")}
	var v map[string]any
	err := r.DecodeJSON(&v)
	if err == nil || err.Error() != "the body is not JSON: it starts with `Internal Server Error: \\x00 at line 3`" {
		t.Errorf("not JSON: %v", err)
	}
	r.Body = []byte(strings.Repeat("<p>", 100))
	if err := r.DecodeJSON(&v); err == nil || !strings.HasSuffix(err.Error(), "…`") || len(err.Error()) > 250 {
		t.Errorf("a long body is cut: %v", err)
	}
	r.Body = []byte(`{"items":[{"id":1,"ownerId":7,"total":3}]}`)
	tree, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	item := tree.(map[string]any)["items"].([]any)[0].(map[string]any)
	if item["id"] != "1" || item["ownerId"] != "7" {
		t.Errorf("ids are strings: %#v", item)
	}
	if _, ok := item["total"].(string); ok {
		t.Errorf("only ids become strings: %#v", item)
	}
}

func TestCurlShortensTokens(t *testing.T) {
	tok := jwtWith(`{"sub":"a-rather-long-subject-claim","iat":1700000000,"exp":1999999999}`)
	line := Curl(http.MethodGet, "http://x/todos", http.Header{"Authorization": {"Bearer " + tok}}, nil)
	if strings.Contains(line, tok) || !strings.Contains(line, "Bearer "+tok[:20]+"…(") {
		t.Errorf("token not shortened: %s", line)
	}
	short := Curl(http.MethodGet, "http://x/todos", http.Header{"Authorization": {"Bearer not-a-jwt"}}, nil)
	if !strings.Contains(short, "Bearer not-a-jwt'") {
		t.Errorf("a short credential is kept: %s", short)
	}
}

func TestResponseMarksItsOwnStepDecisive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}}).ForCheck("x.y")
	first, err := h.Get(context.Background(), "/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(context.Background(), "/b"); err != nil {
		t.Fatal(err)
	}
	first.MarkDecisive()
	steps := h.Transcript()
	if len(steps) != 2 || !steps[0].Decisive || steps[1].Decisive {
		t.Errorf("only the first exchange is decisive: %+v", steps)
	}
	(&Response{}).MarkDecisive() // not recorded: nothing to mark, no panic
}
