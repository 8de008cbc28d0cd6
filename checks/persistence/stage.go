// Package persistence is stage 3 of the tasks track: the todos live in
// PostgreSQL (DATABASE_URL). The checks cross channels: what the API
// writes is read back with SQL, rows the grader inserts with SQL are read
// through the API, the service is restarted, and lists are checked against
// rows with known created_at values. Exported helpers (Inspect, Table.Insert,
// Table.Select, Count) let later stages read and write table todos the same
// way.
package persistence

import (
	_ "embed"
	"time"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

//go:embed spec.md
var spec string

// What the checks below look into themselves (grader.Check.Needs).
var (
	needsPostgres = []grader.Service{grader.Postgres}
)

// Stage is the persistence stage.
var Stage = grader.Stage{
	ID:       "persistence",
	Title:    "PostgreSQL",
	Spec:     spec,
	Services: []grader.Service{grader.Postgres},
	Checks: []grader.Check{
		{ID: "persistence.create-is-row", Title: "A todo created through the API is a row in table todos", Points: 3,
			Skills: []string{skills.Postgres}, Needs: needsPostgres, Run: createIsRow},
		{ID: "persistence.sql-row-served", Title: "A row inserted with SQL is served by the API", Points: 3,
			Skills: []string{skills.Postgres}, Needs: needsPostgres, Run: sqlRowServed},
		{ID: "persistence.survives-restart", Title: "Todos survive a restart of the service", Points: 3,
			Skills: []string{skills.Postgres, skills.Deployment}, Timeout: 60 * time.Second, Run: survivesRestart},
		{ID: "persistence.restart-migrated", Title: "The service restarts on its own schema and leaves the table intact", Points: 2,
			Skills: []string{skills.Migrations}, Timeout: 90 * time.Second, Needs: needsPostgres, Run: restartMigrated},
		{ID: "persistence.pagination", Title: "Pages hold the right todos, newest first, with the right total", Points: 3,
			Skills: []string{skills.Pagination, skills.Postgres}, Needs: needsPostgres, Run: pagination},
		{ID: "persistence.sort", Title: "sort=createdAt and sort=-createdAt order the list", Points: 2,
			Skills: []string{skills.Pagination}, Needs: needsPostgres, Run: sorting},
		{ID: "persistence.term-filter", Title: "term matches title or description, any case, % and _ literal", Points: 2,
			Skills: []string{skills.Pagination, skills.Postgres}, Needs: needsPostgres, Run: termFilter},
		{ID: "persistence.status-filter", Title: "status filters the list, alone and with term", Points: 2,
			Skills: []string{skills.Pagination}, Run: statusFilter},
		{ID: "persistence.limit-max", Title: "limit above 100 answers 400", Points: 1,
			Skills: []string{skills.Pagination, skills.Validation}, Run: limitCap},
		{ID: "persistence.db-constraints", Title: "The database refuses an unknown status and a NULL title", Points: 1,
			Skills: []string{skills.Postgres, skills.Validation}, Needs: needsPostgres, Run: dbConstraints},
	},
}
