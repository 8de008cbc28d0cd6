package report

import (
	"github.com/backend-grader/grader/internal/grader"
)

// GitHub Classroom autograding result, version 1.
//
// Where the shape comes from: the runner actions GitHub Classroom puts in
// its workflows (education/autograding-command-grader and its io/python
// siblings, v1) build their step output in generateResult (src/main.js):
//
//	{version: 1, status, max_score, tests: [{name, status, score, message,
//	 test_code, filename, line_no, duration}]}
//
// and set it base64-encoded as the step output "result". The reporter,
// education/autograding-grading-reporter (src/main.js), reads each runner's
// result from the env variable <RUNNER-ID>_RESULTS, base64-decodes it, fails
// the job when a status is "fail" or "error", and (notify-classroom.js) sums
// tests[].score against the top-level max_score for the grade. duration is
// in milliseconds. We also give each test its max_score (the reporter
// ignores it). A workflow writes this JSON to a file and sets the step
// output to `base64 -w0 FILE`.
//
// Skipped checks count in neither score nor max_score (DESIGN.md §2.3) and
// the reporter knows no "skip" status, so they are left out of tests.
type classroomResult struct {
	Version  int             `json:"version"`
	Status   string          `json:"status"`
	MaxScore int             `json:"max_score"`
	Tests    []classroomTest `json:"tests"`
}

type classroomTest struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Score    int    `json:"score"`
	MaxScore int    `json:"max_score"`
	Message  string `json:"message"`
	TestCode string `json:"test_code"`
	Filename string `json:"filename"`
	LineNo   int    `json:"line_no"`
	Duration int64  `json:"duration"`
}

func renderClassroom(r *grader.Report, _ Options) ([]byte, error) {
	res := classroomResult{Version: 1, Status: classroomStatus(r), MaxScore: r.MaxScore, Tests: []classroomTest{}}
	if r.Problem != nil {
		// The learner's project is at fault: a test of its own, worth nothing,
		// so the cause is the first thing the reporter prints.
		res.Tests = append(res.Tests, classroomTest{
			Name: "project: " + problemTitle(r.Problem), Status: "fail",
			Message: problemText(r.Problem), TestCode: rerunCommand(r, ""),
		})
	}
	for _, st := range r.Stages {
		for _, c := range st.Checks {
			if c.Status == grader.StatusSkip {
				continue
			}
			status := string(c.Status)
			if c.Status == grader.StatusBlocked {
				// The reporter knows pass, fail and error; a blocked check
				// scores 0 because another check failed: fail, naming it.
				status = "fail"
			}
			t := classroomTest{
				Name: checkName(c), Status: status, Score: c.Points, MaxScore: c.MaxPoints,
				TestCode: rerunCommand(r, c.ID), Duration: c.DurationMs,
			}
			if c.Status != grader.StatusPass {
				t.Message = failureBody(c, cutShort)
			}
			res.Tests = append(res.Tests, t)
		}
	}
	return marshalJSON(res)
}

// classroomStatus is the run's status for the reporter: pass, fail (a check
// failed or was blocked, or the project did not build, start or stay up) or
// error (checks could not be judged).
func classroomStatus(r *grader.Report) string {
	if r.Passed {
		return "pass"
	}
	if t := countChecks(r); r.Problem != nil || t.fail > 0 || t.blocked > 0 {
		return "fail"
	}
	return "error"
}
