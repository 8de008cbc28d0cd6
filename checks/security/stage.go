// Package security is stage 6 of the tasks track: OWASP basics. The checks
// send what attackers send (SQL metacharacters, script tags, foreign
// origins, oversized bodies, malformed input) and look at what comes back,
// in the responses and in the database.
package security

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// OriginsVar lists the origins allowed to call the API from a browser.
const OriginsVar = "CORS_ALLOWED_ORIGINS"

// What the checks below look into themselves (grader.Check.Needs).
var (
	needsPostgres = []grader.Service{grader.Postgres}
)

// Stage is the security stage.
var Stage = grader.Stage{
	ID:    "security",
	Title: "Security basics (OWASP)",
	Spec:  spec,
	Env: func(r *rand.Rand) map[string]string {
		n := 1 + r.IntN(2)
		origins := make([]string, n)
		for i := range origins {
			origins[i] = fmt.Sprintf("https://app-%s.example.org", randWord(r, 6))
		}
		return map[string]string{OriginsVar: strings.Join(origins, ",")}
	},
	Checks: []grader.Check{
		{ID: "security.sql-injection-term", Title: "SQL in the search term is data, not SQL", Points: 3,
			Skills: []string{skills.SQLInjection}, Needs: needsPostgres, Run: sqlInjectionTerm},
		{ID: "security.sql-injection-body", Title: "SQL in titles is stored exactly and changes nothing else", Points: 3,
			Skills: []string{skills.SQLInjection}, Needs: needsPostgres, Run: sqlInjectionBody},
		{ID: "security.sort-allowlist", Title: "sort outside the allowed list is 400", Points: 2,
			Skills: []string{skills.SQLInjection, skills.Validation}, Run: sortAllowList},
		{ID: "security.xss-echo", Title: "Script tags come back byte-exact as JSON", Points: 2,
			Skills: []string{skills.OWASP}, Run: xssEcho},
		{ID: "security.headers", Title: "Security headers on every response", Points: 2,
			Skills: []string{skills.SecurityHeader}, Run: securityHeaders},
		{ID: "security.no-fingerprint", Title: "No X-Powered-By, no version in Server", Points: 1,
			Skills: []string{skills.SecurityHeader}, Run: noFingerprint},
		{ID: "security.cors-allowed", Title: "CORS preflight from an allowed origin echoes it", Points: 2,
			Skills: []string{skills.CORS}, Run: corsAllowed},
		{ID: "security.cors-other", Title: "Other origins get no Access-Control-Allow-Origin", Points: 2,
			Skills: []string{skills.CORS}, Run: corsOther},
		{ID: "security.body-limit", Title: "A body over 1 MiB is refused with 413", Points: 2,
			Skills: []string{skills.OWASP}, Run: bodyLimit},
		{ID: "security.no-leaks", Title: "Bad input gets a 4xx without stack traces or SQL", Points: 2,
			Skills: []string{skills.OWASP, skills.Validation}, Run: noLeaks},
		{ID: "security.unguessable-ids", Title: "Ids are not sequential integers", Points: 1,
			Skills: []string{skills.OWASP}, Run: unguessableIDs},
	},
}

// randWord is n random lower-case letters and digits.
func randWord(r *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
