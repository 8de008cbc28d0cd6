package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// User is a user the grader registered through the service's /register.
type User struct {
	ID       string // the token's sub
	Name     string
	Email    string
	Password string
	Token    string
}

// User returns the run's default user, registering it on first use. Checks
// of stages before auth act as this user once the run includes auth.
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
// own list) or a second party (ownership).
func (h *H) NewUser(ctx context.Context) (*User, error) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return h.register(ctx)
}

// register must be called with h.shared.mu held.
func (h *H) register(ctx context.Context) (*User, error) {
	h.shared.n++
	tag := fmt.Sprintf("%d%04d", h.shared.n, h.Rand.IntN(10000))
	u := &User{
		Name:     "Grader User " + tag,
		Email:    "grader." + tag + "@example.com",
		Password: "pw-" + tag + "-Secret!",
	}
	resp, err := h.Do(ctx, Request{Method: http.MethodPost, Path: "/register", NoAuth: true,
		JSON: map[string]string{"name": u.Name, "email": u.Email, "password": u.Password}})
	if err != nil {
		return nil, fmt.Errorf("registering a user for this check: %w", err)
	}
	if resp.Status != http.StatusCreated {
		return nil, fmt.Errorf("registering a user for this check: POST /register answered %d, expected 201 with {\"token\": ...}", resp.Status)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := resp.DecodeJSON(&body); err != nil || body.Token == "" {
		return nil, fmt.Errorf("registering a user for this check: POST /register did not return {\"token\": \"...\"}")
	}
	u.Token = body.Token
	claims, err := TokenClaims(body.Token)
	if err != nil {
		return nil, fmt.Errorf("registering a user for this check: the token from /register is not a JWT: %v", err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		if f, ok := claims["sub"].(float64); ok {
			sub = fmt.Sprintf("%.0f", f)
		}
	}
	if sub == "" {
		return nil, fmt.Errorf("registering a user for this check: the token from /register has no \"sub\" claim (the user id)")
	}
	u.ID = sub
	return u, nil
}

// TokenClaims decodes a JWT's payload without verifying it.
func TokenClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("expected three dot-separated parts, got %d", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("the payload is not base64url: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, fmt.Errorf("the payload is not a JSON object: %v", err)
	}
	return claims, nil
}
