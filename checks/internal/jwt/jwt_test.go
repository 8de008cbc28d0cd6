package jwt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Sign and Verify agree with each other, and a wrong key is ErrSignature.
func TestSignVerifyRoundTrip(t *testing.T) {
	secret := []byte("a-secret-of-at-least-thirty-two-chars!")
	tok, err := Sign(secret, Claims{"sub": "u-1", "exp": 2000000000})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(tok, secret)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Subject() != "u-1" {
		t.Errorf("sub = %q", c.Subject())
	}
	exp, ok := c.Time("exp")
	if !ok || !exp.Equal(time.Unix(2000000000, 0)) {
		t.Errorf("exp = %v %v", exp, ok)
	}
	if _, err := Verify(tok, []byte("another key")); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong key: err = %v, want ErrSignature", err)
	}
}

// The well-known example token of jwt.io (secret "your-256-bit-secret")
// proves the signature is computed as every library computes it.
func TestVerifyKnownToken(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	c, err := Verify(tok, []byte("your-256-bit-secret"))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Subject() != "1234567890" || c["name"] != "John Doe" {
		t.Errorf("claims = %v", c)
	}
	iat, ok := c.Time("iat")
	if !ok || iat.Unix() != 1516239022 {
		t.Errorf("iat = %v %v", iat, ok)
	}
}

func TestUnsignedAndTampered(t *testing.T) {
	tok, err := Unsigned(Claims{"sub": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tok, ".") || strings.Count(tok, ".") != 2 {
		t.Fatalf("unsigned token %q: want an empty third part", tok)
	}
	h, c, err := Parse(tok)
	if err != nil || h.Alg() != "none" || c.Subject() != "x" {
		t.Fatalf("parse: %v %v %v", h, c, err)
	}
	if _, err := Verify(tok, []byte("k")); err == nil || !strings.Contains(err.Error(), `"none"`) {
		t.Errorf("verify alg none: err = %v", err)
	}

	secret := []byte("k")
	good, _ := Sign(secret, Claims{"sub": "a"})
	parts := strings.Split(good, ".")
	other, _ := Sign(secret, Claims{"sub": "b"})
	forged := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	if _, err := Verify(forged, secret); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered payload: err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tok := range []string{"", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.", "bm90IGpzb24.e30."} {
		if _, _, err := Parse(tok); err == nil {
			t.Errorf("Parse(%q): no error", tok)
		}
	}
}

func TestLargeNumericSubjectSurvives(t *testing.T) {
	tok, _ := Sign([]byte("k"), Claims{"sub": json.Number("123456789012345678901")})
	_, c, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject() != "123456789012345678901" {
		t.Errorf("sub = %q", c.Subject())
	}
	again, _ := Sign([]byte("k"), c)
	if again != tok {
		t.Errorf("re-signing the parsed claims changed the token")
	}
}

func TestTimeClaimKinds(t *testing.T) {
	c := Claims{"a": 10, "b": int64(11), "c": 12.5, "d": json.Number("13"), "e": "14"}
	for name, want := range map[string]int64{"a": 10, "b": 11, "c": 12, "d": 13} {
		got, ok := c.Time(name)
		if !ok || got.Unix() != want {
			t.Errorf("%s: %v %v", name, got, ok)
		}
	}
	if _, ok := c.Time("e"); ok {
		t.Errorf("a string exp must not count as a time")
	}
	if _, ok := c.Time("missing"); ok {
		t.Errorf("a missing claim must not count as a time")
	}
}
