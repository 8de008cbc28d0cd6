package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/checks"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/services"
	"github.com/backend-grader/grader/internal/skills"
)

// batchRow is one submission's line in grades.csv and summary.md.
type batchRow struct {
	name string
	rep  *grader.Report // nil when not graded
	err  string         // why it was not graded
}

// writeBatchFiles writes grades.csv and summary.md into dir.
func writeBatchFiles(dir, stage string, rows []batchRow) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"grades.csv", func(w io.Writer) error { return writeGradesCSV(w, rows) }},
		{"summary.md", func(w io.Writer) error { return writeSummary(w, stage, rows) }},
	} {
		path := filepath.Join(dir, f.name)
		fh, err := os.Create(path)
		if err != nil {
			return &services.EnvError{Message: fmt.Sprintf("cannot write %s: %v", path, err), Fix: "choose a writable --out directory"}
		}
		werr := f.write(fh)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return &services.EnvError{Message: fmt.Sprintf("cannot write %s: %v", path, werr), Fix: "choose a writable --out directory with free space"}
		}
	}
	return nil
}

// batchColumns are the stage and skill ids that appear in any report, in
// track and catalogue order.
func batchColumns(rows []batchRow) (stageIDs, skillIDs []string) {
	haveStage, haveSkill := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if r.rep == nil {
			continue
		}
		for _, s := range r.rep.Stages {
			haveStage[s.ID] = true
		}
		for _, s := range r.rep.Skills {
			haveSkill[s.ID] = true
		}
	}
	for _, s := range checks.Tasks.Stages {
		if haveStage[s.ID] {
			stageIDs = append(stageIDs, s.ID)
			delete(haveStage, s.ID)
		}
	}
	var rest []string
	for id := range haveStage {
		rest = append(rest, id)
	}
	sort.Strings(rest)
	stageIDs = append(stageIDs, rest...)
	for id := range haveSkill {
		skillIDs = append(skillIDs, id)
	}
	sort.Slice(skillIDs, func(i, j int) bool {
		oi, oj := skills.Order(skillIDs[i]), skills.Order(skillIDs[j])
		if oi != oj {
			return oi < oj
		}
		return skillIDs[i] < skillIDs[j]
	})
	return stageIDs, skillIDs
}

// writeGradesCSV writes one row per submission: submission, passed, score,
// maxScore, stage:<id>..., skill:<id>..., problem, error. A submission that
// was not graded has empty score cells and its reason under error.
func writeGradesCSV(w io.Writer, rows []batchRow) error {
	stageIDs, skillIDs := batchColumns(rows)
	cw := csv.NewWriter(w)
	head := []string{"submission", "passed", "score", "maxScore"}
	for _, id := range stageIDs {
		head = append(head, "stage:"+id)
	}
	for _, id := range skillIDs {
		head = append(head, "skill:"+id)
	}
	head = append(head, "problem", "error")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range rows {
		rec := make([]string, 0, len(head))
		rec = append(rec, csvText(r.name))
		if r.rep == nil {
			for range len(head) - 2 {
				rec = append(rec, "")
			}
			rec = append(rec, csvText(oneLineCut(r.err, 500)))
			if err := cw.Write(rec); err != nil {
				return err
			}
			continue
		}
		rep := r.rep
		rec = append(rec, strconv.FormatBool(rep.Passed), strconv.Itoa(rep.Score), strconv.Itoa(rep.MaxScore))
		stageScores := map[string]int{}
		for _, s := range rep.Stages {
			stageScores[s.ID] = s.Score
		}
		skillScores := map[string]int{}
		for _, s := range rep.Skills {
			skillScores[s.ID] = s.Score
		}
		rec = append(rec, scoreCells(stageIDs, stageScores)...)
		rec = append(rec, scoreCells(skillIDs, skillScores)...)
		problem := ""
		if rep.Problem != nil {
			problem = rep.Problem.Kind + ": " + oneLineCut(rep.Problem.Message, 300)
		}
		rec = append(rec, csvText(problem), "")
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// scoreCells is the score of each of ids, "" for one without a score.
func scoreCells(ids []string, scores map[string]int) []string {
	cells := make([]string, len(ids))
	for i, id := range ids {
		if n, ok := scores[id]; ok {
			cells[i] = strconv.Itoa(n)
		}
	}
	return cells
}

// csvText keeps a spreadsheet from reading a text cell as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// rowTally counts a batch's outcomes.
type rowTally struct{ graded, passed, notGraded int }

func tallyRows(rows []batchRow) rowTally {
	var t rowTally
	for _, r := range rows {
		switch {
		case r.rep == nil:
			t.notGraded++
		case r.rep.Passed:
			t.graded++
			t.passed++
		default:
			t.graded++
		}
	}
	return t
}
