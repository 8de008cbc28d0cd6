// Package skills is the catalogue of roadmap skills that checks are mapped
// to. Ids are stable: they appear in JSON reports and grades.csv.
package skills

// Skill is one node of the backend roadmap.
type Skill struct {
	ID    string
	Title string
	URL   string
}

const (
	HTTP           = "http"
	RESTDesign     = "rest-api"
	JSON           = "json-apis"
	Validation     = "input-validation"
	Postgres       = "postgresql"
	Migrations     = "migrations"
	Pagination     = "pagination"
	Auth           = "authentication"
	JWT            = "jwt"
	Authorization  = "authorization"
	PasswordHash   = "password-hashing"
	RedisCache     = "redis-caching"
	HTTPCaching    = "http-caching"
	OWASP          = "owasp-risks"
	SQLInjection   = "sql-injection"
	CORS           = "cors"
	SecurityHeader = "security-headers"
	RateLimiting   = "rate-limiting"
	Scaling        = "horizontal-scaling"
	Concurrency    = "concurrency"
	Deployment     = "service-lifecycle"
	MessageBrokers = "message-brokers"
	AsyncWork      = "asynchronous-processing"
	Webhooks       = "webhooks"
	Idempotency    = "idempotency"
	Tracing        = "distributed-tracing"
)

// Observability (the observability stage).
const (
	HealthChecks  = "health-checks"
	Logging       = "structured-logging"
	Metrics       = "metrics"
	Observability = "observability"
)

const roadmap = "https://roadmap.sh/backend"

// Catalogue lists every skill, in roadmap order.
var Catalogue = []Skill{
	{HTTP, "HTTP fundamentals", roadmap + "#http"},
	{Concurrency, "Handling concurrent requests", roadmap + "#scaling-strategies"},
	{Deployment, "Service lifecycle (ports, start-up, restarts)", roadmap + "#containerization-vs-virtualization"},
	{JSON, "JSON APIs", roadmap + "#json-apis"},
	{RESTDesign, "REST API design", roadmap + "#rest"},
	{Validation, "Input validation and error responses", roadmap + "#api-security-best-practices"},
	{Postgres, "PostgreSQL", roadmap + "#postgresql"},
	{Migrations, "Schema migrations", roadmap + "#migrations"},
	{Pagination, "Pagination, filtering and sorting", roadmap + "#rest"},
	{Auth, "Authentication", roadmap + "#authentication"},
	{JWT, "JSON Web Tokens", roadmap + "#jwt"},
	{Authorization, "Authorization and ownership", roadmap + "#authentication"},
	{PasswordHash, "Password hashing", roadmap + "#hashing-algorithms"},
	{RedisCache, "Caching with Redis", roadmap + "#redis"},
	{HTTPCaching, "HTTP caching (ETag, Cache-Control)", roadmap + "#http-caching"},
	{OWASP, "OWASP risks", roadmap + "#owasp-risks"},
	{SQLInjection, "SQL injection", roadmap + "#owasp-risks"},
	{CORS, "CORS", roadmap + "#cors"},
	{SecurityHeader, "Security headers", roadmap + "#web-security"},
	{RateLimiting, "Rate limiting", roadmap + "#rate-limiting"},
	{Scaling, "Horizontal scaling (shared state)", roadmap + "#horizontal-vs-vertical-scaling"},
	{MessageBrokers, "Message brokers (RabbitMQ)", roadmap + "#message-brokers"},
	{AsyncWork, "Asynchronous processing and queues", roadmap + "#message-brokers"},
	{Idempotency, "Idempotency and at-least-once delivery", roadmap + "#message-brokers"},
	{Webhooks, "Webhooks", roadmap + "#webhooks"},
	{Tracing, "Distributed tracing (trace context)", roadmap + "#observability"},
	{HealthChecks, "Health checks (liveness, readiness)", roadmap + "#monitoring"},
	{Logging, "Structured logging", roadmap + "#instrumentation"},
	{Metrics, "Metrics (Prometheus)", roadmap + "#telemetry"},
	{Observability, "Observability (request ids, trace context)", roadmap + "#observability"},
}

var index = func() map[string]int {
	m := map[string]int{}
	for i, s := range Catalogue {
		m[s.ID] = i
	}
	return m
}()

// Lookup returns the skill with id; an unknown id is returned as its own title.
func Lookup(id string) Skill {
	if i, ok := index[id]; ok {
		return Catalogue[i]
	}
	return Skill{ID: id, Title: id}
}

// Order is the position of id in the catalogue (unknown ids last).
func Order(id string) int {
	if i, ok := index[id]; ok {
		return i
	}
	return len(Catalogue)
}

// Known reports whether id is in the catalogue.
func Known(id string) bool { _, ok := index[id]; return ok }
