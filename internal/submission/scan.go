package submission

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// SourceHints is what `grader init` reads in a project's code to propose
// grader.yaml lines: a route prefix and the environment variables it reads.
type SourceHints struct {
	// BasePath is the route prefix most routes are registered under
	// ("/api/v1"), "" when none was seen.
	BasePath string
	// Env maps each variable the code reads that the grader does not set
	// to what the grader would give it ("${DATABASE_URL.host}"), "" when
	// the grader has nothing for it.
	Env map[string]string
	// Files is where each variable of Env was first seen (relative path).
	Files map[string]string
}

// scanLimits keep a scan of a big tree short.
const (
	scanMaxFiles = 3000
	scanMaxBytes = 512 << 10
)

var scanSkipDirs = map[string]bool{
	".git": true, "node_modules": true, "vendor": true, ".grader-bin": true, "dist": true, "build": true,
	"target": true, "venv": true, ".venv": true, "__pycache__": true, ".next": true, "coverage": true,
}

var scanExts = map[string]bool{
	".go": true, ".js": true, ".mjs": true, ".cjs": true, ".ts": true, ".py": true, ".rb": true,
	".java": true, ".kt": true, ".php": true, ".rs": true, ".cs": true, ".ex": true, ".exs": true,
}

// envRead matches the usual ways code reads an environment variable; the
// first non-empty group is the name.
var envRead = regexp.MustCompile(`process\.env\.([A-Za-z_][A-Za-z0-9_]*)` +
	`|process\.env\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]` +
	`|os\.(?:Getenv|LookupEnv)\(\s*"([A-Za-z_][A-Za-z0-9_]*)"` +
	`|os\.environ\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]` +
	`|os\.(?:environ\.get|getenv)\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]` +
	`|ENV(?:\.fetch\(|\[)\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]` +
	`|(?:System\.getenv|getenv|env::var|Environment\.GetEnvironmentVariable|System\.get_env)\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]`)

// routePrefix matches a quoted path under a conventional API prefix; group
// 1 is the prefix.
var routePrefix = regexp.MustCompile(`['"` + "`" + `](/api(?:/v[0-9]+)?|/v[0-9]+)(?:/[A-Za-z0-9_{}:.\-/]*)?['"` + "`" + `]`)

// ScanSource reads the project's source files under dir (skipping
// dependencies and build output) for SourceHints.
func ScanSource(dir string) SourceHints {
	out := SourceHints{Env: map[string]string{}, Files: map[string]string{}}
	prefixes := map[string]int{}
	files := 0
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if path != dir && (scanSkipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !scanExts[filepath.Ext(path)] || strings.HasSuffix(path, "_test.go") || strings.Contains(d.Name(), ".test.") || strings.Contains(d.Name(), ".spec.") {
			return nil
		}
		if files++; files > scanMaxFiles {
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil || info.Size() > scanMaxBytes {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		for _, m := range envRead.FindAllStringSubmatch(string(b), -1) {
			name := firstGroup(m)
			if name == "" || providedVars[name] {
				continue
			}
			if _, seen := out.Env[name]; !seen {
				out.Env[name] = graderValueFor(name)
				out.Files[name] = filepath.ToSlash(rel)
			}
		}
		for _, m := range routePrefix.FindAllStringSubmatch(string(b), -1) {
			prefixes[m[1]]++
		}
		return nil
	})
	best, n := "", 0
	for p, c := range prefixes {
		// The longest prefix wins a tie: /api/v1 over /api.
		if c > n || c == n && len(p) > len(best) {
			best, n = p, c
		}
	}
	out.BasePath = best
	return out
}

func firstGroup(m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// providedVars are the names the service receives from the grader
// (DESIGN.md §2.2) or that no manifest should map (the process's own).
var providedVars = map[string]bool{
	"PORT": true, "DATABASE_URL": true, "REDIS_URL": true, "AMQP_URL": true, "JWT_SECRET": true,
	"CACHE_TTL_SECONDS": true, "RATE_LIMIT_REQUESTS": true, "RATE_LIMIT_WINDOW_SECONDS": true,
	"CORS_ALLOWED_ORIGINS": true, "PGHOST": true, "PGPORT": true, "PGUSER": true, "PGPASSWORD": true,
	"PGDATABASE": true, "REDIS_HOST": true, "REDIS_PORT": true,
	"NODE_ENV": true, "HOME": true, "PATH": true, "USER": true, "TZ": true, "DEBUG": true, "LOG_LEVEL": true,
	"GO_ENV": true, "APP_ENV": true, "ENV": true, "HOST": true,
}

// graderValueFor proposes the grader's value for a variable the project
// reads, from the words of its name ("" when nothing fits).
func graderValueFor(name string) string {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == '_' || r == '-' }) {
		words[w] = true
	}
	has := func(ws ...string) bool {
		for _, w := range ws {
			if words[w] {
				return true
			}
		}
		return false
	}
	part := func(url string) string {
		switch {
		case has("URL", "URI", "DSN", "CONNECTION", "CONN"):
			return "${" + url + "}"
		case has("HOST", "HOSTNAME", "SERVER", "ADDR"):
			return "${" + url + ".host}"
		case has("PORT"):
			return "${" + url + ".port}"
		case has("USER", "USERNAME", "LOGIN"):
			return "${" + url + ".user}"
		case has("PASS", "PASSWORD", "PWD", "SECRET"):
			return "${" + url + ".password}"
		case has("NAME", "DB", "DATABASE", "SCHEMA") && url == "DATABASE_URL":
			return "${" + url + ".database}"
		}
		return ""
	}
	switch {
	case has("MONGO", "MONGODB", "MYSQL", "MARIADB", "SQLITE"):
		return "" // a database this track does not provide
	case has("REDIS", "CACHE") && has("TTL", "EXPIRE", "EXPIRY", "EXPIRES"):
		return "${CACHE_TTL_SECONDS}"
	case has("REDIS"):
		return part("REDIS_URL")
	case has("AMQP", "RABBIT", "RABBITMQ", "BROKER", "MQ"):
		return part("AMQP_URL")
	case has("DB", "DATABASE", "POSTGRES", "POSTGRESQL", "PG", "SQL"):
		return part("DATABASE_URL")
	case has("JWT") || has("TOKEN", "AUTH", "ACCESS") && has("SECRET", "KEY"):
		return "${JWT_SECRET}"
	case has("RATE", "LIMIT", "LIMITER", "THROTTLE") && has("WINDOW", "PERIOD", "SECONDS", "DURATION", "INTERVAL"):
		return "${RATE_LIMIT_WINDOW_SECONDS}"
	case has("RATE", "LIMITER", "THROTTLE") || has("LIMIT") && has("REQUESTS", "MAX"):
		return "${RATE_LIMIT_REQUESTS}"
	case has("CORS", "ORIGIN", "ORIGINS"):
		return "${CORS_ALLOWED_ORIGINS}"
	}
	return ""
}

// EnvNames returns the names of h.Env, sorted.
func (h SourceHints) EnvNames() []string {
	names := make([]string, 0, len(h.Env))
	for n := range h.Env {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
