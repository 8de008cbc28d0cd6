package grader

import (
	"sort"

	"github.com/backend-grader/grader/internal/harness"
	"github.com/backend-grader/grader/internal/skills"
)

// SchemaVersion is the version of the JSON report (DESIGN.md §2.3).
const SchemaVersion = 1

// Report is the one model every writer prints. Its JSON form is schema v1.
type Report struct {
	SchemaVersion int            `json:"schemaVersion"`
	Grader        GraderInfo     `json:"grader"`
	Submission    SubmissionInfo `json:"submission"`
	Track         string         `json:"track"`
	Stage         string         `json:"stage"`
	Seed          int64          `json:"seed"`
	Passed        bool           `json:"passed"`
	Score         int            `json:"score"`
	MaxScore      int            `json:"maxScore"`
	// Problem is set when the run could not reach the checks normally: the
	// project did not build, did not start, or the service died.
	Problem *Problem      `json:"problem,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
	Stages  []StageResult `json:"stages"`
	Skills  []SkillScore  `json:"skills"`
	Timings Timings       `json:"timings"`
}

type GraderInfo struct {
	Version string `json:"version"`
}

type SubmissionInfo struct {
	Path string `json:"path"`
	Run  string `json:"run"`
}

// Problem is why a run could not grade normally, in the learner's terms.
type Problem struct {
	Kind    string `json:"kind"`    // build | start | crash
	Message string `json:"message"` // one line naming the cause
	Hint    string `json:"hint,omitempty"`
	Log     string `json:"log,omitempty"` // the last lines of output
}

type StageResult struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Passed   bool          `json:"passed"`
	Score    int           `json:"score"`
	MaxScore int           `json:"maxScore"`
	Checks   []CheckResult `json:"checks"`
}

type CheckResult struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	Status     Status         `json:"status"`
	Points     int            `json:"points"`
	MaxPoints  int            `json:"maxPoints"`
	Skills     []string       `json:"skills"`
	Message    string         `json:"message"`
	Hint       string         `json:"hint"`
	DurationMs int64          `json:"durationMs"`
	Evidence   []harness.Step `json:"evidence,omitempty"`
}

type SkillScore struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	URL      string `json:"url,omitempty"`
	Score    int    `json:"score"`
	MaxScore int    `json:"maxScore"`
}

type Timings struct {
	ProvisionMs int64 `json:"provisionMs"`
	BuildMs     int64 `json:"buildMs"`
	StartMs     int64 `json:"startMs"`
	ChecksMs    int64 `json:"checksMs"`
	TotalMs     int64 `json:"totalMs"`
}

// Tally fills in the stage, overall and per-skill scores from the check
// results. Skipped checks count in neither score nor maxScore.
func (r *Report) Tally() {
	r.Score, r.MaxScore = 0, 0
	r.Passed = r.Problem == nil
	bySkill := map[string]*SkillScore{}
	for i := range r.Stages {
		st := &r.Stages[i]
		st.Score, st.MaxScore, st.Passed = 0, 0, true
		for j := range st.Checks {
			c := &st.Checks[j]
			if c.Status == StatusSkip {
				c.Points = 0
				continue
			}
			if c.Status == StatusPass {
				c.Points = c.MaxPoints
			} else {
				c.Points = 0
				st.Passed = false
			}
			st.Score += c.Points
			st.MaxScore += c.MaxPoints
			for _, id := range c.Skills {
				s := bySkill[id]
				if s == nil {
					sk := skills.Lookup(id)
					s = &SkillScore{ID: id, Title: sk.Title, URL: sk.URL}
					bySkill[id] = s
				}
				s.Score += c.Points
				s.MaxScore += c.MaxPoints
			}
		}
		r.Score += st.Score
		r.MaxScore += st.MaxScore
		if !st.Passed {
			r.Passed = false
		}
	}
	r.Skills = r.Skills[:0]
	for _, s := range bySkill {
		r.Skills = append(r.Skills, *s)
	}
	sort.Slice(r.Skills, func(i, j int) bool { return skills.Order(r.Skills[i].ID) < skills.Order(r.Skills[j].ID) })
}

// Counts returns how many checks ended in each status.
func (r *Report) Counts() map[Status]int {
	n := map[Status]int{}
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			n[c.Status]++
		}
	}
	return n
}
