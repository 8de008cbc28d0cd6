package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/checks/internal/jwt"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

var unauthorizedBody = map[string]any{"message": "Unauthorized"}

// unauthorized: /todos routes without a valid Bearer token answer 401
// {"message":"Unauthorized"}: no header, a token that is not a JWT, a valid
// token without the "Bearer" scheme, "Bearer" with nothing after it.
func unauthorized(ctx context.Context, h *harness.H) error {
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	t, err := createAs(ctx, h, u.Token, map[string]any{"title": expect.Title(h.Rand)})
	if err != nil {
		return err
	}
	garbage := "not-a-jwt." + expect.Word(h.Rand, 12)
	cases := []struct {
		what   string
		req    harness.Request
		reason string
	}{
		{"no Authorization header", harness.Request{Path: "/todos", NoAuth: true},
			"every /todos route needs a token: check the Authorization header before the handler runs"},
		{"no Authorization header", harness.Request{Method: http.MethodPost, Path: "/todos", NoAuth: true, JSON: map[string]string{"title": "anonymous"}},
			"POST /todos needs a token too: put the check in a middleware in front of every /todos route"},
		{"a token that is not a JWT", harness.Request{Path: "/todos/" + t.ID, Token: garbage},
			"a token that does not parse or verify is refused with 401, never a 500 or a pass"},
		{"the user's valid token without the Bearer scheme", harness.Request{Method: http.MethodDelete, Path: "/todos/" + t.ID, NoAuth: true,
			Header: http.Header{"Authorization": {u.Token}}},
			`the header must read "Authorization: Bearer <token>": refuse it when the "Bearer " prefix is missing instead of trimming it optionally`},
		{`"Bearer" without a token`, harness.Request{Method: http.MethodPatch, Path: "/todos/" + t.ID, NoAuth: true,
			Header: http.Header{"Authorization": {"Bearer"}}, JSON: map[string]string{"title": "x"}},
			"an Authorization header without a token is refused with 401"},
	}
	order := h.Rand.Perm(len(cases))
	for _, i := range order {
		c := cases[i]
		resp, err := h.Do(ctx, c.req)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusUnauthorized {
			return grader.Failf("%s with %s: expected 401 Unauthorized, got %s", expect.Request(resp), c.what, expect.StatusText(resp.Status)).WithHint("%s", c.reason)
		}
		if err := exactBody(resp, unauthorizedBody, `answer every refused token with exactly {"message":"Unauthorized"}`); err != nil {
			return err
		}
	}
	return nil
}

// tokenClaims: the token from /register and the one from /login verify
// with JWT_SECRET (HS256), carry sub = users.id of the e-mail, and expire
// after now and within 24 hours.
func tokenClaims(ctx context.Context, h *harness.H) error {
	key, err := secret(h)
	if err != nil {
		return err
	}
	c := newCredentials(h)
	resp, err := register(ctx, h, c.body())
	if err != nil {
		return err
	}
	// The form of the answers is auth.register-login's subject: here any
	// 2xx will do, with the token where projects commonly put it.
	regTok, err := anyToken(resp)
	if err != nil {
		return err
	}
	resp, err = login(ctx, h, c.Email, c.Password)
	if err != nil {
		return err
	}
	loginTok, err := anyToken(resp)
	if err != nil {
		return err
	}
	if regTok == "" && loginTok == "" {
		return noToken()
	}
	tab, err := usersTable(ctx, h, &harness.User{Email: c.Email}, false)
	if err != nil {
		return err
	}
	rows, err := h.Query(ctx, "SELECT "+tab.Col("id")+"::text AS id FROM "+tab.Ident()+" WHERE lower("+tab.Col("email")+"::text) = lower($1)", c.Email)
	if err != nil {
		return grader.Errorf("reading the user from table %s: %v", tab.Shown, err)
	}
	if len(rows) != 1 {
		return grader.Blockedf(passwordHashedID, "table %s has %d rows with e-mail %s, expected 1", tab.Shown, len(rows), c.Email).
			WithHint("POST /register stores each user once, with the e-mail as sent")
	}
	userID, _ := rows[0]["id"].(string)
	for _, x := range []struct{ from, tok string }{{"POST /register", regTok}, {"POST /login", loginTok}} {
		if x.tok == "" {
			continue // one of the two answered without a token; register-login says so
		}
		h.Record("note", "verify the token from "+x.from+" with JWT_SECRET (HS256)", x.tok)
		claims, err := jwt.Verify(x.tok, key)
		if errors.Is(err, jwt.ErrSignature) {
			return grader.Failf("the token from %s is not signed with JWT_SECRET: its HS256 signature does not match", x.from).
				WithHint("sign tokens with the secret in the environment variable JWT_SECRET (read it at start-up; never hard-code a key)")
		}
		if err != nil {
			return grader.Failf("the token from %s does not verify: %v", x.from, err).
				WithHint("issue HS256 tokens signed with JWT_SECRET")
		}
		if sub := claims.Subject(); sub != userID {
			return grader.Failf("the token from %s has sub %q, but the user's id in %s is %q", x.from, sub, tab.Name("id"), userID).
				WithHint("put the user's id (users.id) in the sub claim, as a string")
		}
		exp, ok := claims.Time("exp")
		now := time.Now()
		switch {
		case !ok:
			return grader.Failf("the token from %s has no numeric exp claim", x.from).
				WithHint("give every token an expiry: exp, in seconds since the epoch, at most 24 hours ahead")
		case !exp.After(now):
			return grader.Failf("the token from %s has already expired: its exp is %s in the past", x.from, approx(now.Sub(exp))).
				WithHint("exp is in seconds (not milliseconds) since the epoch, in the future")
		case exp.After(now.Add(24*time.Hour + time.Minute)):
			return grader.Failf("the token from %s expires in %s, more than 24 hours from now", x.from, approx(exp.Sub(now))).
				WithHint("keep tokens short-lived: exp at most 24 hours after issue (a stolen token stays useful until then)")
		}
	}
	return nil
}

// checkAccepted fails unless the user's own token lists todos; checks of
// refused tokens start with it so that a 401 means what it seems to.
func checkAccepted(ctx context.Context, h *harness.H, u *harness.User) error {
	resp, err := h.Do(ctx, harness.Request{Path: "/todos", Token: u.Token})
	if err != nil {
		return err
	}
	return expect.Hint(expect.Status(resp, http.StatusOK), "GET /todos with the token /register returned must work")
}

// refused fails unless GET /todos with tok answers 401.
func refused(ctx context.Context, h *harness.H, tok, what, hint string) error {
	h.Record("note", "a forged token: "+what, tok)
	resp, err := h.Do(ctx, harness.Request{Path: "/todos", Token: tok})
	if err != nil {
		return err
	}
	if resp.Status != http.StatusUnauthorized {
		return grader.Failf("GET /todos with %s: expected 401 Unauthorized, got %s", what, expect.StatusText(resp.Status)).WithHint("%s", hint)
	}
	return nil
}

// forgedTokens: tokens the service did not sign are refused: alg "none",
// HS256 with another key, and the user's own token with its payload
// changed to another user's id.
func forgedTokens(ctx context.Context, h *harness.H) error {
	u, other, err := twoUsers(ctx, h)
	if err != nil {
		return err
	}
	if err := checkAccepted(ctx, h, u); err != nil {
		return err
	}
	now := time.Now()
	claims := jwt.Claims{"sub": rawSub(u.Token), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	none, err := jwt.Unsigned(claims)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	wrongKey := []byte("not-the-secret-" + expect.Word(h.Rand, 24))
	wrong, err := jwt.Sign(wrongKey, claims)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	// The user's own header and signature around another user's payload.
	tampered, err := swapPayload(u.Token, other.Token)
	if err != nil {
		return grader.Errorf("forging a token: %v", err)
	}
	// The "none" algorithm in another spelling, another HMAC algorithm with
	// a signature of nothing in particular, and HS256 without a signature:
	// a service that refuses only the exact form of one probe still falls.
	spelling := []string{"None", "NONE", "nOnE"}[h.Rand.IntN(3)]
	noneCased, err := jwt.Encode(jwt.Header{"alg": spelling, "typ": "JWT"}, claims, nil)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	hs512, err := jwt.Encode(jwt.Header{"alg": "HS512", "typ": "JWT"}, claims, nil)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	hs512 += base64.RawURLEncoding.EncodeToString([]byte(expect.Word(h.Rand, 64)))
	noSig := strings.TrimSuffix(wrong, wrong[strings.LastIndex(wrong, ".")+1:])
	cases := []struct{ tok, what, hint string }{
		{noneCased, fmt.Sprintf(`an unsigned token (header alg %q, no signature)`, spelling),
			`accept only alg HS256 and always check the signature: "none" in any spelling must be refused`},
		{hs512, `a token whose header says alg "HS512", with a signature made of nothing`,
			"accept only the algorithm you sign with (HS256) and verify its signature: never let the token's header choose how it is checked"},
		{noSig, `a token whose header says alg "HS256", with an empty signature`,
			"verify the HS256 signature with JWT_SECRET: a token without one must be refused"},
		{none, `an unsigned token (header alg "none", no signature)`,
			`accept only alg HS256 and always check the signature: a token whose header says "none" must be refused`},
		{wrong, "a token signed with another key",
			"verify the HS256 signature with JWT_SECRET before trusting any claim: decoding a token is not verifying it"},
		{tampered, "the user's token with its payload swapped for another user's (signature unchanged)",
			"the signature covers header and payload: verify it, or anyone can change the sub claim and act as someone else"},
	}
	for _, i := range h.Rand.Perm(len(cases)) {
		c := cases[i]
		if err := refused(ctx, h, c.tok, c.what, c.hint); err != nil {
			return err
		}
	}
	return nil
}

// swapPayload puts the payload of b between the header and signature of a.
func swapPayload(a, b string) (string, error) {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return "", errors.New("the tokens do not have three parts")
	}
	return pa[0] + "." + pb[1] + "." + pa[2], nil
}

// expiredToken: a token signed with JWT_SECRET whose exp has passed is
// refused.
func expiredToken(ctx context.Context, h *harness.H) error {
	key, err := secret(h)
	if err != nil {
		return err
	}
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	if err := checkAccepted(ctx, h, u); err != nil {
		return err
	}
	tok, err := mint(key, u, -2*time.Hour, -time.Hour)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	return refused(ctx, h, tok, "a token signed with JWT_SECRET that expired an hour ago",
		"check exp on every request and refuse a token whose exp has passed (many JWT libraries only do so when asked)")
}

// graderToken: a token the grader signs with JWT_SECRET for the user ({sub,
// iat, exp}) is accepted and acts as that user.
func graderToken(ctx context.Context, h *harness.H) error {
	key, err := secret(h)
	if err != nil {
		return err
	}
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	t, err := createAs(ctx, h, u.Token, map[string]any{"title": expect.Title(h.Rand)})
	if err != nil {
		return err
	}
	// An exp of its own, so that the token differs from any the service issued.
	tok, err := mint(key, u, 0, time.Duration(20+h.Rand.IntN(30))*time.Minute+time.Duration(h.Rand.IntN(60))*time.Second)
	if err != nil {
		return grader.Errorf("minting a token: %v", err)
	}
	h.Record("note", "a token minted by the grader: {sub, iat, exp} of the user, HS256 with JWT_SECRET", tok)
	resp, err := h.Do(ctx, harness.Request{Path: "/todos/" + t.ID, Token: tok})
	if err != nil {
		return err
	}
	if resp.Status == http.StatusUnauthorized {
		return grader.Failf("GET /todos/%s with a token the grader signed with JWT_SECRET for the same user: 401 Unauthorized", t.ID).
			WithHint("accept any HS256 token signed with JWT_SECRET whose exp is in the future and whose sub is a user id; do not require claims beyond sub, iat and exp, or tokens remembered by the server")
	}
	if err := expect.Status(resp, http.StatusOK); err != nil {
		return expect.Hint(err, "a valid token for the todo's owner must let them read it: take the user id from the token's sub claim")
	}
	return nil
}

// approx renders a duration to the minute ("168h0m"), or in seconds when
// shorter, so that messages do not change from one second to the next.
func approx(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}
