package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/jwt"
	"github.com/backend-grader/grader/checks/internal/todos"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// secret is the run's JWT_SECRET, as the service received it.
func secret(h *harness.H) ([]byte, error) {
	s := h.Env[SecretVar]
	if s == "" {
		return nil, grader.Errorf("the service was started without %s (a grader bug: the auth stage sets it)", SecretVar)
	}
	return []byte(s), nil
}

// credentials are what a check registers with when it needs to see the raw
// answers of /register and /login (h.NewUser hides them).
type credentials struct {
	Name, Email, Password string
}

// newCredentials makes a unique account: a neutral name, a lower-case
// e-mail and a password drawn from the seed (harness.NewPerson), with a
// non-ASCII letter in the name.
func newCredentials(h *harness.H) credentials {
	tag := fmt.Sprintf("%06d", h.Rand.IntN(1000000))
	p := harness.NewPerson(h.Rand, tag)
	return credentials{Name: p.Name + " Müller", Email: p.Email, Password: p.Password}
}

func (c credentials) body() map[string]string {
	return map[string]string{"name": c.Name, "email": c.Email, "password": c.Password}
}

// register posts c to /register and returns the response.
func register(ctx context.Context, h *harness.H, body any) (*harness.Response, error) {
	return h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/register", NoAuth: true, JSON: body})
}

// login posts email and password to /login.
func login(ctx context.Context, h *harness.H, email, password string) (*harness.Response, error) {
	return h.Do(ctx, harness.Request{Method: http.MethodPost, Path: "/login", NoAuth: true,
		JSON: map[string]string{"email": email, "password": password}})
}

// tokenFrom reads {"token": "..."} from resp, which must have status want:
// the exact form auth.register-login grades (and only it).
func tokenFrom(resp *harness.Response, want int) (string, error) {
	if err := expect.Status(resp, want); err != nil {
		return "", err
	}
	if err := expect.JSONContentType(resp); err != nil {
		return "", err
	}
	m, err := expect.Object(resp)
	if err != nil {
		return "", err
	}
	tok, _ := m["token"].(string)
	if tok == "" {
		if _, at := harness.FindTokenAt(resp.Body); at != "" {
			return "", grader.Failf(`%s: expected the token at $.token, found it at %s`, expect.Request(resp), at).
				WithHint(`answer {"token": "..."} with the JWT under the top-level key "token"`)
		}
		return "", grader.Failf(`%s: expected a body {"token": "<jwt>"}, got %s`, expect.Request(resp), expect.Show(m)).
			WithHint(`answer {"token": "..."} with the JWT under the key "token"`)
	}
	if _, _, err := jwt.Parse(tok); err != nil {
		return "", grader.Failf("%s: the token is not a JWT: %v", expect.Request(resp), err).
			WithHint("a JWT is three base64url parts joined by dots: header.payload.signature; use a JWT library or RFC 7519")
	}
	return tok, nil
}

// anyToken reads a token from a register or login answer as setup does:
// any 2xx, the token at the top level or under "data", under any of the
// usual names ("" when there is none). Another status blocks the check by
// auth.register-login, which grades the exact form.
func anyToken(resp *harness.Response) (string, error) {
	if resp.Status < 200 || resp.Status > 299 {
		what := "registering a user failed"
		if strings.HasSuffix(resp.Path, "/login") {
			what = "logging in failed"
		}
		return "", grader.Blockedf(harness.RegisterCheck, "%s: %s answered %s", what, expect.Request(resp), expect.StatusText(resp.Status)).
			WithHint("this check needs POST /register and POST /login to work: see auth.register-login")
	}
	return harness.FindToken(resp.Body), nil
}

// noToken blocks a check whose register and login gave no token.
func noToken() error {
	return grader.Blockedf(harness.RegisterCheck, `neither POST /register nor POST /login answered with a token (looked for "token", "accessToken", "access_token" or "jwt" at the top level and under "data")`).
		WithHint("this check needs the tokens of POST /register and POST /login: see auth.register-login")
}

// rawSub is the sub claim of tok exactly as the service wrote it (a string
// or a number), for tokens the grader mints for the same user.
func rawSub(tok string) any {
	_, c, err := jwt.Parse(tok)
	if err != nil {
		return nil
	}
	return c["sub"]
}

// mint signs claims {sub, iat, exp} for u with key, exp relative to now.
func mint(key []byte, u *harness.User, iat, exp time.Duration) (string, error) {
	now := time.Now()
	return jwt.Sign(key, jwt.Claims{"sub": rawSub(u.Token), "iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()})
}

// todo is a todo as the API returns it (with the owner, when shown).
type todo struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Status  string `json:"status"`
	OwnerID any    `json:"ownerId"`
}

// twoUsers registers two fresh users (each with an empty list of their
// own): the first and the second party of an ownership check.
func twoUsers(ctx context.Context, h *harness.H) (*harness.User, *harness.User, error) {
	a, err := h.NewUser(ctx)
	if err != nil {
		return nil, nil, err
	}
	b, err := h.NewUser(ctx)
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// createAs posts a todo with token (the default user's when ""), as a step
// that prepares the check: a todo that cannot be had blocks it by
// rest.create.
func createAs(ctx context.Context, h *harness.H, token string, body map[string]any) (todo, error) {
	_, t, err := todos.Create[todo](ctx, h, token, body)
	if err != nil {
		return todo{}, err
	}
	return t, nil
}

// listIDs fetches GET path with token and returns the ids and total.
func listIDs(ctx context.Context, h *harness.H, token, path string) ([]string, int, error) {
	_, l, err := todos.Send[struct {
		Data  []todo `json:"data"`
		Total int    `json:"total"`
	}](ctx, h, harness.Request{Path: path, Token: token}, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	ids := []string{}
	for _, t := range l.Data {
		ids = append(ids, t.ID)
	}
	return ids, l.Total, nil
}

// exactBody fails unless resp's body decodes to exactly want.
func exactBody(resp *harness.Response, want map[string]any, hint string) error {
	got, err := resp.JSON()
	if err != nil {
		return grader.Failf("%s: expected the body %s, got %s: %v", expect.Request(resp), expect.Show(want), expect.StatusText(resp.Status), err).WithHint("%s", hint)
	}
	if d := expect.Diff(want, got); d != "" {
		return grader.Failf("%s: expected exactly the body %s%s", expect.Request(resp), expect.Show(want), d).WithHint("%s", hint)
	}
	return nil
}

// mixedCase changes the case of letters of s at random, at least one.
func mixedCase(h *harness.H, s string) string {
	for range 100 {
		b := []byte(s)
		for i, c := range b {
			if c >= 'a' && c <= 'z' && h.Rand.IntN(2) == 0 {
				b[i] = c - 'a' + 'A'
			}
		}
		if string(b) != s {
			return string(b)
		}
	}
	return strings.ToUpper(s)
}
