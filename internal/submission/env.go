package submission

import (
	"fmt"
	"net/url"
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

// varRef is ${VAR} or ${VAR.part}, where part takes a piece of a URL
// (urlParts).
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z]+))?\}`)

// dottedRef finds every ${NAME.something}, to reject unknown parts.
var dottedRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\.([^}]*)\}`)

// urlParts are the pieces of a URL an env: value may take: ${DATABASE_URL.host}.
var urlParts = []string{"host", "port", "user", "password", "database"}

// defaultPorts fill ${VAR.port} when the URL names none.
var defaultPorts = map[string]string{
	"postgres": "5432", "postgresql": "5432", "redis": "6379", "rediss": "6380",
	"amqp": "5672", "amqps": "5671", "http": "80", "https": "443",
}

// checkRefs rejects ${VAR.part} with a part the grader does not know.
func checkRefs(where, key, value string) error {
	for _, g := range dottedRef.FindAllStringSubmatch(value, -1) {
		if !contains(urlParts, g[2]) {
			return &ProjectError{Kind: "manifest",
				Message: fmt.Sprintf("%s: env %s: ${%s.%s} takes no part %q (the parts of a URL are %s)", where, key, g[1], g[2], g[2], strings.Join(urlParts, ", ")),
				Hint:    "write e.g. DB_HOST: ${DATABASE_URL.host}, or ${DATABASE_URL} for the whole URL"}
		}
	}
	return nil
}

// urlPart returns part of the URL in value: host, port (the scheme's
// default when the URL names none), user, password (decoded), database
// (the path without its leading /: a Postgres database, a Redis database
// number, a RabbitMQ vhost). ok is false when value is not a URL with a host.
func urlPart(value, part string) (string, bool) {
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	switch part {
	case "host":
		return u.Hostname(), true
	case "port":
		if p := u.Port(); p != "" {
			return p, true
		}
		return defaultPorts[strings.ToLower(u.Scheme)], true
	case "user":
		return u.User.Username(), true
	case "password":
		p, _ := u.User.Password()
		return p, true
	case "database":
		return strings.TrimPrefix(u.Path, "/"), true
	}
	return "", false
}

// serviceEnv builds the service's environment: base (the inherited
// variables; nil in a container), then the grader's variables, then PORT,
// then the manifest's env entries, where ${VAR} takes the value of VAR in
// what came before, ${VAR.host} (port, user, password, database) a part of
// the URL VAR holds, and anything else is literal. The notes name
// references to variables that are not set, or not URLs (they become empty).
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
			g := varRef.FindStringSubmatch(ref)
			name, part := g[1], g[2]
			val, ok := before[name]
			if !ok {
				notes = append(notes, fmt.Sprintf("grader.yaml env %s: ${%s} is not set in this run, so it is empty", k, name))
				return ""
			}
			if part == "" {
				return val
			}
			p, ok := urlPart(val, part)
			if !ok {
				notes = append(notes, fmt.Sprintf("grader.yaml env %s: ${%s.%s} is empty: %s does not hold a URL with a host", k, name, part, name))
			}
			return p
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
