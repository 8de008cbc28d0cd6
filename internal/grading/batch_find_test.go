package grading

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/report"
)

func TestCollectSubmissions(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"class/bob", "class/alice", "class/.git", "class/grader-out", "other/alice", "listed/carol"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "class", "notes.txt"), []byte("x"), 0o644)
	list := filepath.Join(root, "list.txt")
	os.WriteFile(list, []byte("# the late ones\nlisted/carol\n\n"), 0o644)
	items, err := collectSubmissions(strings.NewReader(""), []string{filepath.Join(root, "class"), filepath.Join(root, "other")}, list, filepath.Join(root, "class", "grader-out"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.name+"="+strings.TrimPrefix(it.src, root+"/"))
	}
	want := []string{"bob=class/bob", "carol=listed/carol", "class-alice=class/alice", "other-alice=other/alice"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("submissions (-want +got):\n%s", d)
	}

	// A directory with no subdirectory is a usage error that says what to do.
	proj := filepath.Join(root, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module x\n"), 0o644)
	_, err = collectSubmissions(nil, []string{proj}, "", "/nowhere")
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "grader check") {
		t.Errorf("err = %v, want a usage error pointing to grader check", err)
	}
}

func TestKeepEarlierReports(t *testing.T) {
	out := t.TempDir()
	mk := func(name, stage string) *batchItem {
		it := &batchItem{name: name, outDir: filepath.Join(out, name)}
		if stage != "" {
			os.MkdirAll(it.outDir, 0o755)
			rep := &grader.Report{SchemaVersion: grader.SchemaVersion, Track: "tasks", Stage: stage}
			rep.Tally()
			if err := report.WriteSubmissionFiles(it.outDir, rep, nil); err != nil {
				t.Fatal(err)
			}
			if err := testKey.sign(filepath.Join(it.outDir, "report.json")); err != nil {
				t.Fatal(err)
			}
		}
		return it
	}
	a, b := mk("a", "rest"), mk("b", "")
	if err := keepEarlierReports([]*batchItem{a, b}, "rest", false, testKey); err != nil {
		t.Fatal(err)
	}
	if !a.skipped || a.rep == nil || b.skipped {
		t.Errorf("a skipped=%v, b skipped=%v; want only a (it has a report.json)", a.skipped, b.skipped)
	}
	a.skipped = false
	if err := keepEarlierReports([]*batchItem{a}, "rest", true, testKey); err != nil || a.skipped {
		t.Errorf("--force: skipped=%v err=%v, want graded again", a.skipped, err)
	}
	c := mk("c", "http")
	err := keepEarlierReports([]*batchItem{c}, "rest", false, testKey)
	if err == nil || !strings.Contains(err.Error(), "c (stage http)") {
		t.Errorf("a report of another stage: err = %v, want a usage error naming it", err)
	}
	for _, f := range []string{"report.json", "report.txt"} {
		if _, err := os.Stat(filepath.Join(out, "a", f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	// A report changed after the grader wrote it, one with no signature, and
	// one signed with another key are graded again, and say why.
	a.skipped, a.rep = false, nil
	path := filepath.Join(a.outDir, "report.json")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"score": 0`, `"score": 99`, 1)), 0o644)
	other := BatchKey{key: []byte("another key of 16+ bytes")}
	d := mk("d", "rest")
	os.Remove(filepath.Join(d.outDir, "report.json.sig"))
	e := mk("e", "rest")
	if err := keepEarlierReports([]*batchItem{a, d, e, c}, "rest", false, other); err != nil {
		t.Fatalf("unverifiable reports of another stage must not refuse the run: %v", err)
	}
	for _, it := range []*batchItem{a, d, e, c} {
		if it.skipped || !strings.Contains(it.regrade, "not signed by this grader's key") {
			t.Errorf("%s: skipped=%v regrade=%q, want graded again with the reason", it.name, it.skipped, it.regrade)
		}
	}
}

func TestCopyTree(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, ".git", "objects"), 0o755)
	os.MkdirAll(filepath.Join(src, "cmd", "api"), 0o755)
	os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("ref"), 0o644)
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("echo hi"), 0o755)
	os.WriteFile(filepath.Join(src, "cmd", "api", "main.go"), []byte("package main"), 0o444)
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dst, "run.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh not copied with its mode: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "cmd", "api", "main.go")); string(b) != "package main" {
		t.Errorf("nested file not copied")
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "/etc/passwd" {
		t.Errorf("symlink: %q %v, want copied as a link", l, err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); err == nil {
		t.Errorf(".git was copied")
	}
}
