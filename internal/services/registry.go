package services

import (
	"fmt"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services/postgres"
	"github.com/backend-grader/grader/internal/services/rabbitmq"
	"github.com/backend-grader/grader/internal/services/redis"
	"github.com/backend-grader/grader/internal/services/service"
)

// registry lists the backing services, in the order they are listed,
// started and isolated (and released in reverse). Adding a service is one
// package implementing service.Service and one line here.
var registry = []service.Service{
	postgres.Service,
	redis.Service,
	rabbitmq.Service,
}

// Names are the services' names, in registry order.
func Names() []grader.Service {
	out := make([]grader.Service, len(registry))
	for i, s := range registry {
		out[i] = s.Name()
	}
	return out
}

// Lookup returns the service named name.
func Lookup(name string) (service.Service, bool) {
	for _, s := range registry {
		if string(s.Name()) == name {
			return s, true
		}
	}
	return nil, false
}

// Validate returns an error naming the known services when name is not one
// of them (for grader.yaml `services:` and the CLI).
func Validate(name string) error {
	if _, ok := Lookup(name); !ok {
		return fmt.Errorf("unknown service %q: the services are %s", name, namesText())
	}
	return nil
}

// ParseImage parses the value of --image (NAME=REF).
func ParseImage(kv string) (grader.Service, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if _, known := Lookup(k); !ok || !known || v == "" {
		var forms []string
		for _, n := range Names() {
			forms = append(forms, string(n)+"=REF")
		}
		return "", "", fmt.Errorf("--image %q: expected %s", kv, orList(forms))
	}
	return grader.Service(k), v, nil
}

// namesText is "postgres, redis and rabbitmq".
func namesText() string {
	var names []string
	for _, n := range Names() {
		names = append(names, string(n))
	}
	return andList(names)
}

func andList(s []string) string { return joinLast(s, " and ") }
func orList(s []string) string  { return joinLast(s, " or ") }

func joinLast(s []string, last string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + last + s[len(s)-1]
}
