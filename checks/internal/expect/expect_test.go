package expect

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

func resp(status int, ct, body string) *harness.Response {
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	return &harness.Response{Status: status, Header: h, Body: []byte(body), Method: "POST", Path: "/todos"}
}

func failure(t *testing.T, err error) *grader.Failure {
	t.Helper()
	var f *grader.Failure
	if !errors.As(err, &f) {
		t.Fatalf("expected a *grader.Failure, got %T %v", err, err)
	}
	return f
}

func TestStatus(t *testing.T) {
	if err := Status(resp(201, "", ""), 201); err != nil {
		t.Fatalf("201 vs 201: %v", err)
	}
	if err := Status(resp(404, "", ""), 403, 404); err != nil {
		t.Fatalf("404 in [403 404]: %v", err)
	}
	f := failure(t, Status(resp(500, "", ""), 201))
	if want := "POST /todos: expected status 201 Created, got 500 Internal Server Error"; f.Message != want {
		t.Errorf("message = %q, want %q", f.Message, want)
	}
	if !strings.Contains(f.Hint, "log") {
		t.Errorf("a 500 should point at the log, hint = %q", f.Hint)
	}
	f = failure(t, Hint(Status(resp(400, "", ""), 201), "custom %d", 1))
	if f.Hint != "custom 1" {
		t.Errorf("Hint did not override: %q", f.Hint)
	}
	if Hint(nil, "x") != nil {
		t.Error("Hint(nil) must stay nil")
	}
}

func TestJSONContentType(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/problem+json"} {
		if err := JSONContentType(resp(200, ct, "{}")); err != nil {
			t.Errorf("%q: %v", ct, err)
		}
	}
	for _, ct := range []string{"", "text/plain; charset=utf-8", "text/json", "application/jsonx"} {
		if err := JSONContentType(resp(200, ct, "{}")); err == nil {
			t.Errorf("%q accepted", ct)
		}
	}
}

func TestMessageAndFieldError(t *testing.T) {
	if err := Message(resp(404, "application/json", `{"message":"not found"}`)); err != nil {
		t.Error(err)
	}
	for _, body := range []string{``, `null`, `not found`, `{"message":""}`, `{"error":"x"}`, `{"message":3}`} {
		if err := Message(resp(404, "application/json", body)); err == nil {
			t.Errorf("Message accepted %q", body)
		}
	}
	ok := `{"message":"invalid","errors":{"title":"is required"}}`
	if err := FieldError(resp(400, "application/json", ok), "title"); err != nil {
		t.Error(err)
	}
	f := failure(t, FieldError(resp(400, "application/json", ok), "status"))
	if !strings.Contains(f.Message, "errors.status") || !strings.Contains(f.Message, "[title]") {
		t.Errorf("message should name the field wanted and the keys found: %q", f.Message)
	}
	if err := FieldError(resp(400, "application/json", `{"errors":["title"]}`), "title"); err == nil {
		t.Error("errors as a list accepted")
	}
	if err := FieldError(resp(400, "application/json", `{"errors":{"title":["is required","too short"]}}`), "title"); err != nil {
		t.Errorf("a list of reasons is a reason: %v", err)
	}
	for _, body := range []string{`{"errors":{"title":[]}}`, `{"errors":{"title":[""]}}`, `{"errors":{"title":[3]}}`} {
		if err := FieldError(resp(400, "application/json", body), "title"); err == nil {
			t.Errorf("FieldError accepted %s", body)
		}
	}
}

func TestFields(t *testing.T) {
	got := map[string]any{"id": "x", "title": "a", "status": "todo", "extra": 1.0}
	if d := Fields(map[string]any{"title": "a", "status": "todo"}, got); d != "" {
		t.Errorf("extra keys must be ignored, got diff:\n%s", d)
	}
	d := Fields(map[string]any{"title": "b", "description": ""}, got)
	want := "\n  $.description: expected \"\", missing\n  $.title: expected \"b\", got \"a\""
	if d != want {
		t.Errorf("Fields diff =\n%s\nwant\n%s", d, want)
	}
}

func TestDiffJSONPaths(t *testing.T) {
	want := map[string]any{"status": "todo", "page": 1, "tags": []string{"a"}, "owner": map[string]any{"id": "u1"}}
	got := map[string]any{"status": []any{"a", "b"}, "page": 1.0, "tags": []any{"b"}, "owner": map[string]any{"id": "u2"}, "x-y": true}
	d := Diff(want, got)
	for _, line := range []string{
		`$.status: expected "todo", got ["a","b"] (2 items)`,
		`$.tags[0]: expected "a", got "b"`,
		`$.owner.id: expected "u1", got "u2"`,
		`$["x-y"]: not expected, got true`,
	} {
		if !strings.Contains(d, "\n  "+line) {
			t.Errorf("diff lacks %q:\n%s", line, d)
		}
	}
	if strings.Contains(d, "page") {
		t.Errorf("1 and 1.0 are the same JSON number, got:\n%s", d)
	}
	for _, bad := range []string{"map[", "string(", "-want", "float64"} {
		if strings.Contains(d, bad) {
			t.Errorf("diff speaks Go (%q):\n%s", bad, d)
		}
	}
	if d := Diff([]string{"a", "b"}, []string{"a"}); !strings.Contains(d, `$: expected ["a","b"] (2 items), got ["a"] (1 items)`) {
		t.Errorf("lists of other lengths: %s", d)
	}
	if d := DiffAs(map[string]any{"message": "x"}, map[string]any{"message": "y"}, "unknown e-mail", "wrong password"); d != "\n  $.message: unknown e-mail \"x\", wrong password \"y\"" {
		t.Errorf("DiffAs = %q", d)
	}
}

func TestDecodeSpeaksJSON(t *testing.T) {
	var v struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := Decode(resp(201, "application/json", `{"id": 17, "title": "x"}`), &v); err != nil || v.ID != "17" {
		t.Fatalf("a numeric id is an id: %v, %+v", err, v)
	}
	f := failure(t, Decode(resp(201, "application/json", `{"id": "a", "title": ["a","b"]}`), &v))
	if !strings.Contains(f.Message, `$.title: expected a string, got ["a","b"]`) {
		t.Errorf("type mismatch message: %s", f.Message)
	}
	f = failure(t, Decode(resp(500, "text/html", "Internal Server Error\n<html>"), &v))
	if !strings.Contains(f.Message, "the body is not JSON: it starts with `Internal Server Error\\n<html>`") {
		t.Errorf("not JSON message: %s", f.Message)
	}
	var list struct {
		Data []struct {
			Title string `json:"title"`
		} `json:"data"`
	}
	f = failure(t, Decode(resp(200, "application/json", `{"data": [{"title": "a"}, {"title": 5}]}`), &list))
	if !strings.Contains(f.Message, `$.data[1].title: expected a string, got 5`) {
		t.Errorf("path into a list: %s", f.Message)
	}
	for _, bad := range []string{"Go struct", "cannot unmarshal", "looking for beginning", "map[string]any"} {
		if strings.Contains(f.Message, bad) {
			t.Errorf("message speaks Go: %s", f.Message)
		}
	}
}

func TestStatusHintMatchesWhatWasSeen(t *testing.T) {
	own := failure(t, Status(resp(404, "application/json", `{"message":"todo not found"}`), 200))
	if strings.Contains(own.Hint, "not registered") || !strings.Contains(own.Hint, "todo not found") {
		t.Errorf("404 with the service's own message: hint %q", own.Hint)
	}
	bare := failure(t, Status(resp(404, "text/plain", `404 page not found`), 200))
	if !strings.Contains(bare.Hint, "not registered") {
		t.Errorf("404 from the router: hint %q", bare.Hint)
	}
	r := resp(401, "application/json", `{"message":"Unauthorized"}`)
	if h := failure(t, Status(r, 200)).Hint; !strings.Contains(h, "needs none") {
		t.Errorf("401 without a token sent: hint %q", h)
	}
	r.SentToken = true
	if h := failure(t, Status(r, 200)).Hint; !strings.Contains(h, "Bearer token") {
		t.Errorf("401 with a token sent: hint %q", h)
	}
}

func TestData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 200, 201} {
		s := TitleOfLen(r, n)
		if utf8.RuneCountInString(s) != n || !utf8.ValidString(s) {
			t.Errorf("TitleOfLen(%d) has %d runes", n, utf8.RuneCountInString(s))
		}
		if n == 200 && len(s) <= 200 {
			t.Errorf("a 200-rune title should be longer than 200 bytes, is %d", len(s))
		}
	}
	if a, b := Title(r), Title(r); a == b || !utf8.ValidString(a) {
		t.Errorf("titles should differ and be valid UTF-8: %q %q", a, b)
	}
	if w := Word(r, 8); len(w) != 8 || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("Word(8) = %q, want 8 lower-case letters", w)
	}
	id := RandomUUID(r)
	if !IsUUID(id) || IsUUID("123") || IsUUID(strings.ReplaceAll(id, "-", "")) {
		t.Errorf("IsUUID is wrong around %q", id)
	}
	if _, err := Time("2026-01-02T15:04:05.123+02:00"); err != nil {
		t.Error(err)
	}
	if _, err := Time("2026-01-02 15:04:05"); err == nil {
		t.Error("a non-RFC 3339 time was accepted")
	}
}

func TestNoteAndTransport(t *testing.T) {
	f := failure(t, Note(Status(resp(201, "", ""), 400), "a body without a title"))
	if !strings.HasSuffix(f.Message, "got 201 Created (a body without a title)") {
		t.Errorf("Note: %q", f.Message)
	}
	if Note(nil, "x") != nil {
		t.Error("Note(nil) must stay nil")
	}
	f = failure(t, Transport(errors.New("GET /health: no response: the connection was closed without a complete response")))
	if !strings.Contains(f.Hint, "crashed") {
		t.Errorf("a closed connection should point at a crash, hint = %q", f.Hint)
	}
	skip := grader.Skipf("no docker")
	if Transport(skip) != skip {
		t.Error("Transport must leave a Skipped alone")
	}
}

func TestTimeTakesEveryRFC3339Form(t *testing.T) {
	for _, s := range []string{"2026-01-02T15:04:05Z", "2026-01-02T15:04:05.123456789+02:00", "2026-01-02 15:04:05Z", "2026-01-02t15:04:05.5z", "2026-01-02T15:04:05-00:00"} {
		if _, err := Time(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"1767366245", "2026-01-02", "2026-01-02T15:04:05", "02/01/2026 15:04"} {
		if _, err := Time(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}
