package grader

import (
	"sort"

	"github.com/backend-grader/grader/internal/skills"
	"github.com/backend-grader/grader/internal/verdict"
)

// SchemaVersion is the version of the JSON report (DESIGN.md §2.3;
// docs/report-schema.md says what changed from version 1).
const SchemaVersion = 2

// Report is the one model every writer prints. Its JSON form is schema v2.
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
	Problem *Problem `json:"problem,omitempty"`
	// Diagnoses are the patterns that broke the whole run (every route
	// 404, a public route 401, 429s before the rate-limiting stage), each
	// with what to change; said once, before everything else.
	Diagnoses []Diagnosis `json:"diagnoses,omitempty"`
	// Causes are the root causes of blocked checks, the one blocking most
	// first (filled in by Tally).
	Causes []Cause  `json:"causes,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	// Tainted lists the checks that overran their timeout and were still
	// running when the next check started: what they did late may have
	// disturbed the checks after them (see Notes).
	Tainted []string      `json:"tainted,omitempty"`
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

// SandboxNote starts the note of a report whose submission was built and
// run in the batch's sandbox (a container of its own).
const SandboxNote = "graded in the sandbox: "

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
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Status    Status   `json:"status"`
	Points    int      `json:"points"`
	MaxPoints int      `json:"maxPoints"`
	Skills    []string `json:"skills"`
	Message   string   `json:"message"`
	Hint      string   `json:"hint"`
	// BlockedBy, with status blocked, is the id of the check that grades
	// the cause.
	BlockedBy string `json:"blockedBy,omitempty"`
	// NotRun is true when the check never ran: the project did not build
	// or start, the service died earlier, or the grader was interrupted.
	// Its status is error and Message says why.
	NotRun     bool           `json:"notRun,omitempty"`
	DurationMs int64          `json:"durationMs"`
	Evidence   []verdict.Step `json:"evidence,omitempty"`
}

// Cause is a root cause of blocked checks: the check that grades it, how
// that check ended in this run, and the checks it blocked.
type Cause struct {
	// Check is the id of the check that grades the cause.
	Check string `json:"check"`
	// Title, Status and Message are that check's, when it ran in this run;
	// empty when it did not (left out by --check, or before the stage).
	Title   string `json:"title,omitempty"`
	Status  Status `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Reason is what the first blocked check could not get, in its words
	// (e.g. "registering a user failed: POST /register answered 500").
	Reason string `json:"reason"`
	// Blocked are the ids of the checks it blocked, in report order.
	Blocked []string `json:"blocked"`
	Count   int      `json:"count"`
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

// Tally fills in the stage, overall and per-skill scores and the root
// causes from the check results. Skipped checks count in neither score nor
// maxScore; failed, errored and blocked checks score 0, count in maxScore
// and make the report not passed.
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
	rootBlockers(r.Stages)
	r.Causes = causes(r.Stages)
}

// rootBlockers points every blocked check at the root of its cause: a check
// blocked by one that is itself blocked (persistence.sort by rest.create,
// blocked in turn by auth.register-login) names the last check of the
// chain, so one cause is reported once, where it is graded.
func rootBlockers(stages []StageResult) {
	blockedBy := map[string]string{}
	for _, st := range stages {
		for _, c := range st.Checks {
			if c.Status == StatusBlocked {
				blockedBy[c.ID] = c.BlockedBy
			}
		}
	}
	for i := range stages {
		for j := range stages[i].Checks {
			c := &stages[i].Checks[j]
			if c.Status != StatusBlocked {
				continue
			}
			seen := map[string]bool{c.ID: true}
			for {
				next, ok := blockedBy[c.BlockedBy]
				if !ok || seen[c.BlockedBy] {
					break
				}
				seen[c.BlockedBy] = true
				c.BlockedBy = next
			}
		}
	}
}

// causes groups the blocked checks by the check that grades their cause,
// the cause blocking most first (ties: in report order of its first
// blocked check).
func causes(stages []StageResult) []Cause {
	byID := map[string]CheckResult{}
	var out []Cause
	at := map[string]int{}
	for _, st := range stages {
		for _, c := range st.Checks {
			byID[c.ID] = c
		}
	}
	for _, st := range stages {
		for _, c := range st.Checks {
			if c.Status != StatusBlocked {
				continue
			}
			i, ok := at[c.BlockedBy]
			if !ok {
				i = len(out)
				at[c.BlockedBy] = i
				cause := Cause{Check: c.BlockedBy, Reason: c.Message}
				if by, ran := byID[c.BlockedBy]; ran {
					cause.Title, cause.Status, cause.Message = by.Title, by.Status, by.Message
				}
				out = append(out, cause)
			}
			out[i].Blocked = append(out[i].Blocked, c.ID)
			out[i].Count++
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// Apply puts what a run of the checks produced into the report and tallies it.
func (r *Report) Apply(res RunResult) {
	r.Stages = res.Stages
	r.Diagnoses = append(r.Diagnoses, res.Diagnoses...)
	if res.Problem != nil {
		r.Problem = res.Problem
	}
	r.Notes = append(r.Notes, res.Notes...)
	r.Tainted = append(r.Tainted, res.Tainted...)
	r.Tally()
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
