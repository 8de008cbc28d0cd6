package e2e

// Tests of the e2e helpers' own logic: quick, no grader run, and meant to
// be run with -race (go test -race -run 'TestHelper' ./e2e).

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// scanFor is read by one goroutine while another selects on seen (as in
// interrupted): seen closes once, at the first match, and every byte is
// read, long lines included.
func TestHelperScanFor(t *testing.T) {
	pr, pw := io.Pipe()
	seen := make(chan struct{})
	done := make(chan string, 1)
	go func() { done <- scanFor(pr, "rest.", seen) }()
	long := strings.Repeat("x", 200<<10)
	writes := make(chan error, 1)
	go func() {
		_, err := io.WriteString(pw, "[grader] starting\n"+long+"\n  ✓ rest.create\n")
		writes <- err
	}()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("seen was not closed after the matching line")
	}
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	// A second match must not close seen again (that would panic).
	if _, err := io.WriteString(pw, "  ✓ rest.get\nno newline at the end"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	got := <-done
	if want := "[grader] starting\n" + long + "\n  ✓ rest.create\n  ✓ rest.get\nno newline at the end"; got != want {
		t.Errorf("scanFor returned %d bytes, want %d", len(got), len(want))
	}
}

func TestHelperScanForNoMatch(t *testing.T) {
	seen := make(chan struct{})
	got := scanFor(strings.NewReader("a\nb\n"), "zzz", seen)
	select {
	case <-seen:
		t.Error("seen closed without a match")
	default:
	}
	if got != "a\nb\n" {
		t.Errorf("got %q", got)
	}
}

func reportOf(t *testing.T, js string) *statusReport {
	t.Helper()
	var r statusReport
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestHelperCompareStatuses(t *testing.T) {
	// A schema-2 report: one cause failing, one check blocked by it.
	rep := reportOf(t, `{"schemaVersion": 2, "stages": [
		{"id": "auth", "checks": [
			{"id": "auth.register-login", "status": "fail", "message": "register answered 500"},
			{"id": "auth.ownership", "status": "blocked", "blockedBy": "auth.register-login"},
			{"id": "auth.expired-token", "status": "error"},
			{"id": "auth.unauthorized", "status": "pass"}]},
		{"id": "rest", "checks": [{"id": "rest.create", "status": "pass"}]}]}`)
	for _, tc := range []struct {
		name           string
		fails, blocked []string
		want           []string // phrases the difference must contain; none: no difference
	}{
		{"exact", []string{"auth.expired-token", "auth.register-login"}, []string{"auth.ownership"}, nil},
		{"order does not matter", []string{"auth.register-login", "auth.expired-token"}, []string{"auth.ownership"}, nil},
		{"blocked counted as failing", []string{"auth.expired-token", "auth.register-login", "auth.ownership"}, nil,
			[]string{"checks failing", "-auth.ownership", "checks blocked", "+auth.ownership"}},
		{"a fail not listed", []string{"auth.register-login"}, []string{"auth.ownership"},
			[]string{"checks failing", "+auth.expired-token"}},
		{"a listed check passes", []string{"auth.expired-token", "auth.register-login", "auth.unauthorized"}, []string{"auth.ownership"},
			[]string{"-auth.unauthorized"}},
		{"nothing listed", nil, nil, []string{"checks failing", "checks blocked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := compareStatuses(rep, tc.fails, tc.blocked)
			if len(tc.want) == 0 && d != "" {
				t.Errorf("difference reported:\n%s", d)
			}
			if len(tc.want) > 0 && d == "" {
				t.Error("no difference reported")
			}
			for _, w := range tc.want {
				if !diffHas(d, w) {
					t.Errorf("difference does not show %q:\n%s", w, d)
				}
			}
		})
	}

	// A blocked check must name a cause that did not pass.
	bad := reportOf(t, `{"stages": [{"id": "s", "checks": [
		{"id": "s.a", "status": "blocked"},
		{"id": "s.b", "status": "blocked", "blockedBy": "s.c"},
		{"id": "s.c", "status": "pass"}]}]}`)
	d := compareStatuses(bad, nil, []string{"s.a", "s.b"})
	for _, w := range []string{"s.a is blocked but names no blockedBy", "s.b is blocked by s.c, which passed"} {
		if !strings.Contains(d, w) {
			t.Errorf("difference does not contain %q:\n%s", w, d)
		}
	}
}

// diffHas reports whether d contains w, or, for w = "+id" / "-id", a diff
// line adding / removing "id" (cmp's spacing is not stable).
func diffHas(d, w string) bool {
	if w[0] != '+' && w[0] != '-' {
		return strings.Contains(d, w)
	}
	for _, l := range strings.Split(d, "\n") {
		l = strings.TrimLeft(l, " \t\u00a0")
		if strings.HasPrefix(l, w[:1]) && strings.Contains(l, `"`+w[1:]+`"`) {
			return true
		}
	}
	return false
}

func TestHelperGroupCases(t *testing.T) {
	cases := map[string]fixtureCase{
		"b":  {Stage: "caching", Services: "docker"},
		"a":  {Stage: "http"},
		"c":  {Stage: "rest"},
		"f":  {Stage: "persistence", Faults: true},
		"df": {Stage: "persistence", Services: "docker", Faults: true},
	}
	var got []string
	for _, g := range groupCases(cases) {
		got = append(got, g.name+"("+g.mode+"):"+strings.Join(g.names, ","))
	}
	want := []string{"external(external):a,c", "external+faults(external):f", "docker(docker):b", "docker+faults(docker):df"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	if r := runFor(cases["b"], map[string]string{"TASKS_API_DEFECTS": "b"}, "rate-limiting"); r.Stage != "caching" || !r.Only || r.Services != "docker" {
		t.Errorf("runFor(defect) = %+v", r)
	}
	if r := runFor(fixtureCase{}, nil, "rate-limiting"); r.Stage != "rate-limiting" || r.Only || r.Services != "external" {
		t.Errorf("runFor(variant without a stage) = %+v", r)
	}
}

// The run's grader.yaml: the reference's, the prebuilt binary instead of a
// build, the case's manifest keys on top.
func TestHelperWriteManifest(t *testing.T) {
	dir := t.TempDir()
	extra := map[string]any{"basePath": "/api/v1", "tables": map[string]any{"todos": map[string]any{"table": "tasks"}}}
	if err := writeManifest(dir, "/bin/tasks-api", extra); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "grader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["build"]; ok {
		t.Errorf("build is still there:\n%s", b)
	}
	if m["run"] != "/bin/tasks-api" || m["basePath"] != "/api/v1" || m["stage"] == nil || m["startupTimeout"] == nil {
		t.Errorf("grader.yaml:\n%s", b)
	}
	if tables, _ := m["tables"].(map[string]any); tables == nil || tables["todos"] == nil {
		t.Errorf("tables lost:\n%s", b)
	}
}
