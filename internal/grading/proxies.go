package grading

import (
	"fmt"
	"maps"
	"net"

	"github.com/backend-grader/grader/internal/faults"
)

// proxied are the service URLs the fault proxy stands in front of, by the
// name of the dependency, with the host and port variables that say the
// same thing in pieces (DESIGN §2.2).
var proxied = []struct {
	name, urlVar, hostVar, portVar string
}{
	{"postgres", "DATABASE_URL", "PGHOST", "PGPORT"},
	{"redis", "REDIS_URL", "REDIS_HOST", "REDIS_PORT"},
	{"rabbitmq", "AMQP_URL", "", ""},
}

// startProxies puts one fault proxy (listening on listenHost) in front of
// each dependency whose URL is in env, upstream being the address the
// grader itself dials, and returns the set and the environment pointed at
// the proxies. The caller closes the set after the service has stopped.
func startProxies(listenHost string, env map[string]string) (*faults.Set, map[string]string, error) {
	set := faults.NewSet(listenHost)
	out := maps.Clone(env)
	for _, d := range proxied {
		raw, ok := env[d.urlVar]
		if !ok || raw == "" {
			continue
		}
		p, err := set.AddURL(d.name, raw)
		if err != nil {
			_ = set.Close()
			return nil, nil, fmt.Errorf("the fault proxy in front of %s: %w", d.name, err)
		}
		out[d.urlVar] = set.RewriteURL(d.name, raw)
		if d.hostVar != "" {
			if _, ok := env[d.hostVar]; ok {
				host, port, _ := net.SplitHostPort(p.Addr())
				out[d.hostVar], out[d.portVar] = host, port
			}
		}
	}
	return set, out, nil
}
