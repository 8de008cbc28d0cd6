// Package ratelimiting is stage 7 of the tasks track: per-user limits on
// /todos*, per (IP, email) limits on /login, shared through Redis by every
// instance of the service.
//
// The service's main instance runs with generous limits (so that no other
// stage's checks meet a 429); each check here starts its own instance with
// a small random limit and a short window, uses fresh users so that its
// counters cannot collide with another check's, and stops the instance.
package ratelimiting

import (
	_ "embed"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// The variables the limits come from.
const (
	RequestsVar = "RATE_LIMIT_REQUESTS"
	WindowVar   = "RATE_LIMIT_WINDOW_SECONDS"
)

// checkTimeout covers starting instances, bursts and one window's wait.
const checkTimeout = 45 * time.Second

// What the checks below look into themselves (grader.Check.Needs).
var (
	needsRedis = []grader.Service{grader.Redis}
)

// Stage is the rate-limiting stage.
var Stage = grader.Stage{
	ID:    "rate-limiting",
	Title: "Rate limiting",
	Spec:  spec,
	Env: func(r *rand.Rand) map[string]string {
		// Generous: the checks of every other stage stay far below it.
		return map[string]string{
			RequestsVar: strconv.Itoa(100000 + 1000*r.IntN(100)),
			WindowVar:   "60",
		}
	},
	Checks: []grader.Check{
		{ID: "rate-limiting.limit", Title: "N requests pass, the next one gets 429 with Retry-After", Points: 3,
			Skills: []string{skills.RateLimiting}, Timeout: checkTimeout, Run: limitEnforced},
		{ID: "rate-limiting.remaining", Title: "RateLimit headers count down to 0", Points: 2,
			Skills: []string{skills.RateLimiting}, Timeout: checkTimeout, Run: remainingCountsDown},
		{ID: "rate-limiting.per-user", Title: "One user's limit does not block another user", Points: 2,
			Skills: []string{skills.RateLimiting}, Timeout: checkTimeout, Run: perUser},
		{ID: "rate-limiting.window-resets", Title: "Requests pass again after the window", Points: 2,
			Skills: []string{skills.RateLimiting}, Timeout: checkTimeout, Run: windowResets},
		{ID: "rate-limiting.global", Title: "Two instances sharing Redis enforce one limit", Points: 3,
			Skills: []string{skills.RateLimiting, skills.Scaling}, Timeout: checkTimeout + 35*time.Second, Run: globalLimit},
		{ID: "rate-limiting.login", Title: "Brute force on /login is stopped, even for the right password", Points: 3,
			Skills: []string{skills.RateLimiting, skills.Auth}, Timeout: checkTimeout, Run: loginLimited},
		{ID: "rate-limiting.keys-expire", Title: "The limiter's Redis keys expire", Points: 2,
			Skills: []string{skills.RateLimiting}, Timeout: checkTimeout, Needs: needsRedis, Run: limiterKeysExpire},
	},
}
