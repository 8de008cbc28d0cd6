package grading

import (
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
	"github.com/backend-grader/grader/internal/report"
)

// MergePlan is one `grader merge`: the output directories of the shards of
// one batch, combined into one.
type MergePlan struct {
	Dirs []string // each one shard's --out
	Out  string
	Key  BatchKey // zero: LoadBatchKey
	Log  io.Writer
}

// Merge checks that Dirs are the N shards of one batch (same stage and
// selection, same submissions dealt, each shard once, no submission twice),
// verifies every report's signature, copies each submission's directory
// into Out and writes grades.csv, summary.md and batch.json for all of them.
// It returns a *UsageError when the shards do not fit together, an
// *EnvError when a report cannot be trusted or some submission was not
// graded.
func Merge(o MergePlan) error {
	if len(o.Dirs) == 0 {
		return Usagef("no shards: give the --out directory of every shard (grader merge out-1 out-2 out-3 --out all)")
	}
	logf := func(string, ...any) {}
	if o.Log != nil {
		logf = Logger(o.Log)
	}
	outAbs, err := filepath.Abs(o.Out)
	if err != nil {
		return Usagef("--out %q: %v", o.Out, err)
	}
	if len(o.Key.key) == 0 {
		if o.Key, err = LoadBatchKey(); err != nil {
			return err
		}
	}

	type shardOut struct {
		dir string
		m   batchManifest
	}
	var shards []shardOut
	for _, d := range o.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return Usagef("%q: %v", d, err)
		}
		if abs == outAbs {
			return Usagef("--out %s is also one of the shards: merge into a directory of its own", o.Out)
		}
		m, err := o.Key.readManifest(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return Usagef("%s has no %s: give the --out directory of each 'grader batch --shard I/N' run", d, ManifestFile)
		case errors.Is(err, errUnsigned):
			return &EnvError{Message: fmt.Sprintf("%s: %v", d, err),
				Fix: fmt.Sprintf("merge with the key the shards were graded with (set %s to it), or grade that shard again", BatchKeyEnv)}
		case err != nil:
			return Usagef("%v", err)
		}
		if m.Shard == nil {
			return Usagef("%s holds a whole batch, not a shard: merge only the outputs of 'grader batch --shard I/N'", d)
		}
		shards = append(shards, shardOut{dir: abs, m: m})
	}

	// The shards must be the N slices of one batch.
	first := shards[0]
	byIndex := map[int]string{}
	owner := map[string]string{}
	dealt := 0
	for _, s := range shards {
		if s.m.Shard.Count != first.m.Shard.Count || s.m.Total != first.m.Total {
			return Usagef("mismatched shards: %s is shard %s of %d submissions, %s is shard %s of %d: give the shards of one batch, all cut with the same --shard N from the same submissions",
				first.dir, first.m.Shard, first.m.Total, s.dir, s.m.Shard, s.m.Total)
		}
		if s.m.selection() != first.m.selection() {
			return Usagef("mismatched shards: %s was graded with %s, %s with %s: grades compare only when every shard is graded the same way; grade that shard again with the same --stage, --seed, --check and --env",
				first.dir, first.m.selection(), s.dir, s.m.selection())
		}
		if d, ok := byIndex[s.m.Shard.Index]; ok {
			return Usagef("overlapping shards: %s and %s are both shard %s: give each shard once", d, s.dir, s.m.Shard)
		}
		byIndex[s.m.Shard.Index] = s.dir
		for _, name := range s.m.Submissions {
			if d, ok := owner[name]; ok {
				return Usagef("overlapping shards: submission %s is in both %s and %s: were they cut from different submission lists?", report.TerminalLine(name), d, s.dir)
			}
			owner[name] = s.dir
		}
		dealt += len(s.m.Submissions)
	}
	var missing []string
	for i := 1; i <= first.m.Shard.Count; i++ {
		if _, ok := byIndex[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, first.m.Shard.Count))
		}
	}
	if len(missing) > 0 {
		return Usagef("shard %s missing: give the output of every shard (a merge of some of them would be a partial gradebook)", strings.Join(missing, ", "))
	}
	if dealt != first.m.Total {
		return Usagef("the shards list %d submissions but were cut from %d: were they graded from different submission lists?", dealt, first.m.Total)
	}

	// Every report is verified before anything is written.
	var rows []report.GradebookRow
	for _, s := range shards {
		for _, name := range s.m.Submissions {
			row, err := o.Key.mergeRow(s.dir, name, s.m)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })

	if err := os.MkdirAll(outAbs, 0o755); err != nil {
		return &EnvError{Message: fmt.Sprintf("cannot create %s: %v", o.Out, err), Fix: "choose a writable --out directory"}
	}
	for _, r := range rows {
		if err := copySubmissionOut(filepath.Join(owner[r.Name], r.Name), filepath.Join(outAbs, r.Name)); err != nil {
			return &EnvError{Message: fmt.Sprintf("cannot copy %s's reports: %v", r.Name, err), Fix: "choose a writable --out directory with free space"}
		}
	}
	book := report.Gradebook{Stage: first.m.Stage, StageOrder: StageIDs(), Rows: rows}
	if err := report.WriteGradebook(outAbs, book); err != nil {
		return &EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name
	}
	all := first.m
	all.Shard, all.Submissions = nil, names
	if err := o.Key.writeManifest(outAbs, all); err != nil {
		return &EnvError{Message: err.Error(), Fix: "choose a writable --out directory with free space"}
	}
	t := book.Tally()
	logf("merged %d shards: %s, %d passed, %d not passed, %d not graded; wrote %s and %s",
		len(shards), countOf(len(rows), "submission", "submissions"), t.Passed, t.Graded-t.Passed, t.NotGraded,
		filepath.Join(o.Out, report.GradesFile), filepath.Join(o.Out, report.SummaryFile))
	if t.NotGraded > 0 {
		var which []string
		for _, r := range rows {
			if r.Report == nil {
				which = append(which, report.TerminalLine(r.Name))
			}
		}
		return &EnvError{
			Message: fmt.Sprintf("%s could not be graded: %s", countOf(t.NotGraded, "submission was", "submissions were"), strings.Join(which, ", ")),
			Fix:     "run those shards' command again (it grades only those), then merge again",
		}
	}
	return nil
}

// mergeRow is one submission of a shard: its verified report, or why it
// was not graded (its error.txt).
func (k BatchKey) mergeRow(shardDir, name string, m batchManifest) (report.GradebookRow, error) {
	row := report.GradebookRow{Name: name}
	dir := filepath.Join(shardDir, name)
	data, err := k.readVerified(filepath.Join(dir, "report.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg, rerr := os.ReadFile(filepath.Join(dir, "error.txt"))
		if rerr != nil {
			return row, &EnvError{Message: fmt.Sprintf("%s: shard %s lists %s, which has neither report.json nor error.txt", shardDir, m.Shard, report.TerminalLine(name)),
				Fix: "run that shard's command again, then merge again"}
		}
		row.Err = strings.TrimSpace(string(msg))
		return row, nil
	case errors.Is(err, errUnsigned):
		return row, &EnvError{Message: fmt.Sprintf("%s: %v", dir, err),
			Fix: fmt.Sprintf("run shard %s's command again (it grades that submission again), then merge again; shards merge only with the key they were graded with (%s)", m.Shard, BatchKeyEnv)}
	case err != nil:
		return row, &EnvError{Message: fmt.Sprintf("cannot read %s: %v", filepath.Join(dir, "report.json"), err)}
	}
	var rep grader.Report
	if err := json.Unmarshal(data, &rep); err != nil || rep.Stage != m.Stage {
		return row, &EnvError{Message: fmt.Sprintf("%s: a signed report that is not of stage %s", filepath.Join(dir, "report.json"), m.Stage),
			Fix: "grade that shard again with --force"}
	}
	row.Report = &rep
	return row, nil
}

// copySubmissionOut replaces dst with a copy of the regular files of src
// (one submission's reports and log).
func copySubmissionOut(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, target, 0o644)
		}
		return nil // a symlink in an output directory is not ours: left out
	})
}
