package submission

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// graderSets lists variables the grader sets for the service (DESIGN.md
// §2.2): a value inherited from the grader's own environment is dropped so
// that it cannot stand in for the run's value.
var graderSets = map[string]bool{
	"PORT": true, "DATABASE_URL": true, "REDIS_URL": true, "AMQP_URL": true,
	"JWT_SECRET": true, "CACHE_TTL_SECONDS": true, "CORS_ALLOWED_ORIGINS": true,
}

// inherited reports whether a variable of the grader's own environment is
// passed on to the service (PATH, HOME, GOPATH, ... are).
func inherited(name string) bool {
	return !graderSets[name] &&
		!strings.HasPrefix(name, "GRADER_") &&
		!strings.HasPrefix(name, "RATE_LIMIT_")
}

// hostEnviron is the part of os.Environ a host process inherits.
func hostEnviron() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" && inherited(k) {
			out[k] = v
		}
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// serviceEnv builds the service's environment: base (the inherited
// variables; nil in a container), then the grader's variables, then PORT,
// then the manifest's env entries, where ${VAR} takes the value of VAR in
// what came before and anything else is literal. The notes name references
// to variables that are not set (they become empty).
func serviceEnv(base, vars map[string]string, port int, mapping map[string]string) (map[string]string, []string) {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range vars {
		if k != "PORT" {
			env[k] = v
		}
	}
	env["PORT"] = strconv.Itoa(port)
	before := make(map[string]string, len(env))
	for k, v := range env {
		before[k] = v
	}
	var notes []string
	for _, k := range sortedKeys(mapping) {
		v := mapping[k]
		env[k] = varRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := before[name]
			if !ok {
				notes = append(notes, fmt.Sprintf("grader.yaml env %s: ${%s} is not set in this run, so it is empty", k, name))
			}
			return val
		})
	}
	return env, notes
}

// environ turns env into KEY=VALUE lines, sorted.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
