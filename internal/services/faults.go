package services

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/backend-grader/grader/internal/grader"
)

// dockerFaults breaks the grader's own containers (harness.Faults).
//
// Each container publishes its ports on fixed host ports chosen when it was
// created, so after Stop + Start the URLs in Scope.Env, the learner's
// service and the grader's handles (Scope.PG, Scope.Redis, which reconnect
// by themselves) stay valid: there is nothing for the caller to re-read.
// Start returns once the service answers its probe again. Should the port
// have been taken in the meantime, Start fails and says so.
//
// Whatever a scope leaves paused or stopped is restored by its Release, so
// that a check that forgot (or crashed) does not break the runs after it.
type dockerFaults struct {
	d *dockerServers
	s *Servers

	mu     sync.Mutex
	broken map[string]string // service -> "paused" | "stopped"
}

func (f *dockerFaults) mark(service, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken == nil {
		f.broken = map[string]string{}
	}
	if state == "" {
		delete(f.broken, service)
	} else {
		f.broken[service] = state
	}
}

// restore unpauses and starts again what this scope broke.
func (f *dockerFaults) restore(ctx context.Context) error {
	f.mu.Lock()
	broken := maps.Clone(f.broken)
	f.mu.Unlock()
	var errs []string
	for svc, state := range broken {
		var err error
		if state == "paused" {
			err = f.Unpause(ctx, svc)
		} else {
			err = f.Start(ctx, svc)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("restore services: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (f *dockerFaults) get(service string) (*svcContainer, error) {
	c := f.d.container(grader.Service(service))
	if c == nil {
		return nil, fmt.Errorf("no %s container in this run: the services are %s, as far as the stage needs them", service, namesText())
	}
	return c, nil
}

// Pause freezes the service's processes: connections hang, nothing is refused.
func (f *dockerFaults) Pause(ctx context.Context, service string) error {
	c, err := f.get(service)
	if err != nil {
		return err
	}
	if _, err := f.d.cli.ContainerPause(ctx, c.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %s", service, oneLine(err))
	}
	f.mark(service, "paused")
	return nil
}

// Unpause resumes a paused service.
func (f *dockerFaults) Unpause(ctx context.Context, service string) error {
	c, err := f.get(service)
	if err != nil {
		return err
	}
	if _, err := f.d.cli.ContainerUnpause(ctx, c.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %s", service, oneLine(err))
	}
	f.mark(service, "")
	return nil
}

// Stop stops the service (SIGTERM, killed after a few seconds): connections
// are closed and new ones refused. Its data survives for Start.
func (f *dockerFaults) Stop(ctx context.Context, service string) error {
	c, err := f.get(service)
	if err != nil {
		return err
	}
	t := faultStopTimeout
	if err := c.ctr.Stop(ctx, &t); err != nil {
		return fmt.Errorf("stop %s: %s", service, oneLine(err))
	}
	f.mark(service, "stopped")
	return nil
}

// Start starts a stopped service again and waits until it answers.
func (f *dockerFaults) Start(ctx context.Context, service string) error {
	c, err := f.get(service)
	if err != nil {
		return err
	}
	if err := c.ctr.Start(ctx); err != nil {
		if isPortConflict(err) {
			return fmt.Errorf("start %s again: its host port was taken while it was stopped: %s", service, oneLine(err))
		}
		return fmt.Errorf("start %s again: %s", service, oneLine(err))
	}
	f.mark(service, "")
	if err := f.d.checkPorts(ctx, c); err != nil {
		return err
	}
	if err := f.d.waitReady(ctx, c, c.spec.ReadyTimeout); err != nil {
		return fmt.Errorf("start %s again: %w", service, err)
	}
	return nil
}

// container returns the service's container, or nil.
func (d *dockerServers) container(svc grader.Service) *svcContainer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctrs[svc]
}

// checkPorts verifies that the container came back on its host ports.
func (d *dockerServers) checkPorts(ctx context.Context, c *svcContainer) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		changed := map[string]string{}
		for p, hp := range maps.Clone(c.ports) {
			got, err := c.ctr.MappedPort(ctx, p)
			if err != nil {
				changed[p] = "none"
				continue
			}
			if got.Port() != hp {
				changed[p] = got.Port()
			}
		}
		if len(changed) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s came back on other host ports %v (was %v): the URLs the service was given are stale", c.svc.Name(), changed, c.ports)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
