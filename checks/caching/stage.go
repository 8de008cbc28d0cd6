// Package caching is stage 5 of the tasks track: cache-aside with Redis for
// GET /todos/{id}, plus HTTP caching (ETag, Cache-Control).
//
// The checks drive the API and look into the service's own Redis database
// from the side: the cache entry is found by SCAN as a key whose name
// contains the todo's id, its TTL is read (never waited out), and the row is
// changed behind the cache in Postgres to prove that a HIT is served from
// Redis.
package caching

import (
	_ "embed"
	"math/rand/v2"
	"strconv"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// TTLVar is the variable that tells the service how long a cache entry lives.
const TTLVar = "CACHE_TTL_SECONDS"

// What the checks below look into themselves (grader.Check.Needs).
var (
	needsRedis            = []grader.Service{grader.Redis}
	needsPostgresAndRedis = []grader.Service{grader.Postgres, grader.Redis}
)

// Stage is the caching stage.
var Stage = grader.Stage{
	ID:       "caching",
	Title:    "Caching with Redis",
	Spec:     spec,
	Services: []grader.Service{grader.Redis},
	Env: func(r *rand.Rand) map[string]string {
		return map[string]string{TTLVar: strconv.Itoa(30 + r.IntN(271))}
	},
	Checks: []grader.Check{
		{ID: "caching.miss", Title: "The first GET is a MISS and stores the todo in Redis", Points: 3,
			Skills: []string{skills.RedisCache}, Needs: needsRedis, Run: firstGetIsMiss},
		{ID: "caching.ttl", Title: "The cache entry expires within CACHE_TTL_SECONDS", Points: 2,
			Skills: []string{skills.RedisCache}, Needs: needsRedis, Run: entryHasTTL},
		{ID: "caching.hit", Title: "The second GET is a HIT with the same todo", Points: 2,
			Skills: []string{skills.RedisCache}, Run: secondGetIsHit},
		{ID: "caching.reads-redis", Title: "A HIT is served from Redis, not from Postgres", Points: 3,
			Skills: []string{skills.RedisCache}, Needs: needsPostgresAndRedis, Run: hitReadsRedis},
		{ID: "caching.fresh-after-put", Title: "A GET after PUT shows the replaced todo", Points: 2,
			Skills: []string{skills.RedisCache}, Run: freshAfterPut},
		{ID: "caching.fresh-after-patch", Title: "A GET after PATCH shows the change", Points: 2,
			Skills: []string{skills.RedisCache}, Run: freshAfterPatch},
		{ID: "caching.fresh-after-delete", Title: "A GET after DELETE is 404, not a cached copy", Points: 2,
			Skills: []string{skills.RedisCache}, Run: freshAfterDelete},
		{ID: "caching.hit-ownership", Title: "A cached todo is still only served to its owner", Points: 3,
			Skills: []string{skills.RedisCache, skills.Authorization}, Run: hitEnforcesOwnership},
		{ID: "caching.etag-304", Title: "ETag is stable and If-None-Match answers 304", Points: 2,
			Skills: []string{skills.HTTPCaching}, Run: etagNotModified},
		{ID: "caching.etag-changes", Title: "An update gives the todo a new ETag", Points: 2,
			Skills: []string{skills.HTTPCaching}, Run: etagChangesOnUpdate},
		{ID: "caching.cache-control", Title: "Cache-Control marks the todo private", Points: 1,
			Skills: []string{skills.HTTPCaching}, Run: cacheControlPrivate},
		{ID: "caching.keys-expire", Title: "No key the service writes to Redis lives forever", Points: 2,
			Skills: []string{skills.RedisCache}, Needs: needsRedis, Run: keysExpire},
	},
}
