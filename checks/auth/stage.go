// Package auth is stage 4 of the tasks track: users register and log in,
// receive an HS256 JWT signed with JWT_SECRET, and own their todos.
//
// The checks verify the learner's tokens with the run's secret (package
// checks/internal/jwt, written on crypto/hmac), forge tokens the service
// must refuse (alg "none", another key, a swapped payload, an expired exp),
// mint a valid one the service must accept, and read table users to see
// how passwords are stored. From this stage on the checks of earlier stages
// run as a registered user (harness.H.Auth).
package auth

import (
	_ "embed"
	"math/rand/v2"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// SecretVar is the variable holding the key tokens are signed with.
const SecretVar = "JWT_SECRET"

const secretChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newSecret returns a random 40 to 56 character secret.
func newSecret(r *rand.Rand) string {
	b := make([]byte, 40+r.IntN(17))
	for i := range b {
		b[i] = secretChars[r.IntN(len(secretChars))]
	}
	return string(b)
}

// What the checks below look into themselves (grader.Check.Needs).
var (
	needsPostgres = []grader.Service{grader.Postgres}
)

// Stage is the auth stage.
var Stage = grader.Stage{
	ID:       "auth",
	Title:    "Users and JWT",
	Spec:     spec,
	Services: []grader.Service{grader.Postgres},
	Session:  true,
	Env: func(r *rand.Rand) map[string]string {
		return map[string]string{SecretVar: newSecret(r)}
	},
	Checks: []grader.Check{
		{ID: "auth.register-login", Title: "POST /register answers 201 {token}, POST /login 200 {token}", Points: 2,
			Skills: []string{skills.Auth}, Run: registerLogin},
		{ID: "auth.unauthorized", Title: "/todos without a valid Bearer token answers 401 {\"message\":\"Unauthorized\"}", Points: 2,
			Skills: []string{skills.Auth}, Run: unauthorized},
		{ID: "auth.token-claims", Title: "Tokens are HS256 with JWT_SECRET, sub = users.id, exp within 24 h", Points: 2,
			Skills: []string{skills.JWT}, Needs: needsPostgres, Run: tokenClaims},
		{ID: "auth.forged-tokens", Title: "Unsigned, wrongly signed and tampered tokens are refused", Points: 3,
			Skills: []string{skills.JWT, skills.Auth}, Run: forgedTokens},
		{ID: "auth.expired-token", Title: "An expired token is refused", Points: 2,
			Skills: []string{skills.JWT}, Run: expiredToken},
		{ID: "auth.grader-token", Title: "A token the grader signs with JWT_SECRET is accepted", Points: 2,
			Skills: []string{skills.JWT}, Run: graderToken},
		{ID: "auth.ownership", Title: "Another user's todo: PUT/PATCH/DELETE 403 {\"message\":\"Forbidden\"}, GET 403 or 404", Points: 3,
			Skills: []string{skills.Authorization}, Run: ownership},
		{ID: "auth.list-isolation", Title: "A user's list holds only their own todos", Points: 2,
			Skills: []string{skills.Authorization}, Run: listIsolation},
		{ID: "auth.owner-id-ignored", Title: "An ownerId in the body of POST /todos is ignored", Points: 1,
			Skills: []string{skills.Authorization}, Needs: needsPostgres, Run: ownerIDIgnored},
		{ID: "auth.password-hashed", Title: "Passwords are stored as salted slow hashes", Points: 2,
			Skills: []string{skills.PasswordHash}, Needs: needsPostgres, Run: passwordHashed},
		{ID: "auth.duplicate-email", Title: "A registered e-mail, in any case, answers 409", Points: 1,
			Skills: []string{skills.Auth, skills.Validation}, Run: duplicateEmail},
		{ID: "auth.register-validation", Title: "A bad e-mail or a short password answers 400", Points: 1,
			Skills: []string{skills.Validation}, Run: registerValidation},
		{ID: "auth.login-failures", Title: "Unknown e-mail and wrong password: the same 401", Points: 2,
			Skills: []string{skills.Auth}, Run: loginFailures},
		{ID: "auth.no-password-in-response", Title: "No answer contains the password or its hash", Points: 1,
			Skills: []string{skills.PasswordHash}, Run: noPasswordInResponse},
	},
}
