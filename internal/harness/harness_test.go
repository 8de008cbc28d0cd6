package harness

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

type urlService struct{ url string }

func (s urlService) URL() string                   { return s.url }
func (s urlService) Restart(context.Context) error { return nil }
func (s urlService) Logs(int) []string             { return nil }
func (s urlService) Exited() error                 { return nil }
func (s urlService) StartInstance(context.Context, map[string]string) (Instance, error) {
	return nil, nil
}

// The curl line must be pasteable: a shell that runs it sends the same
// request, quotes and all.
func TestCurlLineRoundTripsThroughTheShell(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	body := []byte(`{"title":"it's <b>"}`)
	h := http.Header{"Content-Type": {"application/json"}, "X-Odd": {`a'b "c" $HOME`}}
	line := Curl(http.MethodPost, "http://127.0.0.1:1/todos?term=a%27b", h, body)
	// Replace curl by a script that prints its arguments one per line.
	out, err := exec.Command("sh", "-c", "curl() { for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }; "+line).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	got := string(out)
	for _, want := range []string{"-X\nPOST\n", "http://127.0.0.1:1/todos?term=a%27b\n", "X-Odd: a'b \"c\" $HOME\n", `{"title":"it's <b>"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("the shell did not get %q from\n%s\nargs:\n%s", want, line, got)
		}
	}
}

func TestDoRecordsTheExchangeAndSendsTheDefaultUsersToken(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u-42"}`))
	token := "eyJhbGciOiJIUzI1NiJ9." + payload + ".sig"
	var gotAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/register":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"token":"`+token+`"}`)
		default:
			gotAuth = append(gotAuth, r.Header.Get("Authorization"))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, strings.Repeat("x", MaxBodyShown+100))
		}
	}))
	defer srv.Close()
	h := New(Options{Service: urlService{srv.URL}, Auth: true, Seed: 1}).ForCheck("t.x")
	resp, err := h.Do(context.Background(), Request{Method: "POST", Path: "/todos", JSON: map[string]string{"title": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTeapot || resp.Method != "POST" || resp.Path != "/todos" {
		t.Fatalf("response %d %s %s", resp.Status, resp.Method, resp.Path)
	}
	if _, err := h.Do(context.Background(), Request{Path: "/todos", NoAuth: true}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer " + token, ""}; strings.Join(gotAuth, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization sent: %q, want %q", gotAuth, want)
	}
	u, _ := h.User(context.Background())
	if u.ID != "u-42" || u.Token != token {
		t.Errorf("user %+v", u)
	}
	steps := h.Transcript()
	if len(steps) != 3 { // register, POST /todos, GET /todos
		t.Fatalf("%d steps recorded, want 3: %+v", len(steps), steps)
	}
	post := steps[1]
	if !strings.Contains(post.Command, "-X POST") || !strings.Contains(post.Command, `--data-raw '{"title":"a"}'`) {
		t.Errorf("curl line %q", post.Command)
	}
	if !strings.HasPrefix(post.Output, "HTTP 418 I'm a teapot") || !strings.Contains(post.Output, "bytes in all") {
		t.Errorf("recorded response %q", post.Output[:80])
	}
	// Each check starts with a transcript of its own.
	if n := len(h.ForCheck("t.y").Transcript()); n != 0 {
		t.Errorf("a new check's transcript has %d steps", n)
	}
}

func TestTransportErrorsAreSaidPlainly(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	h := New(Options{Service: urlService{url}}).ForCheck("t.z")
	_, err := h.Get(context.Background(), "/health")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "$PORT") {
		t.Fatalf("error %v", err)
	}
	if steps := h.Transcript(); len(steps) != 1 || !strings.Contains(steps[0].Output, "no response") {
		t.Errorf("steps %+v", steps)
	}
}

func TestShortenKeepsRunesWhole(t *testing.T) {
	s := strings.Repeat("é", 10) // 2 bytes each
	got := Shorten(s, 5)
	if !strings.HasPrefix(got, "éé...") || !strings.Contains(got, "(20 bytes in all)") {
		t.Errorf("Shorten = %q", got)
	}
	if Shorten("abc", 5) != "abc" {
		t.Error("short strings must stay as they are")
	}
}

func TestTokenClaims(t *testing.T) {
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"7","exp":1}`))
	c, err := TokenClaims("h." + p + ".s")
	if err != nil || c["sub"] != "7" {
		t.Fatalf("claims %v, %v", c, err)
	}
	for _, bad := range []string{"abc", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c"} {
		if _, err := TokenClaims(bad); err == nil {
			t.Errorf("TokenClaims(%q) accepted", bad)
		}
	}
}
