package e2e

// The runner for fixture cases: entries of fixtures/tasks-api/defects.json
// (and variants.json) each switch the reference project and say exactly
// which checks it must fail or block. Runs are grouped by the mode they
// need and run side by side on copies of the reference that share one
// prebuilt binary.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/backend-grader/grader/internal/grader"
)

// fixtureCase is one entry of defects.json or variants.json.
type fixtureCase struct {
	// Stage is the stage the run grades (--stage, with --only for defects).
	Stage string `json:"stage"`
	// Fails and Blocked are the checks that must end fail (or error, skip)
	// and blocked; every other check must pass.
	Fails   []string `json:"fails"`
	Blocked []string `json:"blocked"`
	// Kind is "cheat" for the cheapest fake of a check's subject.
	Kind string `json:"kind"`
	// Services is "docker" when the run needs the grader's own containers;
	// empty means external (the machine's servers).
	Services string `json:"services"`
	// Faults says the run injects faults between the service and its
	// dependencies; such runs form a group of their own.
	Faults bool `json:"faults"`
	// Manifest holds grader.yaml lines the case needs (variants).
	Manifest map[string]any `json:"manifest"`
}

// defect is an entry of defects.json.
type defect = fixtureCase

// mode is the --services mode the case runs in.
func (c fixtureCase) mode() string {
	if c.Services == "" {
		return "external"
	}
	return c.Services
}

// group names the runs that share a mode: "external", "docker",
// "external+faults", ...
func (c fixtureCase) group() string {
	if c.Faults {
		return c.mode() + "+faults"
	}
	return c.mode()
}

// loadCases reads fixtures/tasks-api/<file> (defects.json, variants.json)
// and checks that every mode it names is one the runner knows.
func loadCases(t *testing.T, file string) map[string]fixtureCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "fixtures", "tasks-api", file))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]fixtureCase
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for name, c := range cases {
		if m := c.mode(); m != "external" && m != "docker" {
			t.Fatalf("%s: %s: services %q, want docker or nothing (external)", file, name, c.Services)
		}
		if c.Kind != "" && c.Kind != "cheat" {
			t.Fatalf("%s: %s: kind %q, want cheat or nothing", file, name, c.Kind)
		}
	}
	return cases
}

func loadDefects(t *testing.T) map[string]defect { return loadCases(t, "defects.json") }

// caseGroup is the names of the cases that run in one mode, sorted.
type caseGroup struct {
	name  string
	mode  string
	names []string
}

// groupCases sorts cases into their groups, external first.
func groupCases(cases map[string]fixtureCase) []caseGroup {
	by := map[string]*caseGroup{}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		c := cases[name]
		g := by[c.group()]
		if g == nil {
			g = &caseGroup{name: c.group(), mode: c.mode()}
			by[c.group()] = g
		}
		g.names = append(g.names, name)
	}
	var out []caseGroup
	for _, k := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].mode == "external" && out[j].mode != "external" })
	return out
}

// needMode skips (in CI: fails) when what mode needs is not here.
func needMode(t *testing.T, mode string) {
	t.Helper()
	switch mode {
	case "docker":
		needDocker(t)
	default:
		needLocalServices(t)
	}
}

// refRun is one grader run on a copy of the reference project.
type refRun struct {
	Stage    string
	Only     bool              // --only: the stage's checks alone
	Services string            // --services: external (default) or docker
	Env      map[string]string // --env NAME=value, for the service
	Manifest map[string]any    // top-level grader.yaml keys set for this run
	Seed     int64             // --seed (0: 1)
}

// runFor is the run a fixture case asks for, env switching it on
// (TASKS_API_DEFECTS=name, TASKS_API_VARIANTS=name): its stage alone, or
// the whole track up to last when it names no stage.
func runFor(c fixtureCase, env map[string]string, last string) refRun {
	if c.Stage == "" {
		return refRun{Stage: last, Services: c.mode(), Env: env, Manifest: c.Manifest}
	}
	return refRun{Stage: c.Stage, Only: true, Services: c.mode(), Env: env, Manifest: c.Manifest}
}

// checkStatus is one check of a JSON report, as the runner reads it: the
// runner parses the report itself, so that statuses the grader's model
// gains (blocked, with blockedBy) are read as they are printed.
type checkStatus struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	BlockedBy string `json:"blockedBy"`
	Message   string `json:"message"`
}

// statusReport is what the runner reads of a JSON report.
type statusReport struct {
	SchemaVersion int  `json:"schemaVersion"`
	Passed        bool `json:"passed"`
	Stages        []struct {
		ID     string        `json:"id"`
		Checks []checkStatus `json:"checks"`
	} `json:"stages"`
	Problem *struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Log     string `json:"log"`
	} `json:"problem"`
}

func (r *statusReport) checks() []checkStatus {
	var out []checkStatus
	for _, s := range r.Stages {
		out = append(out, s.Checks...)
	}
	return out
}

// explain renders the checks that did not pass, and the run's problem.
func (r *statusReport) explain() string {
	var b strings.Builder
	for _, c := range r.checks() {
		if c.Status != "pass" {
			fmt.Fprintf(&b, "  %s [%s", c.ID, c.Status)
			if c.BlockedBy != "" {
				fmt.Fprintf(&b, " by %s", c.BlockedBy)
			}
			fmt.Fprintf(&b, "]: %s\n", c.Message)
		}
	}
	if r.Problem != nil {
		fmt.Fprintf(&b, "  problem (%s): %s\n%s\n", r.Problem.Kind, r.Problem.Message, r.Problem.Log)
	}
	return b.String()
}

// compareStatuses says how rep departs from "the checks in fails fail (or
// error, or skip), those in blocked are blocked, all others pass"; "" when
// it does not. A blocked check must name its cause, and a cause in the
// report must not have passed.
func compareStatuses(rep *statusReport, fails, blocked []string) string {
	status := map[string]string{}
	var gotFails, gotBlocked []string
	for _, c := range rep.checks() {
		status[c.ID] = c.Status
		switch c.Status {
		case "pass":
		case "blocked":
			gotBlocked = append(gotBlocked, c.ID)
		default:
			gotFails = append(gotFails, c.ID)
		}
	}
	var b strings.Builder
	sorted := func(ids []string) []string {
		out := append([]string{}, ids...)
		sort.Strings(out)
		return out
	}
	if d := cmp.Diff(sorted(fails), sorted(gotFails)); d != "" {
		fmt.Fprintf(&b, "checks failing (-listed +actual):\n%s", d)
	}
	if d := cmp.Diff(sorted(blocked), sorted(gotBlocked)); d != "" {
		fmt.Fprintf(&b, "checks blocked (-listed +actual):\n%s", d)
	}
	for _, c := range rep.checks() {
		if c.Status != "blocked" {
			continue
		}
		if c.BlockedBy == "" {
			fmt.Fprintf(&b, "%s is blocked but names no blockedBy\n", c.ID)
		} else if st, ok := status[c.BlockedBy]; ok && st == "pass" {
			fmt.Fprintf(&b, "%s is blocked by %s, which passed\n", c.ID, c.BlockedBy)
		}
	}
	return b.String()
}

// referenceCopies hands out copies of the reference, each used by one run
// at a time (a run writes its grader.yaml), all running one binary built
// once per test binary.
type referenceCopies struct {
	dirs chan string
}

var refBin struct {
	mu   sync.Mutex
	path string
	err  error
}

// referenceBinary builds the reference once (its defects and variants are
// switched on at run time) and returns the binary's path.
func referenceBinary(t *testing.T) string {
	t.Helper()
	refBin.mu.Lock()
	defer refBin.mu.Unlock()
	if refBin.path == "" && refBin.err == nil {
		dir, err := os.MkdirTemp("", "grader-e2e-ref-")
		if err == nil {
			bin := filepath.Join(dir, "tasks-api")
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = filepath.Join(repoRoot, "fixtures", "tasks-api")
			if out, berr := cmd.CombinedOutput(); berr != nil {
				err = fmt.Errorf("building the reference: %v\n%s", berr, out)
			} else {
				refBin.path = bin
			}
		}
		refBin.err = err
	}
	if refBin.err != nil {
		t.Fatal(refBin.err)
	}
	return refBin.path
}

// newReferenceCopies makes n copies of the reference for t's subtests.
func newReferenceCopies(t *testing.T, n int) *referenceCopies {
	t.Helper()
	referenceBinary(t)
	p := &referenceCopies{dirs: make(chan string, n)}
	for i := 0; i < n; i++ {
		p.dirs <- copyFixture(t, "tasks-api")
	}
	return p
}

// grade runs the grader as run says on a free copy (waiting for one), and
// returns the report's statuses and the run. It never calls t.Fatal, so it
// may run on any goroutine; a run with no JSON report is an error.
func (p *referenceCopies) grade(run refRun, timeout time.Duration) (*statusReport, result, error) {
	dir := <-p.dirs
	defer func() { p.dirs <- dir }()
	rep, r, err := gradeReference(dir, run, timeout)
	if err == nil {
		err = waitNothingLeft(dir)
	}
	return rep, r, err
}

// waitNothingLeft waits briefly for dir's processes to go and says which
// remain (assertNothingLeft for any goroutine).
func waitNothingLeft(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := leftovers(dir)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes left running after the grader exited:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gradeReference runs the grader on dir, a copy of the reference, with
// the prebuilt binary (referenceBinary must have been called) and the
// run's manifest lines, and returns the report's statuses.
func gradeReference(dir string, run refRun, timeout time.Duration) (*statusReport, result, error) {
	refBin.mu.Lock()
	bin := refBin.path
	refBin.mu.Unlock()
	if bin == "" {
		return nil, result{}, fmt.Errorf("gradeReference before referenceBinary")
	}
	if err := writeManifest(dir, bin, run.Manifest); err != nil {
		return nil, result{}, err
	}
	services := run.Services
	if services == "" {
		services = "external"
	}
	seed := run.Seed
	if seed == 0 {
		seed = 1
	}
	args := []string{"check", dir, "--stage", run.Stage, "--services", services,
		"--format", "json", "--seed", fmt.Sprint(seed)}
	if services == "external" {
		// A vhost per run on the machine's broker (the events stage).
		args = append(args, "--amqp-management-url", mgmtURL())
	}
	if run.Only {
		args = append(args, "--only")
	}
	for _, k := range slices.Sorted(maps.Keys(run.Env)) {
		args = append(args, "--env", k+"="+run.Env[k])
	}
	r, err := execGrader(timeout, args...)
	if err != nil {
		return nil, r, err
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Stages) == 0 {
		return nil, r, fmt.Errorf("exit %d, no JSON report (%v)\nstderr:\n%s", r.code, err, tail(r.stderr, 30))
	}
	var full grader.Report
	if err := json.Unmarshal([]byte(r.stdout), &full); err == nil {
		if bad := internalWords(&full); len(bad) > 0 {
			return nil, r, fmt.Errorf("the report speaks of the grader's Go internals, not HTTP and JSON:\n  %s", strings.Join(bad, "\n  "))
		}
	}
	return &rep, r, nil
}

// writeManifest writes dir/grader.yaml: the reference's own, running the
// prebuilt bin instead of building, with extra's keys set on top.
func writeManifest(dir, bin string, extra map[string]any) error {
	b, err := os.ReadFile(filepath.Join(repoRoot, "fixtures", "tasks-api", "grader.yaml"))
	if err != nil {
		return err
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("the reference's grader.yaml: %w", err)
	}
	delete(m, "build")
	m["run"] = bin
	maps.Copy(m, extra)
	out, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "grader.yaml"), out, 0o644)
}

// runCases runs every case of cases as a subtest of t, grouped by mode (a
// subtest per group; docker skips, or in CI fails, as a whole when no
// engine answers), and checks each run with compareStatuses and its exit
// code. env names the variable that switches a case on
// (TASKS_API_DEFECTS, TASKS_API_VARIANTS); copies is how many copies of
// the reference each group runs on (the test binary's -parallel bounds
// the runs at a time across groups).
func runCases(t *testing.T, cases map[string]fixtureCase, env string, copies int) {
	doc := loadStages(t)
	last := doc.Stages[len(doc.Stages)-1].ID
	for _, g := range groupCases(cases) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			if g.mode != "external" {
				needMode(t, g.mode)
			}
			if g.mode == "docker" {
				// After the group's runs (cleanups run once subtests end).
				t.Cleanup(func() { assertNoContainersLeft(t) })
			}
			refs := newReferenceCopies(t, copies)
			for _, name := range g.names {
				c := cases[name]
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					run := runFor(c, map[string]string{env: name}, last)
					if g.mode == "external" && stageNeedsServices(doc, run.Stage) {
						needLocalServices(t)
					}
					rep, r, err := refs.grade(run, 4*time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					if d := compareStatuses(rep, c.Fails, c.Blocked); d != "" {
						t.Errorf("%s=%s, --stage %s (%s):\n%s\nnot passing:\n%s", env, name, run.Stage, g.name, d, rep.explain())
					}
					want := 0
					if len(c.Fails)+len(c.Blocked) > 0 {
						want = 1
					}
					if r.code != want {
						t.Errorf("exit code %d, want %d\nstderr:\n%s", r.code, want, tail(r.stderr, 10))
					}
				})
			}
		})
	}
}
