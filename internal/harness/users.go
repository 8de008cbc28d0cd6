package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/backend-grader/grader/internal/verdict"
)

// The checks that grade what setup needs along the way; a check that
// cannot have its user or its todo is blocked by them.
const (
	// RegisterCheck grades POST /register and POST /login.
	RegisterCheck = "auth.register-login"
	// CreateCheck grades POST /todos.
	CreateCheck = "rest.create"
	// LimitCheck grades the rate limit read from the environment: a 429
	// during setup is its cause.
	LimitCheck = "rate-limiting.limit"
)

// User is a user the grader registered through the service's /register.
type User struct {
	ID       string // the token's sub, as a string ("" when the token is not a JWT with a sub)
	Name     string
	Email    string
	Password string
	Token    string
}

// User returns the run's default user, registering it on first use. Checks
// of stages before auth act as this user once the run includes auth.
//
// Registering is lenient (any 2xx; the token at the top level or under
// "data"; when register gives none, POST /login is tried): auth.register-login
// grades the exact form. When a user cannot be had the error is a
// *verdict.Precondition blocked by that check, and the run remembers it, so
// that later checks are blocked at once instead of registering again.
func (h *H) User(ctx context.Context) (*User, error) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	if h.shared.user != nil {
		return h.shared.user, nil
	}
	u, err := h.register(ctx)
	if err != nil {
		return nil, err
	}
	h.shared.user = u
	return u, nil
}

// NewUser registers a fresh user, for checks that need a clean view (their
// own list) or a second party (ownership). Its errors are User's.
func (h *H) NewUser(ctx context.Context) (*User, error) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return h.register(ctx)
}

// register must be called with h.shared.mu held.
func (h *H) register(ctx context.Context) (*User, error) {
	if p := h.shared.regFailed; p != nil {
		h.Record("note", "registering a user for this check", "not tried again: "+p.Reason)
		return nil, &verdict.Precondition{By: p.By, Reason: p.Reason, Hint: p.Hint}
	}
	h.shared.n++
	tag := fmt.Sprintf("%d%04d", h.shared.n, h.Rand.IntN(10000))
	p := NewPerson(h.Rand, tag)
	u := &User{Name: p.Name, Email: p.Email, Password: p.Password}
	tok, err := h.obtainToken(ctx, u)
	if err != nil {
		if p, ok := err.(*verdict.Precondition); ok && p.By == RegisterCheck {
			h.shared.regFailed = p
		}
		return nil, err
	}
	u.Token = tok
	u.ID = subject(tok)
	if h.shared.tokens == nil {
		h.shared.tokens = map[string]bool{}
	}
	h.shared.tokens[tok] = true
	return u, nil
}

// loginToken reports whether tok is one register or login gave.
func (h *H) loginToken(tok string) bool {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return h.shared.tokens[tok]
}

// obtainToken registers u and returns its token, logging in when register
// answers without one.
func (h *H) obtainToken(ctx context.Context, u *User) (string, error) {
	resp, err := h.Do(ctx, Request{Method: http.MethodPost, Path: "/register", NoAuth: true,
		JSON: map[string]string{"name": u.Name, "email": u.Email, "password": u.Password}})
	if err != nil {
		return "", err
	}
	if err := setupStatus(resp); err != nil {
		return "", err
	}
	if tok := FindToken(resp.Body); tok != "" {
		return tok, nil
	}
	login, err := h.Do(ctx, Request{Method: http.MethodPost, Path: "/login", NoAuth: true,
		JSON: map[string]string{"email": u.Email, "password": u.Password}})
	if err != nil {
		return "", err
	}
	if err := setupStatus(login); err != nil {
		return "", err
	}
	if tok := FindToken(login.Body); tok != "" {
		return tok, nil
	}
	return "", verdict.Blockedf(RegisterCheck,
		"registering a user failed: neither POST /register (%s) nor POST /login (%s) answered with a token (looked for %s at the top level and under \"data\")",
		statusText(resp.Status), statusText(login.Status), tokenKeysText).
		WithHint(`answer POST /register with 201 {"token": "<jwt>"} and POST /login with 200 {"token": "<jwt>"}`)
}

// setupStatus blocks on a register or login answer that is not a 2xx.
func setupStatus(resp *Response) error {
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		return nil
	case resp.Status == http.StatusTooManyRequests:
		return verdict.Blockedf(LimitCheck, "registering a user failed: %s %s answered 429 Too Many Requests", resp.Method, resp.Path).
			WithHint("the service limited the grader's setup requests: read the limit from RATE_LIMIT_REQUESTS and RATE_LIMIT_WINDOW_SECONDS, which the grader sets generously outside the rate-limiting stage")
	}
	return verdict.Blockedf(RegisterCheck, "registering a user failed: %s %s answered %s", resp.Method, resp.Path, statusText(resp.Status)).
		WithHint("every check that acts as a user needs POST /register and POST /login to work: see auth.register-login")
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// TokenKeys are the names a token is found under, in this order.
var TokenKeys = []string{"token", "accessToken", "access_token", "jwt"}

const tokenKeysText = `"token", "accessToken", "access_token" or "jwt"`

// FindToken returns the token in a register or login body: a non-empty
// string under one of TokenKeys at the top level or under "data" ("" when
// there is none).
func FindToken(body []byte) string {
	tok, _ := FindTokenAt(body)
	return tok
}

// FindTokenAt is FindToken that also says where the token was, as a JSON
// path ("$.token", "$.data.accessToken").
func FindTokenAt(body []byte) (string, string) {
	tree, err := ParseJSON(body)
	if err != nil {
		return "", ""
	}
	top, _ := tree.(map[string]any)
	for _, scope := range []struct {
		path string
		m    map[string]any
	}{{"$", top}, {"$.data", asObject(top["data"])}} {
		for _, k := range TokenKeys {
			if s, ok := scope.m[k].(string); ok && strings.TrimSpace(s) != "" {
				return s, scope.path + "." + k
			}
		}
	}
	return "", ""
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// subject is the token's sub claim as a string (a number is written as
// it stands), or "" when tok is not a JWT with a sub.
func subject(tok string) string {
	claims, err := TokenClaims(tok)
	if err != nil {
		return ""
	}
	switch s := claims["sub"].(type) {
	case string:
		return s
	case json.Number:
		return s.String()
	case float64:
		return fmt.Sprintf("%.0f", s)
	}
	return ""
}

// TokenClaims decodes a JWT's payload without verifying it. Numbers are
// json.Number.
func TokenClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("expected three dot-separated parts, got %d", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("the payload is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, fmt.Errorf("the payload is not a JSON object")
	}
	return claims, nil
}

// TokenClaimsCheck grades the claims of the service's tokens (sub among them).
const TokenClaimsCheck = "auth.token-claims"

// NeedID returns nil when the user's id is known (the token is a JWT with
// a sub claim), else an error that blocks the check by auth.token-claims,
// for checks that must name the user (an owner_id, an ownerId).
func (u *User) NeedID() error {
	if u.ID != "" {
		return nil
	}
	return verdict.Blockedf(TokenClaimsCheck, "the token of a registered user carries no sub claim, so the grader cannot tell the user's id").
		WithHint("put the user's id in the token's sub claim: see auth.token-claims")
}
