// Package jwt reads, verifies and mints JSON Web Tokens (RFC 7519) the way
// the grader needs them: HS256 signatures with the run's JWT_SECRET, plus
// deliberately broken tokens (alg "none", a wrong key, an expired exp) to see
// whether a learner's service rejects them. It is written on crypto/hmac so
// that the grader depends on no JWT library's idea of what is acceptable.
package jwt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Claims is a token's payload.
type Claims map[string]any

// Header is a token's JOSE header.
type Header map[string]any

// Alg returns the header's "alg" ("" when missing or not a string).
func (h Header) Alg() string {
	s, _ := h["alg"].(string)
	return s
}

// Encode builds a token from header and claims. When header's alg is HS256
// the token is signed with secret; for any other alg (such as "none") the
// signature part is left empty, which is what a forged token looks like.
func Encode(header Header, claims Claims, secret []byte) (string, error) {
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding the jwt header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding the jwt claims: %w", err)
	}
	signing := b64(hb) + "." + b64(cb)
	if header.Alg() != "HS256" {
		return signing + ".", nil
	}
	return signing + "." + b64(sign(secret, signing)), nil
}

// Sign returns claims as an HS256 token signed with secret.
func Sign(secret []byte, claims Claims) (string, error) {
	return Encode(Header{"alg": "HS256", "typ": "JWT"}, claims, secret)
}

// Unsigned returns claims as an unsigned token with alg "none" (RFC 7519
// §6), which a service must never accept.
func Unsigned(claims Claims) (string, error) {
	return Encode(Header{"alg": "none", "typ": "JWT"}, claims, nil)
}

// Parse decodes a token's header and claims without verifying anything.
// The error says, in a learner's terms, what is wrong with the token's shape.
func Parse(token string) (Header, Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("a jwt has three dot-separated parts, this one has %d", len(parts))
	}
	var h Header
	if err := decodePart(parts[0], &h); err != nil {
		return nil, nil, fmt.Errorf("the header (first part) %w", err)
	}
	var c Claims
	if err := decodePart(parts[1], &c); err != nil {
		return nil, nil, fmt.Errorf("the payload (second part) %w", err)
	}
	return h, c, nil
}

// ErrSignature is returned by Verify when the signature does not match.
var ErrSignature = errors.New("the signature does not match the secret")

// Verify checks that token is an HS256 token whose signature matches secret
// and returns its claims. It does not look at exp: callers judge times
// themselves (with the service's clock skew in mind).
func Verify(token string, secret []byte) (Claims, error) {
	h, c, err := Parse(token)
	if err != nil {
		return nil, err
	}
	if alg := h.Alg(); alg != "HS256" {
		return nil, fmt.Errorf("the header says alg %q, expected \"HS256\"", alg)
	}
	parts := strings.Split(token, ".")
	sig, err := decodeB64(parts[2])
	if err != nil {
		return nil, fmt.Errorf("the signature (third part) is not base64url: %v", err)
	}
	if !hmac.Equal(sig, sign(secret, parts[0]+"."+parts[1])) {
		return nil, ErrSignature
	}
	return c, nil
}

// Time returns the NumericDate claim name (exp, iat, nbf) as a time. ok is
// false when the claim is missing or not a number (RFC 7519 §2: seconds
// since the epoch, possibly fractional). Claims decoded by Parse hold
// numbers as json.Number; claims built in Go may hold int, int64 or float64.
func (c Claims) Time(name string) (t time.Time, ok bool) {
	var f float64
	switch v := c[name].(type) {
	case json.Number:
		var err error
		if f, err = v.Float64(); err != nil {
			return time.Time{}, false
		}
	case float64:
		f = v
	case int64:
		f = float64(v)
	case int:
		f = float64(v)
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// Subject returns the sub claim as a string: a string as is, a number
// (some services use integer ids) in decimal. "" when missing.
func (c Claims) Subject() string {
	switch v := c["sub"].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return fmt.Sprintf("%.0f", v)
	}
	return ""
}

func sign(secret []byte, signing string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeB64 accepts base64url with or without padding.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func decodePart(s string, v any) error {
	raw, err := decodeB64(s)
	if err != nil {
		return fmt.Errorf("is not base64url: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // large integer ids survive a round trip
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("is not a JSON object: %v", err)
	}
	return nil
}
