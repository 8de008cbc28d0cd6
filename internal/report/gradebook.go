package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/skills"
)

// The gradebook of a batch: grades.csv (one row per submission, scores per
// stage and skill) and summary.md (class statistics).
const (
	GradesFile  = "grades.csv"
	SummaryFile = "summary.md"
)

// GradebookRow is one submission's line in grades.csv and summary.md.
type GradebookRow struct {
	Name   string
	Report *grader.Report // nil when not graded
	Err    string         // why it was not graded
}

// Gradebook is a batch's outcome.
type Gradebook struct {
	Stage string // the stage every submission was graded at
	// StageOrder is the track's stage ids in order: the order of the
	// stage columns (ids it lacks come after, sorted).
	StageOrder []string
	Rows       []GradebookRow
}

// WriteGradebook writes grades.csv and summary.md into dir.
func WriteGradebook(dir string, g Gradebook) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{GradesFile, g.WriteCSV},
		{SummaryFile, g.WriteSummary},
	} {
		path := filepath.Join(dir, f.name)
		fh, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cannot write %s: %v", path, err)
		}
		werr := f.write(fh)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("cannot write %s: %v", path, werr)
		}
	}
	return nil
}

// batchColumns are the stage and skill ids that appear in any report, in
// track and catalogue order.
func batchColumns(order []string, rows []GradebookRow) (stageIDs, skillIDs []string) {
	haveStage, haveSkill := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if r.Report == nil {
			continue
		}
		for _, s := range r.Report.Stages {
			haveStage[s.ID] = true
		}
		for _, s := range r.Report.Skills {
			haveSkill[s.ID] = true
		}
	}
	for _, id := range order {
		if haveStage[id] {
			stageIDs = append(stageIDs, id)
			delete(haveStage, id)
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

// WriteCSV writes grades.csv: one row per submission: submission, passed,
// score, maxScore, stage:<id>..., skill:<id>..., problem, error. A
// submission that was not graded has empty score cells and its reason
// under error.
func (g Gradebook) WriteCSV(w io.Writer) error {
	rows := g.Rows
	stageIDs, skillIDs := batchColumns(g.StageOrder, rows)
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
		rec = append(rec, CSVCell(r.Name))
		if r.Report == nil {
			for range len(head) - 2 {
				rec = append(rec, "")
			}
			rec = append(rec, CSVCell(oneLineCut(r.Err, 500)))
			if err := cw.Write(rec); err != nil {
				return err
			}
			continue
		}
		rep := r.Report
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
		rec = append(rec, CSVCell(problem), "")
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

// csvText keeps a spreadsheet from reading a text cell as a formula
// (CSVCell is the whole escaping of a cell).
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// GradebookTally counts a batch's outcomes.
type GradebookTally struct{ Graded, Passed, NotGraded int }

// Tally counts the rows' outcomes.
func (g Gradebook) Tally() GradebookTally {
	var t GradebookTally
	for _, r := range g.Rows {
		switch {
		case r.Report == nil:
			t.NotGraded++
		case r.Report.Passed:
			t.Graded++
			t.Passed++
		default:
			t.Graded++
		}
	}
	return t
}

// oneLineCut folds s onto one line of at most n runes.
func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
