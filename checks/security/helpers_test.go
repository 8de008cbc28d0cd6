package security

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/harness"
)

func TestLeakFindsInternals(t *testing.T) {
	leaky := []string{
		`{"message":"ERROR: invalid input syntax for type uuid: \"x\" (SQLSTATE 22P02)"}`,
		`{"message":"pq: syntax error at or near \"OR\""}`,
		`{"error":"Traceback (most recent call last):\n  File \"/app/main.py\", line 12, in get"}`,
		`panic: runtime error: index out of range [3] with length 3`,
		`{"stack":"TypeError: x\n    at Object.<anonymous> (/app/server.js:10:5)"}`,
		`{"message":"relation \"todos\" does not exist"}`,
	}
	for _, b := range leaky {
		if leak([]byte(b)) == "" {
			t.Errorf("leak(%s) found nothing", b)
		}
	}
	clean := []string{
		`{"message":"todo not found"}`,
		`{"message":"validation failed","errors":{"title":"must be a string"}}`,
		`{"message":"malformed JSON: invalid character '}' looking for beginning of value"}`,
		`{"message":"sort must be createdAt or -createdAt"}`,
	}
	for _, b := range clean {
		if l := leak([]byte(b)); l != "" {
			t.Errorf("leak(%s) = %q, want nothing", b, l)
		}
	}
}

func TestNotSequential(t *testing.T) {
	for _, ids := range [][]string{
		{"41", "42"},
		{"00000000-0000-4000-8000-000000000041", "00000000-0000-4000-8000-000000000042"},
	} {
		if notSequential("todo", ids) == nil {
			t.Errorf("%v: want a failure", ids)
		}
	}
	for _, ids := range [][]string{
		{"0b5e7c1a-54a4-4a43-9d0e-2f8b1a7f6c11", "9d1f0a3e-7b8c-4e2d-a1f0-3c4b5d6e7f80"},
		{"01890a5d-ac96-774b-bcce-b302099a8057", "01890a5d-ac96-774b-bcce-b302099a8058"}, // v7 made monotonic by +1 (RFC 9562 method 2)
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW"},                     // a monotonic ULID: not hex
	} {
		if err := notSequential("todo", ids); err != nil {
			t.Errorf("%v: %v", ids, err)
		}
	}
}

func TestCSPAndHeaders(t *testing.T) {
	ok := http.Header{}
	ok.Set("X-Content-Type-Options", "nosniff")
	ok.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if p := headerProblems(resp(ok)); len(p) != 0 {
		t.Errorf("CSP frame-ancestors 'none' should do instead of X-Frame-Options: %v", p)
	}
	bad := http.Header{}
	bad.Set("X-Frame-Options", "SAMEORIGIN")
	bad.Set("Content-Security-Policy", "default-src 'self'")
	if p := headerProblems(resp(bad)); len(p) != 3 {
		t.Errorf("want 3 problems, got %v", p)
	}
}

func TestEnvOrigins(t *testing.T) {
	for seed := range uint64(50) {
		env := Stage.Env(rand.New(rand.NewPCG(seed, 1)))
		os := strings.Split(env[OriginsVar], ",")
		if len(os) < 1 || len(os) > 2 {
			t.Fatalf("%d origins", len(os))
		}
		for _, o := range os {
			if !strings.HasPrefix(o, "https://app-") || !strings.HasSuffix(o, ".example.org") {
				t.Fatalf("origin %q", o)
			}
		}
	}
}

func resp(h http.Header) *harness.Response { return &harness.Response{Status: 200, Header: h} }
