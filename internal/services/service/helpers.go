package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// EnvError is a failure of the grader's environment (no Docker, a service
// that does not start or answer): never the learner's fault. The CLI maps it
// to exit code 3.
type EnvError struct {
	Message string // what failed
	Fix     string // what to do about it (may be empty)
}

func (e *EnvError) Error() string {
	if e.Fix == "" {
		return e.Message
	}
	return e.Message + "; " + e.Fix
}

// RandomHex returns n random bytes as hex (a password, a name suffix).
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WithCredentials returns raw with its user and password replaced (kept
// when user is empty) and its path set to path.
func WithCredentials(raw, user, password, path string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	u.Path = "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	return u.String()
}

// WithHost returns raw with its host replaced, and its port too when port
// is not empty.
func WithHost(raw, host, port string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if port == "" {
		port = u.Port()
	}
	if port == "" {
		u.Host = host
	} else {
		u.Host = net.JoinHostPort(host, port)
	}
	return u.String()
}

// Parts are the pieces of a service URL, as conventional variables carry them.
type Parts struct {
	Host, Port     string
	User, Password string
	HasPassword    bool
	Path           string // without the leading slash (a database, a db number, a vhost)
	Query          url.Values
	OK             bool // false when raw is not a URL with a host
}

// Split returns the pieces of raw; defaultPort fills an absent port.
func Split(raw, defaultPort string) Parts {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Parts{}
	}
	p := Parts{Host: u.Hostname(), Port: u.Port(), Path: strings.TrimPrefix(u.Path, "/"), Query: u.Query(), OK: true}
	if p.Port == "" {
		p.Port = defaultPort
	}
	if u.User != nil {
		p.User = u.User.Username()
		p.Password, p.HasPassword = u.User.Password()
	}
	return p
}

// Redact hides the password of a URL, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// HostPort is the host:port of a URL, for messages.
func HostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redact(raw)
	}
	return u.Host
}

// IsLoopback reports whether raw's host is this machine's loopback.
func IsLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// OneLine keeps the first line of an error, for messages.
func OneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Friendly shortens common connection errors.
func Friendly(err error) string {
	var ne net.Error
	s := OneLine(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "no answer (timeout): " + s
	case strings.Contains(s, "connection refused"):
		return "connection refused: nothing listens there"
	}
	return s
}

// CheckScheme returns an *EnvError unless raw is a URL with a host and one
// of ext's schemes.
func CheckScheme(name grader.Service, ext External, raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" {
		for _, sc := range ext.Schemes {
			if u.Scheme == sc {
				return nil
			}
		}
	}
	return &EnvError{
		Message: fmt.Sprintf("the %s url %q is not a %s:// URL", name, Redact(raw), ext.Schemes[0]),
		Fix:     "give it as " + ext.DefaultURL,
	}
}
