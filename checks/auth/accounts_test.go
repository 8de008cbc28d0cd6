package auth

import (
	"net/http"
	"testing"

	"github.com/backend-grader/grader/internal/harness"
)

func TestHashFormats(t *testing.T) {
	known := map[string]string{
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy":                             "bcrypt",
		"$2b$12$KIXQJX8y1Qf5Jt5Pq9Jb8uQeT9l2rVv8Y6z3b2Qk9X1Y7mQJQ9E2m":                             "bcrypt",
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG":              "argon2",
		"$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E": "scrypt",
		"scrypt:32768:8:1$salt$abcdef":                                                             "scrypt",
		"$pbkdf2-sha256$29000$N2bMWYuxVgpBaK11zjkn5A$abc":                                          "pbkdf2",
		"pbkdf2:sha256:600000$salt$abcdef":                                                         "pbkdf2",
		"pbkdf2_sha256$870000$salt$abc=":                                                           "pbkdf2",
	}
	for v, want := range known {
		got := ""
		for _, f := range hashFormats {
			if f.re.MatchString(v) {
				got = f.name
			}
		}
		if got != want {
			t.Errorf("%q: recognised as %q, want %q", v, got, want)
		}
	}
	for _, v := range []string{"pw-1234-Secret!", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "$2a$short", ""} {
		for _, f := range hashFormats {
			if f.re.MatchString(v) {
				t.Errorf("%q must not count as a %s hash", v, f.name)
			}
		}
	}
}

func TestLeaks(t *testing.T) {
	resp := func(body string) *harness.Response {
		return &harness.Response{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body), Method: "POST", Path: "/register"}
	}
	if err := leaks(resp(`{"token":"a.b.c"}`), "Secret-123"); err != nil {
		t.Errorf("a token-only body leaks nothing: %v", err)
	}
	for _, body := range []string{
		`{"token":"a.b.c","user":{"password":"Secret-123"}}`,
		`{"token":"a.b.c","user":{"passwordHash":"x"}}`,
		`{"token":"a.b.c","hash":"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}`,
		`[{"id":1,"Password":"x"}]`,
	} {
		if err := leaks(resp(body), "Secret-123"); err == nil {
			t.Errorf("%s: no leak found", body)
		}
	}
}
