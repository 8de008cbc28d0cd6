package grading

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
)

// Selection is what the caller asks to run (the flags shared by check and
// batch).
type Selection struct {
	Stage   string   // "": the manifest's
	Only    bool     // the stage's checks alone, not the stages before it
	Checks  []string // only these check ids (none: all)
	Seed    int64
	SeedSet bool     // false: a random seed
	Env     []string // KEY=VALUE, added to the service's environment last
}

// Plan is what one grading run does, resolved from a Selection and the
// project's manifest (STAGES.md: "Grading a project that has grown past the
// stage asked for").
type Plan struct {
	Project   *Project
	Stage     grader.Stage    // the stage asked for
	Effective grader.Stage    // the later of the asked stage and the manifest's
	Stages    []grader.Stage  // the stages whose checks run
	Selected  map[string]bool // --check ids (nil: all)
	Seed      int64
	Env       map[string]string // stage variables + --env (service URLs are added later)
	Overrides map[string]string // --env, applied last
	Need      []grader.Service
	// Session: the checks act as a logged-in user (a stage up to the
	// effective one declares grader.Stage.Session).
	Session bool

	// ScopeID names the run's share of the servers and labels its containers.
	ScopeID string
	// Limits are the build's and the service's resource limits (zero: none).
	Limits Limits
	// Sandbox, when set, builds and runs the project in containers
	// confined by it (batch); nil runs it as host processes.
	Sandbox *Sandbox
	// Version is the grader's, for the report.
	Version string
}

// Validate reports the mistakes in the selection that need no project to see.
func (f Selection) Validate() error {
	if f.Stage != "" {
		if _, _, ok := checks.Tasks.Stage(f.Stage); !ok {
			return UnknownStage(f.Stage)
		}
	}
	_, err := parseEnv(f.Env)
	return err
}

// NewPlan resolves what to run for project m (its Stage and Services;
// an empty Project for the selection alone).
func NewPlan(f Selection, m *Project) (*Plan, error) {
	track := checks.Tasks
	asked := f.Stage
	if asked == "" {
		asked = m.Stage
	}
	if asked == "" {
		return nil, Usagef("no stage given: pass --stage STAGE or set `stage:` in grader.yaml; the stages are: %s", strings.Join(track.StageIDs(), ", "))
	}
	st, ai, ok := track.Stage(asked)
	if !ok {
		return nil, UnknownStage(asked)
	}
	ei := ai
	if m.Stage != "" {
		_, mi, ok := track.Stage(m.Stage)
		if !ok {
			return nil, Usagef("grader.yaml says stage: %q, which is not a stage; the stages are: %s", m.Stage, strings.Join(track.StageIDs(), ", "))
		}
		ei = max(ei, mi)
	}
	p := &Plan{Project: m, Stage: st, Effective: track.Stages[ei], Seed: f.Seed}
	if f.Only {
		p.Stages = []grader.Stage{st}
	} else {
		p.Stages = track.Stages[:ai+1]
	}
	if len(f.Checks) > 0 {
		p.Selected = map[string]bool{}
		for _, id := range f.Checks {
			if !hasCheck(p.Stages, id) {
				return nil, checkNotInRun(id, p.Stages)
			}
			p.Selected[id] = true
		}
	}
	if !f.SeedSet {
		p.Seed = rand.Int64N(1 << 40)
	}

	// A stage that brings users makes every check act as a logged-in user
	// from then on (its declaration says so, not its id).
	for _, s := range track.Stages[:ei+1] {
		p.Session = p.Session || s.Session
	}

	// Variables and services for every stage up to the effective one,
	// randomised from the seed so that a run is repeatable with --seed.
	r := rand.New(rand.NewPCG(uint64(p.Seed), 1))
	p.Env = map[string]string{}
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
				p.Env[k] = vars[k]
			}
		}
		for _, svc := range s.Services {
			if !seen[svc] {
				seen[svc] = true
				p.Need = append(p.Need, svc)
			}
		}
	}
	for _, name := range m.Services {
		// The names were checked against the registry when the manifest was loaded.
		svc := grader.Service(strings.ToLower(strings.TrimSpace(name)))
		if !seen[svc] {
			seen[svc] = true
			p.Need = append(p.Need, svc)
		}
	}
	var err error
	p.Overrides, err = parseEnv(f.Env)
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
				return Usagef("check %s belongs to stage %s, which this run does not include: add --stage %s", id, s.ID, s.ID)
			}
		}
	}
	return Usagef("unknown check %q: 'grader stages' lists every check id", id)
}

func parseEnv(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, Usagef("--env %q: expected KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// ServiceEnv merges the plan's variables (grader.ServiceHost in them replaced
// by serviceHost), the service URLs and --env.
func (p *Plan) ServiceEnv(urls map[string]string, serviceHost string) map[string]string {
	env := map[string]string{}
	for k, v := range p.Env {
		env[k] = strings.ReplaceAll(v, grader.ServiceHost, serviceHost)
	}
	for k, v := range urls {
		env[k] = v
	}
	for k, v := range p.Overrides {
		env[k] = v
	}
	return env
}

// Describe is "stages http, rest, seed 7".
func (p *Plan) Describe() string {
	ids := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		ids[i] = s.ID
	}
	return fmt.Sprintf("stages %s, seed %d", strings.Join(ids, ", "), p.Seed)
}

// UnknownStage is the usage error for a stage id the track does not have.
func UnknownStage(id string) error {
	return Usagef("unknown stage %q; the stages are: %s (see 'grader stages')", id, strings.Join(checks.Tasks.StageIDs(), ", "))
}

// StageIDs lists the track's stages in order.
func StageIDs() []string { return checks.Tasks.StageIDs() }
