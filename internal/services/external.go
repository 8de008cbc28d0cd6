package services

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/backend-grader/grader/internal/services/service"
)

// startExternal checks that the needed external servers answer and hands
// each to its service, which connects the grader's administrative handles.
func (s *Servers) startExternal(ctx context.Context, o Options) error {
	for _, svc := range s.need {
		srv := o.server(svc)
		if err := service.CheckScheme(svc.Name(), svc.External(), srv.URL); err != nil {
			return err
		}
		if !srv.Given {
			ext := svc.External()
			s.notes = append(s.notes, fmt.Sprintf("%s: the standard local address %s (no %s or %s given)", svc.Name(), hostPort(srv.URL), ext.URLFlag, ext.URLEnv))
		}
	}

	// Probe in parallel: each unreachable server is one line of the error.
	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	for _, svc := range s.need {
		srv := o.server(svc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := svc.Probe(pctx, srv.URL); err != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s at %s: %s", svc.Name(), hostPort(srv.URL), friendly(err)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(problems) > 0 {
		var flags []string
		for _, svc := range registry {
			flags = append(flags, svc.External().URLFlag)
		}
		return &EnvError{
			Message: "external services are not reachable: " + strings.Join(problems, "; "),
			Fix:     fmt.Sprintf("start them, point the grader at yours (%s or GRADER_*_URL), or let it start its own with --services docker", strings.Join(flags, ", ")),
		}
	}
	if err := s.open(ctx, o.server); err != nil {
		return err
	}
	s.notes = append(s.notes, "services: external (the servers already running; this run gets a database and a Redis database of its own)")
	return nil
}
