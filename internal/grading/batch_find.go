package grading

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
)

// collectSubmissions lists the submissions: each subdirectory of each of
// dirs (hidden ones and the output directory left out), then each path in
// the list file. Names (the base names) must be unique.
func collectSubmissions(stdin io.Reader, dirs []string, list, outAbs string) ([]*batchItem, error) {
	var paths []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, Usagef("submissions directory %q: %v", d, err)
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, Usagef("cannot read the submissions directory %q: %v", d, err)
		}
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(abs, e.Name())
			if st, err := os.Stat(path); err != nil || !st.IsDir() {
				continue
			}
			if path == outAbs || isBatchOutput(path) {
				continue
			}
			paths = append(paths, path)
			n++
		}
		if n == 0 {
			msg := fmt.Sprintf("%s has no subdirectories: each subdirectory of DIR is one submission", d)
			if looksLikeProject(abs) {
				msg += fmt.Sprintf(" (%s looks like one project: grade it with 'grader check %s')", d, d)
			}
			return nil, Usagef("%s", msg)
		}
	}
	if list != "" {
		listed, err := readList(stdin, list)
		if err != nil {
			return nil, err
		}
		paths = append(paths, listed...)
	}
	return nameSubmissions(paths)
}

// readList reads a list file: one directory a line, # comments, paths
// relative to the file's directory ("-": stdin, relative to the current
// directory).
func readList(stdin io.Reader, list string) ([]string, error) {
	var r io.Reader
	base := "."
	if list == "-" {
		if stdin == nil {
			return nil, Usagef("--list -: there is no standard input to read the list from; give a file")
		}
		r = stdin
	} else {
		f, err := os.Open(list)
		if err != nil {
			return nil, Usagef("--list %q: %v", list, err)
		}
		defer f.Close()
		r = f
		base = filepath.Dir(list)
	}
	var paths []string
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(base, s)
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return nil, Usagef("--list %s line %d: %v", list, line, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, Usagef("--list %s line %d: %s is not a directory", list, line, abs)
		}
		paths = append(paths, abs)
	}
	if err := sc.Err(); err != nil {
		return nil, Usagef("--list %q: %v", list, err)
	}
	if len(paths) == 0 {
		return nil, Usagef("--list %s names no directory: write one submission directory a line", list)
	}
	return paths, nil
}

// nameSubmissions names each path by its base name; when two share one,
// by parent-base; when that is still ambiguous, it is a usage error.
func nameSubmissions(paths []string) ([]*batchItem, error) {
	seen := map[string]bool{}
	var uniq []string
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	count := map[string]int{}
	for _, p := range uniq {
		count[filepath.Base(p)]++
	}
	byName := map[string]string{}
	var items []*batchItem
	for _, p := range uniq {
		name := filepath.Base(p)
		if count[name] > 1 {
			name = filepath.Base(filepath.Dir(p)) + "-" + name
		}
		name = safeName(name)
		if other, ok := byName[name]; ok {
			return nil, Usagef("two submissions would share the name %q: %s and %s; rename one, or grade them in separate batches with separate --out", name, other, p)
		}
		byName[name] = p
		items = append(items, &batchItem{name: name, src: p})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	return items, nil
}

// safeName keeps a name usable as a directory name and a CSV cell.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// isBatchOutput recognises an earlier batch's output directory.
func isBatchOutput(dir string) bool {
	_, e1 := os.Stat(filepath.Join(dir, "grades.csv"))
	_, e2 := os.Stat(filepath.Join(dir, "summary.md"))
	return e1 == nil && e2 == nil
}

func looksLikeProject(dir string) bool {
	for _, f := range []string{"grader.yaml", "grader.yml", "go.mod", "package.json", "Dockerfile", "run.sh", "main.py", "app.py"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// keepEarlierReports marks the submissions whose report.json exists as
// skipped (unless force), when its signature shows that the grader wrote it
// with key; one it cannot verify is graded again, and it.regrade says why.
// A report of another stage is a usage error: its grades would not compare.
func keepEarlierReports(items []*batchItem, stage string, force bool, key BatchKey) error {
	if force {
		return nil
	}
	var other []string
	for _, it := range items {
		data, err := key.readVerified(filepath.Join(it.outDir, "report.json"))
		if errors.Is(err, errUnsigned) {
			it.regrade = "its earlier " + err.Error()
			continue
		}
		if err != nil {
			continue
		}
		var rep grader.Report
		if json.Unmarshal(data, &rep) != nil || rep.SchemaVersion == 0 {
			continue // unreadable: grade it again
		}
		if rep.Stage != stage {
			other = append(other, fmt.Sprintf("%s (stage %s)", it.name, rep.Stage))
			continue
		}
		it.rep, it.skipped = &rep, true
	}
	if len(other) > 0 {
		return Usagef("the output directory already holds reports of another stage: %s; use another --out, or --force to grade them again at stage %s",
			strings.Join(other, ", "), stage)
	}
	return nil
}

// copyTree copies the submission at src to dst: regular files with their
// modes, symlinks as symlinks (never followed), no .git and no build output
// of an earlier local run.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() && rel != "." && (d.Name() == ".git" || d.Name() == ".grader-bin") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case t.IsDir():
			return os.MkdirAll(target, 0o755)
		case t&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, target, info.Mode().Perm())
		default:
			return nil // sockets, pipes, devices: not part of a project
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
