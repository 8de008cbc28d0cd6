package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// variantSpec is one entry of fixtures/tasks-api/variants.json: a correct
// project written differently, the checks whose subject it departs from,
// and the grader.yaml lines it needs (DESIGN.md §4).
type variantSpec struct {
	Fails    []string       `json:"fails"`
	Blocked  []string       `json:"blocked"`
	Manifest map[string]any `json:"manifest"`
	// Open, when set, means the lists are not fixed: every check of a
	// stage before rate-limiting that met a 429 is blocked by
	// Open.BlockedBy, and none of them fails.
	Open *struct {
		BlockedBy string `json:"blockedBy"`
	} `json:"open"`
}

func loadVariants(t *testing.T) map[string]variantSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "fixtures", "tasks-api", "variants.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]variantSpec
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("variants.json: %v", err)
	}
	return v
}

// checkOutcome is what the variants test reads of each check: its status
// and, once the report has it (schema 2), what blocked it.
type checkOutcome struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	BlockedBy string `json:"blockedBy"`
	Message   string `json:"message"`
}

type stageOutcomes struct {
	Stages []struct {
		ID     string         `json:"id"`
		Checks []checkOutcome `json:"checks"`
	} `json:"stages"`
}

// withManifest adds the variant's lines to the fixture copy's grader.yaml.
func withManifest(t *testing.T, dir string, lines map[string]any) {
	t.Helper()
	if len(lines) == 0 {
		return
	}
	path := filepath.Join(dir, "grader.yaml")
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := yaml.Marshal(lines)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(append(base, '\n'), extra...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVariantsFailExactlyTheirChecks grades every variant over the whole
// track: the listed checks fail (or are blocked, as listed) and every other
// check passes. Run one with -run 'TestVariantsFailExactlyTheirChecks/NAME'.
func TestVariantsFailExactlyTheirChecks(t *testing.T) {
	variants := loadVariants(t)
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := variants[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			needLocalServices(t)
			dir := copyFixture(t, "tasks-api")
			withManifest(t, dir, v.Manifest)
			r := runGrader(t, 6*time.Minute, "check", dir, "--stage", "rate-limiting",
				"--services", "external", "--env", "TASKS_API_VARIANTS="+name, "--format", "json", "--seed", "1")
			if r.report == nil {
				t.Fatalf("exit %d, no report\nstderr:\n%s", r.code, tail(r.stderr, 30))
			}
			var rep stageOutcomes
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			var wrong []string
			for _, s := range rep.Stages {
				for _, c := range s.Checks {
					if c.Status != "pass" {
						got[c.Status] = append(got[c.Status], c.ID)
					}
					if v.Open != nil && s.ID != "rate-limiting" && c.Status != "pass" &&
						(c.Status != "blocked" || c.BlockedBy != v.Open.BlockedBy || !strings.Contains(c.Message, "429")) {
						wrong = append(wrong, fmt.Sprintf("%s: %s (blocked by %q): %s", c.ID, c.Status, c.BlockedBy, c.Message))
					}
				}
			}
			if v.Open != nil {
				if len(wrong) > 0 {
					t.Errorf("before rate-limiting, a check may only pass or be blocked by %s after meeting a 429:\n  %s",
						v.Open.BlockedBy, strings.Join(wrong, "\n  "))
				}
				if !contains(got["fail"], v.Open.BlockedBy) {
					t.Errorf("%s does not fail: it grades reading the limit from the environment, which the variant ignores\n%s",
						v.Open.BlockedBy, explainFailures(r.report))
				}
				return
			}
			want := map[string][]string{}
			if len(v.Fails) > 0 {
				want["fail"] = append([]string(nil), v.Fails...)
			}
			if len(v.Blocked) > 0 {
				want["blocked"] = append([]string(nil), v.Blocked...)
			}
			for _, ids := range [](map[string][]string){want, got} {
				for _, l := range ids {
					sort.Strings(l)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("checks not passing, by status (-listed in variants.json +actual):\n%s\n%s", d, explainFailures(r.report))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
