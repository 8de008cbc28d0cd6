package cli

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/submission"
)

// runFlags are the options shared by check and batch that decide what runs.
type runFlags struct {
	stage  string
	only   bool
	checks []string
	seed   int64
	env    []string
}

// plan is what one grading run does, resolved from the flags and the
// project's manifest (STAGES.md: "Grading a project that has grown past the
// stage asked for").
type plan struct {
	stage     grader.Stage    // the stage asked for
	effective grader.Stage    // the later of the asked stage and the manifest's
	stages    []grader.Stage  // the stages whose checks run
	selected  map[string]bool // --check ids (nil: all)
	seed      int64
	env       map[string]string // stage variables + --env (service URLs are added later)
	overrides map[string]string // --env, applied last
	need      []grader.Service
	auth      bool
}

// validate reports the mistakes in the flags that need no project to see.
func (f runFlags) validate() error {
	if f.stage != "" {
		if _, _, ok := checks.Tasks.Stage(f.stage); !ok {
			return unknownStage(f.stage)
		}
	}
	_, err := parseEnv(f.env)
	return err
}

// makePlan resolves what to run for a project with manifest m.
func makePlan(f runFlags, m *submission.Manifest, seedSet bool) (*plan, error) {
	track := checks.Tasks
	asked := f.stage
	if asked == "" {
		asked = m.Stage
	}
	if asked == "" {
		return nil, usagef("no stage given: pass --stage STAGE or set `stage:` in grader.yaml; the stages are: %s", strings.Join(track.StageIDs(), ", "))
	}
	st, ai, ok := track.Stage(asked)
	if !ok {
		return nil, unknownStage(asked)
	}
	ei := ai
	if m.Stage != "" {
		_, mi, ok := track.Stage(m.Stage)
		if !ok {
			return nil, usagef("grader.yaml says stage: %q, which is not a stage; the stages are: %s", m.Stage, strings.Join(track.StageIDs(), ", "))
		}
		ei = max(ei, mi)
	}
	p := &plan{stage: st, effective: track.Stages[ei], seed: f.seed}
	if f.only {
		p.stages = []grader.Stage{st}
	} else {
		p.stages = track.Stages[:ai+1]
	}
	if len(f.checks) > 0 {
		p.selected = map[string]bool{}
		for _, id := range f.checks {
			if !hasCheck(p.stages, id) {
				return nil, checkNotInRun(id, p.stages)
			}
			p.selected[id] = true
		}
	}
	if !seedSet {
		p.seed = rand.Int64N(1 << 40)
	}

	// A stage that brings users makes every check act as a logged-in user
	// from then on (its declaration says so, not its id).
	for _, s := range track.Stages[:ei+1] {
		p.auth = p.auth || s.Session
	}

	// Variables and services for every stage up to the effective one,
	// randomised from the seed so that a run is repeatable with --seed.
	r := rand.New(rand.NewPCG(uint64(p.seed), 1))
	p.env = map[string]string{}
	seen := map[grader.Service]bool{}
	for _, s := range track.Stages[:ei+1] {
		if s.Env != nil {
			vars := s.Env(r)
			keys := make([]string, 0, len(vars))
			for k := range vars {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p.env[k] = vars[k]
			}
		}
		for _, svc := range s.Services {
			if !seen[svc] {
				seen[svc] = true
				p.need = append(p.need, svc)
			}
		}
	}
	for _, name := range m.Services {
		svc := grader.Service(strings.ToLower(strings.TrimSpace(name)))
		switch svc {
		case grader.Postgres, grader.Redis, grader.RabbitMQ:
		default:
			return nil, usagef("grader.yaml lists service %q; the services are postgres, redis and rabbitmq", name)
		}
		if !seen[svc] {
			seen[svc] = true
			p.need = append(p.need, svc)
		}
	}
	var err error
	p.overrides, err = parseEnv(f.env)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func hasCheck(stages []grader.Stage, id string) bool {
	for _, s := range stages {
		for _, c := range s.Checks {
			if c.ID == id {
				return true
			}
		}
	}
	return false
}

func checkNotInRun(id string, stages []grader.Stage) error {
	for _, s := range checks.Tasks.Stages {
		for _, c := range s.Checks {
			if c.ID == id {
				return usagef("check %s belongs to stage %s, which this run does not include: add --stage %s", id, s.ID, s.ID)
			}
		}
	}
	return usagef("unknown check %q: 'grader stages' lists every check id", id)
}

func parseEnv(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--env %q: expected KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// serviceEnv merges the plan's variables, the service URLs and --env.
func (p *plan) serviceEnv(urls map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range p.env {
		env[k] = v
	}
	for k, v := range urls {
		env[k] = v
	}
	for k, v := range p.overrides {
		env[k] = v
	}
	return env
}

func (p *plan) describe() string {
	ids := make([]string, len(p.stages))
	for i, s := range p.stages {
		ids[i] = s.ID
	}
	return fmt.Sprintf("stages %s, seed %d", strings.Join(ids, ", "), p.seed)
}
