package grading

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
)

func TestParseShard(t *testing.T) {
	if s, err := ParseShard("2/3"); err != nil || s != (Shard{2, 3}) {
		t.Errorf("2/3: %v %v", s, err)
	}
	for _, bad := range []string{"0/3", "4/3", "3", "a/b", "1/0", "-1/2"} {
		var ue *UsageError
		if _, err := ParseShard(bad); !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", bad, err)
		}
	}
}

func TestShardOfDealsEverySubmissionOnce(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g"}
	var all []string
	for i := 1; i <= 3; i++ {
		all = append(all, ShardOf(names, Shard{i, 3})...)
	}
	slices.Sort(all)
	if !slices.Equal(all, names) {
		t.Errorf("shards hold %v, want each of %v once", all, names)
	}
	if got := ShardOf(names, Shard{2, 3}); !slices.Equal(got, []string{"b", "e"}) {
		t.Errorf("shard 2/3 = %v, want round-robin [b e]", got)
	}
	if got := ShardOf(names, Shard{}); !slices.Equal(got, names) {
		t.Errorf("no shard = %v, want all", got)
	}
}

// fakeShard writes what `grader batch --shard i/n` writes for names: a
// signed report each (score = len(name)), or an error.txt for a name
// starting with "x".
func fakeShard(t *testing.T, root string, sel Selection, s Shard, total int, names ...string) string {
	t.Helper()
	dir := filepath.Join(root, "out-"+strings.ReplaceAll(s.String(), "/", "-"))
	for _, n := range names {
		d := filepath.Join(dir, n)
		os.MkdirAll(d, 0o755)
		if strings.HasPrefix(n, "x") {
			os.WriteFile(filepath.Join(d, "error.txt"), []byte("could not copy\n"), 0o644)
			continue
		}
		rep := &grader.Report{SchemaVersion: grader.SchemaVersion, Track: "tasks", Stage: sel.Stage,
			Stages: []grader.StageResult{{ID: "http", Checks: []grader.CheckResult{{ID: "http.health", Status: grader.StatusPass, MaxPoints: len(n)}}}}}
		rep.Tally()
		if err := report.WriteSubmissionFiles(d, rep, nil); err != nil {
			t.Fatal(err)
		}
		if err := testKey.sign(filepath.Join(d, "report.json")); err != nil {
			t.Fatal(err)
		}
	}
	if err := testKey.writeManifest(dir, newManifest(sel, s, total, names)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMerge(t *testing.T) {
	root := t.TempDir()
	sel := Selection{Stage: "http", Seed: 7, SeedSet: true}
	s1 := fakeShard(t, root, sel, Shard{1, 2}, 4, "ann", "cy")
	s2 := fakeShard(t, root, sel, Shard{2, 2}, 4, "bob", "xdan")
	out := filepath.Join(root, "all")
	err := Merge(MergePlan{Dirs: []string{s2, s1}, Out: out, Key: testKey})
	var ee *EnvError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "xdan") {
		t.Fatalf("merge with a submission not graded: err = %v, want an env error naming it", err)
	}
	f, err := os.Open(filepath.Join(out, report.GradesFile))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs[1:] {
		got = append(got, r[0]+":"+r[2])
	}
	if want := []string{"ann:3", "bob:3", "cy:2", "xdan:"}; !slices.Equal(got, want) {
		t.Errorf("merged rows %v, want %v", got, want)
	}
	if _, err := testKey.readVerified(filepath.Join(out, "ann", "report.json")); err != nil {
		t.Errorf("a merged report no longer verifies: %v", err)
	}
	if m, err := testKey.readManifest(out); err != nil || m.Shard != nil || len(m.Submissions) != 4 {
		t.Errorf("merged batch.json: %+v, %v", m, err)
	}

	var ue *UsageError
	cases := []struct {
		name string
		dirs []string
		want string
	}{
		{"same shard twice", []string{s1, s1, s2}, "overlapping shards"},
		{"missing shard", []string{s1}, "shard 2/2 missing"},
		{"other seed", []string{s1, fakeShard(t, filepath.Join(root, "seed"), Selection{Stage: "http", Seed: 8, SeedSet: true}, Shard{2, 2}, 4, "bob", "dan")}, "seed 7"},
		{"other stage", []string{s1, fakeShard(t, filepath.Join(root, "stage"), Selection{Stage: "rest", Seed: 7, SeedSet: true}, Shard{2, 2}, 4, "bob", "dan")}, "stage rest"},
		{"other count", []string{s1, fakeShard(t, filepath.Join(root, "count"), sel, Shard{2, 3}, 4, "bob")}, "mismatched shards"},
		{"same submission twice", []string{s1, fakeShard(t, filepath.Join(root, "dup"), sel, Shard{2, 2}, 4, "ann", "dan")}, "submission ann is in both"},
		{"into a shard", []string{s1, s2, out}, "holds a whole batch"},
	}
	for _, c := range cases {
		err := Merge(MergePlan{Dirs: c.dirs, Out: filepath.Join(root, "m-"+strings.ReplaceAll(c.name, " ", "-")), Key: testKey})
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a usage error with %q", c.name, err, c.want)
		}
	}

	// A tampered report stops the merge before anything is written.
	rp := filepath.Join(s1, "ann", "report.json")
	data, _ := os.ReadFile(rp)
	os.WriteFile(rp, []byte(strings.Replace(string(data), `"passed": true`, `"passed": false`, 1)+" "), 0o644)
	out2 := filepath.Join(root, "tampered")
	err = Merge(MergePlan{Dirs: []string{s1, s2}, Out: out2, Key: testKey})
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "not signed by this grader's key") {
		t.Errorf("tampered report: err = %v, want an env error", err)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Errorf("a refused merge wrote %s", out2)
	}
	// Another key cannot merge at all.
	err = Merge(MergePlan{Dirs: []string{s1, s2}, Out: out2, Key: BatchKey{key: []byte("not the shards' key at all")}})
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), BatchKeyEnv) {
		t.Errorf("another key: err = %v, want an env error naming %s", err, BatchKeyEnv)
	}
}
